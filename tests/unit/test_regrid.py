"""Regridding: linear reproduction, conservation, outside points, cache, ESMF files."""

from __future__ import annotations

from pathlib import Path

import netCDF4
import numpy as np
import pyproj
import pytest

from gensemble.data.grid import Grid
from gensemble.data.regrid import (
    PointSource,
    Regridder,
    compute_weights,
    make_regridder,
    read_esmf_weights,
    write_esmf_weights,
)
from gensemble.plugins.domains.nordic import meps_proj4

LCC = meps_proj4()


def lcc_src() -> Grid:
    return Grid.from_crs(LCC, -400000, -500000, 2500, 2500, 300, 260)


def latlon_dst() -> Grid:
    return Grid.from_crs("EPSG:4326", 11.0, 59.5, 0.03, 0.02, 90, 90)


def test_bilinear_reproduces_linear_field_across_projections() -> None:
    src, dst = lcc_src(), latlon_dst()
    xx, yy = np.meshgrid(src.x, src.y)
    field = 2e-5 * xx - 3e-5 * yy + 280.0
    rg = make_regridder(src, dst, "bilinear", cache=False)
    out = rg(field)
    tx, ty = pyproj.Transformer.from_crs(dst.crs, src.crs, always_xy=True).transform(
        *np.meshgrid(dst.x, dst.y)
    )
    expected = 2e-5 * tx - 3e-5 * ty + 280.0
    assert rg.n_outside == 0
    np.testing.assert_allclose(out, expected, atol=1e-5)


def test_curvilinear_source_reproduces_linear_field() -> None:
    src = lcc_src()
    lon, lat = src.lonlat()
    pts = PointSource(lon, lat)
    dst = Grid.from_crs("EPSG:4326", 11.5, 59.0, 0.05, 0.05, 20, 20)
    rg = make_regridder(pts, dst, "bilinear", cache=False)
    xx, yy = np.meshgrid(src.x, src.y)
    out = rg(1e-5 * xx + 2e-5 * yy)
    tx, ty = pyproj.Transformer.from_crs(dst.crs, src.crs, always_xy=True).transform(
        *np.meshgrid(dst.x, dst.y)
    )
    # triangles of a projected grid: linear in projected x/y up to the local projection's
    # curvature over one 2.5 km cell
    np.testing.assert_allclose(out, 1e-5 * tx + 2e-5 * ty, atol=2e-3)


def test_area_average_preserves_constant_and_mean() -> None:
    fine = Grid.from_crs("EPSG:4326", 0.0, 40.0, 0.025, 0.025, 160, 160)
    coarse = Grid.from_crs("EPSG:4326", 0.0875, 40.0875, 0.1, 0.1, 38, 38)
    rg = make_regridder(fine, coarse, "area", cache=False)
    assert rg.n_outside == 0
    np.testing.assert_allclose(rg(np.full(fine.shape, 7.25)), 7.25, rtol=1e-12)
    rng = np.random.default_rng(0)
    f = rng.normal(size=fine.shape)
    out = rg(f)
    # each coarse cell is the mean of the 4x4 fine cells it covers (cos-lat weighted)
    r0, c0 = 2, 2  # coarse cell 0 spans 0.0375..0.1375: fine centres 2..5
    block = f[r0 : r0 + 4, c0 : c0 + 4]
    w = np.cos(np.radians(fine.y[r0 : r0 + 4]))[:, None] * np.ones((4, 4))
    assert out[0, 0] == pytest.approx((block * w).sum() / w.sum(), rel=0.05)


def test_points_outside_source_are_nan_and_counted() -> None:
    src = Grid.from_crs("EPSG:4326", 0.0, 40.0, 0.1, 0.1, 20, 20)
    dst = Grid.from_crs("EPSG:4326", 1.0, 41.0, 0.1, 0.1, 20, 10)  # half outside
    for method in ("bilinear", "nearest", "area"):
        rg = make_regridder(src, dst, method, cache=False)
        out = rg(np.ones(src.shape))
        assert rg.n_outside == int(np.isnan(out).sum()) > 0, method
        assert 0.3 < rg.covered_fraction < 0.7


def test_periodic_global_source_across_greenwich() -> None:
    glob = Grid.from_crs("EPSG:4326", 0.0, 90.0, 3.0, -3.0, 120, 61)
    dst = Grid.from_crs("EPSG:4326", -12.0, 37.5, 0.5, 0.5, 57, 36)
    lon, lat = glob.lonlat()
    field = np.cos(np.radians(lon)) + lat / 90
    out = make_regridder(glob, dst, "bilinear", cache=False)(field)
    dl, dla = dst.lonlat()
    assert not np.isnan(out).any()
    np.testing.assert_allclose(out, np.cos(np.radians(dl)) + dla / 90, atol=3e-3)


def test_weights_cached_on_disk(tmp_path: Path) -> None:
    src, dst = lcc_src(), latlon_dst()
    rg1 = make_regridder(src, dst, "bilinear", cache=tmp_path)
    files = list(tmp_path.glob("*.npz"))
    assert len(files) == 1 and src.key() in files[0].name and dst.key() in files[0].name
    rg2 = make_regridder(src, dst, "bilinear", cache=tmp_path)
    assert (rg1.weights != rg2.weights).nnz == 0
    other = make_regridder(src, dst, "nearest", cache=tmp_path)
    assert len(list(tmp_path.glob("*.npz"))) == 2 and other.method == "nearest"


def test_esmf_round_trip_and_xesmf_style_file(tmp_path: Path) -> None:
    src, dst = lcc_src(), latlon_dst()
    rg = make_regridder(src, dst, "bilinear", cache=False)
    path = tmp_path / "w.nc"
    write_esmf_weights(rg, path)
    back = read_esmf_weights(path)
    f = np.random.default_rng(1).normal(size=src.shape)
    np.testing.assert_array_equal(back(f), rg(f))
    # xESMF writes only S/row/col on dimension n_s: shapes come from the grids
    coo = rg.weights.tocoo()
    bare = tmp_path / "xesmf.nc"
    with netCDF4.Dataset(bare, "w") as nc:
        nc.createDimension("n_s", coo.nnz)
        for name, data in (("S", coo.data), ("row", coo.row + 1), ("col", coo.col + 1)):
            nc.createVariable(name, "f8" if name == "S" else "i4", ("n_s",))[:] = data
    from gensemble.core.errors import UserError

    with pytest.raises(UserError, match="grid shapes"):
        read_esmf_weights(bare)
    np.testing.assert_array_equal(read_esmf_weights(bare, src.shape, dst.shape)(f), rg(f))
    with pytest.raises(UserError, match="exceed"):
        read_esmf_weights(bare, (10, 10), dst.shape)


def test_regridder_shape_checks() -> None:
    from gensemble.core.errors import UserError

    w = compute_weights(lcc_src(), latlon_dst())
    with pytest.raises(UserError):
        Regridder(w, (3, 3), latlon_dst().shape)
    rg = Regridder(w, lcc_src().shape, latlon_dst().shape)
    with pytest.raises(UserError, match="does not match"):
        rg(np.zeros((5, 5)))
    assert rg(np.zeros((2, 3, *lcc_src().shape))).shape == (2, 3, *latlon_dst().shape)

"""Domain geometry against pyproj round trips and the published grid facts."""

from __future__ import annotations

import numpy as np
import pyproj
import pytest

from gensemble.core.registry import get_registry

GEOD = pyproj.Geod(ellps="WGS84")


def domain(name: str, **opts):
    return get_registry().get("domain", name)(opts)


def test_se_france_is_prototype_crop() -> None:
    d = domain("se_france")
    g = d.grid()
    assert g.shape == (256, 256)
    c = g.corners_lonlat()
    assert c["south_west"] == pytest.approx((1.5, 40.5))
    assert c["north_east"] == pytest.approx((7.875, 46.875))
    assert d.native_grid().shape == (717, 1121)
    nat = d.native_grid()
    assert (nat.x[-1], nat.y[-1]) == pytest.approx((16.0, 55.4))
    # 0.025 degree spacing in metres at the centre latitude (geodesic)
    lat_c = g.y[128]
    dx_expected = GEOD.inv(4.7, lat_c, 4.725, lat_c)[2]
    assert g.spacing_m()[0] == pytest.approx(dx_expected, rel=1e-6)
    assert g.spacing_m()[1] == pytest.approx(2778, rel=2e-3)


def test_france_extended_non_square_covers_france_and_corsica() -> None:
    g = domain("france_extended").grid()
    assert g.shape[0] != g.shape[1] and g.shape[0] % 256 and g.shape[1] % 256
    lon0, lon1, lat0, lat1 = g.extent_lonlat()
    for lon, lat in [(-4.5, 48.4), (2.35, 48.85), (8.7, 41.9), (9.5, 42.9), (2.4, 51.0)]:
        assert lon0 <= lon <= lon1 and lat0 <= lat <= lat1, (lon, lat)


def test_nordic_native_grid_matches_meps_facts() -> None:
    d = domain("nordic")
    nat = d.native_grid()
    assert nat.shape == (1069, 949)
    lon, lat = nat.lonlat()
    assert (lon[0, 0], lat[0, 0]) == pytest.approx((0.2783, 50.3196), abs=1e-4)
    # pyproj round trip of every corner
    tr = pyproj.Transformer.from_crs("EPSG:4326", nat.crs, always_xy=True)
    for i, j in [(0, 0), (0, -1), (-1, 0), (-1, -1)]:
        x, y = tr.transform(lon[i, j], lat[i, j])
        assert (x, y) == pytest.approx((nat.x[j], nat.y[i]), abs=1e-3)
    assert nat.x[-1] == pytest.approx(1309916) and nat.y[-1] == pytest.approx(1337482)
    # 2.5 km in projected metres; geodesic spacing differs only by the map scale factor
    dx, dy = d.grid().spacing_m()
    assert dx == pytest.approx(2500, rel=0.01) and dy == pytest.approx(2500, rel=0.01)
    old = domain("nordic", projection="meps_pre2022").native_grid()
    assert "63" in old.crs.to_wkt() and old.crs != nat.crs


def test_nordic_crop_is_configurable_and_inside_grid() -> None:
    d = domain("nordic", center_lon=10.75, center_lat=59.9, ny=128, nx=200)
    g = d.grid()
    assert g.shape == (128, 200)
    lon, lat = g.lonlat()
    assert lon[64, 100] == pytest.approx(10.75, abs=0.1) and lat[64, 100] == pytest.approx(
        59.9, abs=0.1
    )
    edge = domain("nordic", center_lon=0.0, center_lat=50.0).grid()  # clipped into the grid
    assert edge.x[0] == pytest.approx(-1060084)


@pytest.mark.parametrize("name", ["se_france", "france_extended", "nordic"])
def test_every_domain_reports_extent_and_area(name: str) -> None:
    d = domain(name)
    info = d.describe()
    g = d.grid()
    dx, dy = g.spacing_m()
    approx_area = g.nx * g.ny * dx * dy / 1e6
    assert info["area_km2"] == pytest.approx(approx_area, rel=0.03)
    lon0, lon1, lat0, lat1 = info["extent_lonlat"]
    assert lon0 < lon1 and lat0 < lat1
    assert [v.name for v in d.variables()] == ["rr", "u10", "v10", "t2m"]


def test_variable_selection_validated() -> None:
    from pydantic import ValidationError

    assert domain("nordic", variables=["u10", "v10", "t2m"]).variable_names() == [
        "u10",
        "v10",
        "t2m",
    ]
    with pytest.raises(ValidationError):
        domain("nordic", variables=["snow"])
    with pytest.raises(ValidationError):
        domain("se_france", colour="red")


def test_grid_lonlat_of_geographic_grid_is_identity() -> None:
    g = domain("se_france").grid()
    lon, lat = g.lonlat()
    assert np.allclose(lon[0], g.x) and np.allclose(lat[:, 0], g.y)

"""Synthetic ensembles are physically plausible and organised as dates x members."""

from __future__ import annotations

import numpy as np
import pytest

from gensemble.core.registry import get_registry
from gensemble.data.synth import FieldMaker, synth_ensemble


@pytest.fixture(scope="module")
def ens():
    d = get_registry().get("domain", "se_france")({"ny": 128, "nx": 128})
    return d, synth_ensemble(d, 4, 6, seed=2, show_progress=False)


def test_wind_is_divergence_free(ens) -> None:
    d, ds = ens
    fm = FieldMaker(d.grid())
    u, v = ds["u10"].values, ds["v10"].values
    div = np.fft.irfft2(1j * fm.kx * np.fft.rfft2(u) + 1j * fm.ky * np.fft.rfft2(v), s=u.shape[-2:])
    vort = np.fft.irfft2(
        1j * fm.kx * np.fft.rfft2(v) - 1j * fm.ky * np.fft.rfft2(u), s=u.shape[-2:]
    )
    assert np.abs(div).max() < 1e-6 * np.abs(vort).max() + 1e-12


def test_t2m_follows_orography(ens) -> None:
    _, ds = ens
    t = ds["t2m"].values.mean(axis=(0, 1))
    h = ds["altitude"].values
    slope = np.polyfit(h.ravel(), t.ravel(), 1)[0]
    assert -0.008 < slope < -0.005  # close to the 6.5 K/km lapse rate
    assert ds["t2m"].values.min() > 230 and ds["t2m"].values.max() < 320


def test_rain_is_intermittent_with_heavy_tail(ens) -> None:
    _, ds = ens
    rr = ds["rr"].values
    assert (rr >= 0).all()
    wet = rr > 0.1
    assert 0.03 < wet.mean() < 0.5
    q50, q999 = np.quantile(rr[wet], [0.5, 0.999])
    assert q999 > 10 * q50


def test_members_share_state_more_than_dates(ens) -> None:
    _, ds = ens
    u = ds["u10"].values
    same_date = np.corrcoef(u[0, 0].ravel(), u[0, 1].ravel())[0, 1]
    other_date = np.corrcoef(u[0, 0].ravel(), u[1, 0].ravel())[0, 1]
    assert same_date > 0.5 and abs(other_date) < 0.5


def test_power_law_spectrum(ens) -> None:
    _, ds = ens
    t = ds["t2m"].values[0, 0] - ds["t2m"].values[0, 0].mean()
    u = ds["u10"].values[0, 0]
    # 2-D spectral density of u: k^(-8/3) for the shared state (KE ∝ k^(-5/3) integrated),
    # flattened at small scales by the member perturbations: a clean power law in between
    for field, lo, hi in ((u, -3.0, -1.6),):
        p = np.abs(np.fft.fft2(field)) ** 2
        k = np.hypot(*np.meshgrid(np.fft.fftfreq(128), np.fft.fftfreq(128)))
        bins = np.arange(4, 40)
        spec = [p[(k * 128 >= b) & (k * 128 < b + 1)].mean() for b in bins]
        (slope, icpt), res = np.polyfit(np.log(bins + 0.5), np.log(spec), 1, full=True)[:2]
        assert lo < slope < hi, slope
        r2 = 1 - res[0] / np.sum((np.log(spec) - np.mean(np.log(spec))) ** 2)
        assert r2 > 0.95, r2
    assert np.isfinite(t).all()


def test_cli_synth_writes_cf_file(tmp_path) -> None:
    import xarray as xr

    from tests.conftest import run_cli

    out = tmp_path / "s.nc"
    proc = run_cli(
        "data",
        "synth",
        "-d",
        "nordic",
        "-n",
        "6",
        "-m",
        "3",
        "--opt",
        "ny=32",
        "--opt",
        "nx=32",
        "-o",
        out,
    )
    assert proc.returncode == 0, proc.stderr
    ds = xr.open_dataset(out)
    assert ds["u10"].shape == (2, 3, 32, 32)
    assert ds["crs"].attrs["grid_mapping_name"] == "lambert_conformal_conic"
    assert ds["t2m"].attrs["units"] == "K"


def test_streamed_file_is_the_in_memory_ensemble_written(tmp_path) -> None:
    """``data synth`` writes a date at a time (flat memory): the file holds exactly what
    the in-memory ensemble written whole holds - values, attributes, encoding."""
    import xarray as xr

    from gensemble.data.cf import write_netcdf
    from gensemble.data.synth import write_synth_ensemble

    d = get_registry().get("domain", "nordic")({"ny": 24, "nx": 20})
    whole, streamed = tmp_path / "whole.nc", tmp_path / "streamed.nc"
    write_netcdf(synth_ensemble(d, 3, 4, seed=5, show_progress=False), whole)
    write_synth_ensemble(d, 3, 4, streamed, seed=5, show_progress=False)
    a, b = xr.open_dataset(whole), xr.open_dataset(streamed)
    assert set(a.variables) == set(b.variables) and a.attrs == b.attrs
    for name in a.variables:
        x, y = a[name], b[name]
        assert x.dims == y.dims and x.dtype == y.dtype and x.attrs.keys() == y.attrs.keys()
        for key, value in x.attrs.items():  # (grid-mapping attributes may be arrays)
            np.testing.assert_array_equal(value, y.attrs[key], err_msg=f"{name}.{key}")
        np.testing.assert_array_equal(x.values, y.values, err_msg=name)
        for key in ("chunksizes", "zlib", "complevel", "coordinates"):
            assert x.encoding.get(key) == y.encoding.get(key), (name, key)
    assert b["t2m"].encoding["chunksizes"] == (1, 4, 24, 20)  # one chunk per date


def test_a_failed_stream_leaves_no_file(tmp_path, monkeypatch) -> None:
    from gensemble.data import synth
    from gensemble.data.synth import write_synth_ensemble

    d = get_registry().get("domain", "se_france")({"ny": 16, "nx": 16})

    def broken(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        yield from ()
        raise RuntimeError("disk gone")

    monkeypatch.setattr(synth, "_dates", broken)
    with pytest.raises(RuntimeError, match="disk gone"):
        write_synth_ensemble(d, 2, 3, tmp_path / "s.nc", show_progress=False)
    assert list(tmp_path.iterdir()) == []


def test_a_lambert_grid_is_described_by_its_parameters() -> None:
    """PROJ names a Lambert grid built from its parameters "unknown": the description
    (store summary, data inspect) gives its PROJ string instead."""
    crs = get_registry().get("domain", "nordic")({"ny": 8, "nx": 8}).grid().describe()["crs"]
    assert "+proj=lcc" in crs and "unknown" not in crs
    latlon = get_registry().get("domain", "se_france")({"ny": 8, "nx": 8}).grid().describe()
    assert latlon["crs"] == "WGS 84"

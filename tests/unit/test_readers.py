"""Readers on the real shared files and the prototype format."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
import xarray as xr

from gensemble.core.errors import UserError
from gensemble.data.readers import open_source
from gensemble.data.regrid import PointSource
from gensemble.data.wind import grid_x_axis_angle
from gensemble.plugins.domains.nordic import Nordic
from tests.conftest import assert_user_error, run_cli


def test_meps_netcdf_variables_and_wind_rotation(shared_data: Path) -> None:

    path = shared_data / "meps_pred_20230615T06Z_small.nc"
    src = open_source(path)
    assert isinstance(src.grid, PointSource)  # empty projection variable: lat/lon used
    assert {"u10", "v10", "t2m", "rr", "orog"} <= set(src.variables)
    assert src.n_samples == 12
    batches = list(src.batches(["u10", "v10", "t2m"]))
    assert len(batches) == 12 and batches[0].fields.shape == (1, 3, 10, 10)
    assert batches[3].lead_time_h[0] == pytest.approx(18.0)  # 6-hourly steps from 06 UTC
    ds = xr.open_dataset(path)
    raw_u = ds["x_wind_10m"].values[:, 0]
    raw_v = ds["y_wind_10m"].values[:, 0]
    u = np.stack([b.fields[0, 0] for b in batches])
    v = np.stack([b.fields[0, 1] for b in batches])
    # rotation keeps speed, and turns by the grid convergence of the MEPS Lambert grid
    np.testing.assert_allclose(np.hypot(u, v), np.hypot(raw_u, raw_v), rtol=1e-5)
    np.testing.assert_allclose(np.hypot(u, v), ds["wind_speed_10m"].values, atol=0.05)
    turn = np.degrees(np.arctan2(v, u) - np.arctan2(raw_v, raw_u))
    turn = (turn + 180) % 360 - 180
    lon = ds["longitude"].values
    # LCC: west of lon_0 the grid x axis is turned anticlockwise from east by n (lon_0 - lon)
    expected = (15.0 - lon) * np.sin(np.radians(63.3))
    mask = np.hypot(raw_u, raw_v) > 1.0
    assert np.abs(turn - expected[None])[mask].max() < 0.5
    np.testing.assert_allclose(batches[0].fields[0, 2], ds["air_temperature_2m"].values[0, 0])


def test_convergence_angle_matches_pyproj_on_lambert_grid() -> None:
    g = Nordic().grid()
    lon, lat = g.lonlat()
    ang = np.degrees(grid_x_axis_angle(lon, lat))
    import pyproj

    factors = pyproj.Proj(g.crs).get_factors(lon[::64, ::64], lat[::64, ::64])
    np.testing.assert_allclose(ang[::64, ::64], -factors.meridian_convergence, atol=0.05)


def test_era5_netcdf_and_grib_agree(shared_data: Path) -> None:
    nc = open_source(shared_data / "era5-levels-members.nc")
    gb = open_source(shared_data / "era5-levels-members.grib")
    assert nc.variables == gb.variables == ["z850", "z500", "t850", "t500"]
    assert nc.n_samples == gb.n_samples == 40
    a = next(nc.batches(["t850", "z500"]))
    b = next(gb.batches(["t850", "z500"]))
    assert a.fields.shape == (10, 2, 61, 120)
    np.testing.assert_allclose(a.fields, b.fields, rtol=1e-5)
    assert list(a.member) == list(range(10))
    assert 200 < a.fields[:, 0].mean() < 300


def test_corrupted_grib_is_one_line_error(shared_data: Path, tmp_path: Path) -> None:
    bad = shared_data / "era5-levels-corrupted.grib"
    with pytest.raises(UserError, match="corrupted GRIB"):
        open_source(bad)
    proc = run_cli("data", "prepare", bad, "--domain", "se_france", "--out", tmp_path / "s.zarr")
    assert_user_error(proc, str(bad), "corrupted GRIB")
    assert not (tmp_path / "s.zarr").exists()


def test_unknown_file_and_missing_variables(tmp_path: Path, shared_data: Path) -> None:
    junk = tmp_path / "junk.bin"
    junk.write_bytes(b"hello")
    assert_user_error(
        run_cli("data", "prepare", junk, "-d", "se_france", "-o", tmp_path / "o"),
        "cannot tell the file format",
    )
    proc = run_cli(
        "data",
        "prepare",
        shared_data / "era5-levels-members.nc",
        "-d",
        "se_france",
        "-o",
        tmp_path / "o.zarr",
    )
    assert_user_error(proc, "lacks rr, u10, v10, t2m")


def _write_prototype(folder: Path, n: int = 6) -> np.ndarray:
    rng = np.random.default_rng(3)
    data = rng.normal(size=(n, 5, 16, 24)).astype(np.float32)
    data[:, 0] = np.abs(data[:, 0])
    data[:, 3] += 285.0
    with (folder / "index.csv").open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["Name", "Importance", "PosX", "PosY", "Date", "LeadTime", "Member"])
        for i in range(n):
            np.save(folder / f"_sample{i}.npy", data[i])
            w.writerow([f"_sample{i}.npy", 1, 540, 120, "2021-06-15 21:00:00", 3 + i, i % 4])
    return data


def test_prototype_format_to_store(tmp_path: Path) -> None:
    data = _write_prototype(tmp_path)
    src = open_source(tmp_path / "index.csv")
    assert src.variables == ["rr", "u10", "v10", "t2m", "orog"] and src.n_samples == 6
    store = tmp_path / "p.zarr"
    proc = run_cli(
        "data",
        "prepare",
        tmp_path / "index.csv",
        "-d",
        "se_france",
        "--opt",
        "ny=16",
        "--opt",
        "nx=24",
        "-o",
        store,
    )
    assert proc.returncode == 0, proc.stderr
    from gensemble.data.store import Store

    st = Store(store)
    np.testing.assert_array_equal(st.read(slice(None)), data[:, :4])
    assert list(st.lead_times()) == [3, 4, 5, 6, 7, 8]
    assert str(st.times()[0]) == "2021-06-16T00:00:00"
    # wrong grid size is refused clearly
    proc = run_cli(
        "data", "prepare", tmp_path / "index.csv", "-d", "se_france", "-o", tmp_path / "q.zarr"
    )
    assert_user_error(proc, "not on the se_france grid")


def test_prototype_refuses_pickles(tmp_path: Path) -> None:
    _write_prototype(tmp_path, 2)
    np.save(tmp_path / "_sample1.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    src = open_source(tmp_path)
    with pytest.raises(UserError, match="not a plain numeric"):
        list(src.batches(["rr"]))


def test_regrid_keeps_reference_and_lead_times(shared_data: Path, tmp_path: Path) -> None:
    """The MEPS run of 2023-06-15 06 UTC: 12 valid times, one reference time, leads 0-66 h."""
    src = shared_data / "meps_pred_20230615T06Z_small.nc"
    out = tmp_path / "meps.nc"
    opts = [
        "--opt",
        "center_lon=1.95",
        "--opt",
        "center_lat=52.6",
        "--opt",
        "ny=8",
        "--opt",
        "nx=8",
    ]
    proc = run_cli("data", "regrid", src, "--domain", "nordic", "--out", out, *opts)
    assert proc.returncode == 0, proc.stderr
    with xr.open_dataset(out) as ds, xr.open_dataset(src) as raw:
        ref = np.datetime64("2023-06-15T06:00", "ns")
        assert (ds["forecast_reference_time"].values == ref).all()
        np.testing.assert_array_equal(ds["time"].values, raw["time"].values)
        lead = (raw["time"].values - ref) / np.timedelta64(1, "h")
        np.testing.assert_allclose(ds["leadtime"].values, lead)
        assert ds["leadtime"].attrs["standard_name"] == "forecast_period"


def test_single_message_grib_has_its_time(shared_data: Path, tmp_path: Path) -> None:
    """One GRIB message has scalar time/step/valid_time coordinates, not a time dimension."""
    import eccodes

    one = tmp_path / "one.grib"
    with (shared_data / "era5-levels-members.grib").open("rb") as fh, one.open("wb") as out:
        gid = eccodes.codes_grib_new_from_file(fh)
        eccodes.codes_write(gid, out)
        eccodes.codes_release(gid)
    batch = next(open_source(one).batches(open_source(one).variables))
    assert batch.time[0] == np.datetime64("2017-01-01T00:00", "s")
    assert batch.lead_time_h[0] == 0.0
    out = tmp_path / "one.nc"
    proc = run_cli("data", "regrid", one, "--domain", "nordic", "--out", out)
    assert proc.returncode == 0, proc.stderr
    with xr.open_dataset(out) as ds:
        assert not np.isnat(ds["time"].values).any()
        assert ds["forecast_reference_time"].values[0] == np.datetime64("2017-01-01T00:00", "ns")


def _time_chunked_file(path: Path, nt: int, chunk: int) -> Path:
    """A CF-like (time, member, y, x) file chunked ``chunk`` time steps at a time."""
    import netCDF4

    rng = np.random.default_rng(0)
    with netCDF4.Dataset(path, "w") as ds:
        for name, n in (("time", nt), ("member", 2), ("latitude", 24), ("longitude", 24)):
            ds.createDimension(name, n)
        t = ds.createVariable("time", "f8", ("time",))
        t.units, t[:] = "hours since 2021-01-01", np.arange(nt)
        for name, start in (("latitude", 43.0), ("longitude", 5.0)):
            v = ds.createVariable(name, "f8", (name,))
            v[:] = start + np.arange(24) * 0.025
        v = ds.createVariable("t2m", "f4", ("time", "member", "latitude", "longitude"),
                              zlib=True, chunksizes=(chunk, 2, 24, 24))  # fmt: skip
        v.units = "K"
        v[:] = 280 + rng.normal(size=(nt, 2, 24, 24))
    return path


def test_time_chunked_files_are_read_in_whole_chunks(tmp_path: Path) -> None:
    """A chunk spanning many time steps is decompressed once, not once per step: the
    reader takes blocks of whole chunks, and gives the same samples as step-by-step."""
    import time

    from gensemble.data.readers.xarray_fields import time_block

    path = _time_chunked_file(tmp_path / "c.nc", nt=240, chunk=120)
    src = open_source(path)
    with xr.open_dataset(path) as ds:
        assert time_block([ds["t2m"]], "time", 240) % 120 == 0
        t0 = time.perf_counter()
        naive = [np.asarray(ds["t2m"].isel(time=t).values) for t in range(240)]
        t_naive = time.perf_counter() - t0
    t0 = time.perf_counter()
    batches = list(src.batches(["t2m"]))
    t_block = time.perf_counter() - t0
    assert len(batches) == 240
    for t in (0, 119, 120, 239):
        np.testing.assert_array_equal(batches[t].fields[:, 0], naive[t])
    assert t_naive > 3 * t_block, (t_naive, t_block)


def test_written_fields_are_chunked_one_time_step_at_a_time(tmp_path: Path) -> None:
    import netCDF4

    from gensemble.data.cf import write_netcdf

    ds = xr.Dataset({"t2m": (("time", "member", "y", "x"), np.zeros((30, 3, 8, 10), "f4"))})
    write_netcdf(ds, tmp_path / "w.nc")
    with netCDF4.Dataset(tmp_path / "w.nc") as nc:
        assert nc["t2m"].chunking() == [1, 3, 8, 10]

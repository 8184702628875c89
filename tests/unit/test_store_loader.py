"""Store preparation (statistics, quality report), loaders, domain coverage of real files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
import xarray as xr

from gensemble.core.errors import UserError
from gensemble.core.registry import get_registry
from gensemble.data.cf import write_netcdf
from gensemble.data.loader import StoreDataset, ThreadedLoader, split_indices
from gensemble.data.prepare import prepare_store
from gensemble.data.store import Store
from gensemble.data.synth import synth_ensemble
from gensemble.training.batch_sampler import GlobalBatchSampler
from tests.conftest import assert_user_error, run_cli


def dom(name: str, **opts):
    return get_registry().get("domain", name)(opts)


@pytest.fixture(scope="module")
def small_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("store")
    d = dom("se_france", ny=32, nx=48)
    write_netcdf(synth_ensemble(d, 6, 4, seed=1, show_progress=False), folder / "raw.nc")
    prepare_store(d, [folder / "raw.nc"], folder / "s.zarr")
    return folder / "s.zarr"


def test_statistics_match_numpy(small_store: Path) -> None:
    st = Store(small_store)
    data = st.read(slice(None)).astype(np.float64)
    data[:, 0] = np.log1p(data[:, 0])  # rr is log1p-transformed
    g, p = st.stats("global"), st.stats("pixel")
    np.testing.assert_allclose(g["mean"], data.mean(axis=(0, 2, 3)), rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(g["std"], data.std(axis=(0, 2, 3)), rtol=1e-8)
    np.testing.assert_allclose(p["std"], data.std(axis=0), rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(p["max"], data.max(axis=0), rtol=1e-6)
    assert st.n_samples == 24 and st.shape == (4, 32, 48)
    assert sorted(set(st.members())) == [0, 1, 2, 3]
    assert "orog" in st.static()


def test_store_opens_with_xarray(small_store: Path) -> None:
    ds = xr.open_zarr(small_store, consolidated=False)
    assert ds["fields"].dims == ("sample", "variable", "y", "x")
    assert np.issubdtype(ds["time"].dtype, np.datetime64)


def test_loader_normalises_and_shards(small_store: Path) -> None:
    ds = StoreDataset(small_store)
    in_order = [list(range(i, i + 8)) for i in range(0, 24, 8)]
    x = torch.cat(list(ThreadedLoader(ds, in_order, 2)))
    assert x.shape == (24, 4, 32, 48)
    assert x.mean(dim=(0, 2, 3)).abs().max() < 1e-4  # global standardisation
    assert torch.allclose(x.std(dim=(0, 2, 3), unbiased=False), torch.ones(4), atol=1e-3)
    assert torch.equal(torch.cat([ds.__getitems__(b) for b in in_order]), x)  # no threads
    seen = []
    for rank in range(2):  # one epoch of 6 global batches of 4, split over 2 ranks
        sampler = GlobalBatchSampler(24, 4, rank, 2, seed=5)
        seen.append({i for _, b in zip(range(6), sampler, strict=False) for i in b})
    assert not (seen[0] & seen[1]) and len(seen[0] | seen[1]) == 24
    back = ds.normalizer.inverse(x[:2])
    np.testing.assert_allclose(
        back.numpy(), Store(small_store).read(slice(0, 2)), rtol=1e-4, atol=1e-3
    )


def test_split_is_deterministic() -> None:
    a = split_indices(100, 0.1, seed=3)
    b = split_indices(100, 0.1, seed=3)
    assert np.array_equal(a[0], b[0]) and len(a[1]) == 10 and not set(a[0]) & set(a[1])


def test_nan_data_reported_and_refused_unless_masked(tmp_path: Path) -> None:
    d = dom("se_france", ny=16, nx=16)
    ds = synth_ensemble(d, 2, 2, show_progress=False)
    ds["t2m"][1, 0, 3, 5] = np.nan
    ds["u10"][0, 1, 0, 0] = 400.0
    write_netcdf(ds, tmp_path / "raw.nc")
    proc = run_cli(
        "data",
        "prepare",
        tmp_path / "raw.nc",
        "-d",
        "se_france",
        "--opt",
        "ny=16",
        "--opt",
        "nx=16",
        "-o",
        tmp_path / "s.zarr",
    )
    assert proc.returncode == 0, proc.stderr
    assert "NaN t2m: 1" in proc.stderr and "out of range u10: 1" in proc.stderr
    assert "t2m NaN at sample 2, y=3, x=5" in proc.stderr
    q = Store(tmp_path / "s.zarr").quality
    assert q["nan_count"] == {"t2m": 1} and q["out_of_range"] == {"u10": 1}
    with pytest.raises(UserError, match="allow_masked"):
        StoreDataset(tmp_path / "s.zarr")
    x = StoreDataset(tmp_path / "s.zarr", allow_masked=True)[2]
    assert torch.isfinite(x).all() and x[3, 3, 5] == 0


def test_incomplete_or_foreign_store_refused(tmp_path: Path, small_store: Path) -> None:
    import shutil

    import zarr

    broken = tmp_path / "b.zarr"
    shutil.copytree(small_store, broken)
    zarr.open_group(str(broken), mode="r+").attrs["complete"] = False
    assert_user_error(run_cli("data", "inspect", broken), "incomplete")
    assert_user_error(run_cli("data", "inspect", tmp_path / "none.zarr"), "not found")


def test_inspect_prints_summary(small_store: Path) -> None:
    proc = run_cli("data", "inspect", small_store)
    assert proc.returncode == 0, proc.stderr
    for word in ("se_france", "rr", "t2m", "NaN", "mm/h"):
        assert word in proc.stdout


@pytest.mark.parametrize("name", ["se_france", "france_extended", "nordic"])
def test_domains_regrid_real_era5(shared_data: Path, tmp_path: Path, name: str) -> None:
    out = tmp_path / "era5.nc"
    opts = ["--opt", "ny=64", "--opt", "nx=80"]
    proc = run_cli(
        "data", "regrid", shared_data / "era5-levels-members.grib", "-d", name, *opts, "-o", out
    )
    assert proc.returncode == 0, proc.stderr
    ds = xr.open_dataset(out)
    assert ds["t850"].shape == (4, 10, 64, 80) and not np.isnan(ds["t850"].values).any()
    assert 230 < float(ds["t850"].mean()) < 290
    assert "crs" in ds and ds["t850"].attrs["grid_mapping"] == "crs"


def test_meps_file_coverage_reported(shared_data: Path, tmp_path: Path) -> None:
    meps = shared_data / "meps_pred_20230615T06Z_small.nc"
    for name in ("se_france", "france_extended", "nordic"):
        proc = run_cli("data", "regrid", meps, "-d", name, "-o", tmp_path / "m.nc")
        assert_user_error(proc, "does not cover domain", name)
    # a Nordic crop placed over the file's North Sea points covers it partly
    proc = run_cli(
        "data",
        "regrid",
        meps,
        "-d",
        "nordic",
        "--opt",
        "center_lon=1.95",
        "--opt",
        "center_lat=52.62",
        "--opt",
        "ny=16",
        "--opt",
        "nx=16",
        "-o",
        tmp_path / "m.nc",
    )
    assert proc.returncode == 0, proc.stderr
    ds = xr.open_dataset(tmp_path / "m.nc")
    assert np.isfinite(ds["t2m"].values).sum() > 0 and np.isnan(ds["t2m"].values).sum() > 0

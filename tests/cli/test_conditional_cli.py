"""Conditional StyleGAN forecasts through the CLI: a system store with its truth, a
conditional model trained on it (half its targets the truth), enrichment by conditional
sampling (the seeds kept with --hybrid), and its refusals in one line."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import xarray as xr
import yaml

from tests.conftest import ROOT, assert_user_error, run_cli, synth_store

CKPT = ROOT / "tests" / "fixtures" / "checkpoints" / "stylegan2-format2.safetensors"
TINY_COND = {
    "name": "stylegan2_cond",
    "options": {"z_dim": 8, "w_dim": 8, "mapping_layers": 2, "channel_base": 64,
                "channel_max": 8, "condition_channels": 8, "truth_fraction": 0.5},
}  # fmt: skip


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(the system's folder, the conditional checkpoint)."""
    d = tmp_path_factory.mktemp("cond")
    proc = run_cli("data", "synth", "--system", "mesoscale", "-n", "40", "--members", "4",
                   "--size", "16", "--out", d / "sys")  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    cfg = {
        "domain": {"name": "se_france", "options": {"ny": 16, "nx": 16}},
        "architecture": TINY_COND,
        "training": {"steps": 3, "batch_size": 4, "log_every": 1},
        "data": {"store": str(d / "sys" / "members.zarr")},
        "tracking": {"uri": f"sqlite:///{d}/mlflow.db", "register_model": False},
        "output_dir": str(d / "runs"),
    }
    (d / "exp.yaml").write_text(yaml.safe_dump(cfg))
    proc = run_cli("train", d / "exp.yaml")
    assert proc.returncode == 0, proc.stderr
    ckpt = next((d / "runs").glob("*/checkpoints/last.safetensors"))
    return d / "sys", ckpt


def test_a_conditional_generator_transfers_to_nordic_with_lineage(
    trained: tuple[Path, Path], tmp_path: Path
) -> None:
    """SE France (4 variables, 16x16) -> Nordic (3 variables, 24x40): the condition's
    per-variable readings are mapped like the fields', and lineage records the parent."""
    from gensemble.inference.checkpoint_io import read_metadata

    folder, ckpt = trained
    src_run = ckpt.parent.parent.name
    _, store = synth_store(tmp_path, "no", "nordic",
                           ["ny=24", "nx=40", "variables=[u10,v10,t2m]"], 32)  # fmt: skip
    uri = f"sqlite:///{folder.parent}/mlflow.db"
    cfg = {
        "domain": {"name": "nordic",
                   "options": {"ny": 24, "nx": 40, "variables": ["u10", "v10", "t2m"]}},
        # the Nordic store has no truth: the transferred model emulates its members
        "architecture": {**TINY_COND, "options": {**TINY_COND["options"], "truth_fraction": 0}},
        "training": {"steps": 2, "batch_size": 4},
        "data": {"store": str(store)},
        "tracking": {"uri": uri, "register_model": False},
        "output_dir": str(tmp_path / "runs"),
    }  # fmt: skip
    (tmp_path / "no.yaml").write_text(yaml.safe_dump(cfg))
    proc = run_cli("transfer", tmp_path / "no.yaml", "--from", src_run)
    assert proc.returncode == 0, proc.stderr
    assert "dropped rr" in proc.stderr and "mapped by variable" in proc.stderr
    moved = next((tmp_path / "runs").glob("*/checkpoints/last.safetensors"))
    meta = read_metadata(moved)
    assert meta.architecture.name == "stylegan2_cond" and meta.shape == [3, 24, 40]
    assert meta.init["variables"]["dropped"] == ["rr"]
    proc = run_cli("lineage", moved.parent.parent.name, "--uri", uri)
    assert proc.returncode == 0, proc.stderr
    assert src_run in proc.stdout and "se_france" in proc.stdout and "nordic" in proc.stdout


def test_the_store_says_which_forecasts_have_a_truth(trained: tuple[Path, Path]) -> None:
    proc = run_cli("data", "inspect", trained[0] / "members.zarr")
    assert proc.returncode == 0, proc.stderr
    assert "verifying truth: 10 fields; 10 of 10 forecasts have a truth field" in proc.stdout


def test_conditional_enrichment_from_a_store(trained: tuple[Path, Path], tmp_path: Path) -> None:
    folder, ckpt = trained
    store = folder / "members.zarr"
    base = ("enrich", ckpt, "--method", "conditional", "--data", store,
            "--date", "2021-01-03", "--lead", "24", "-n", "7")  # fmt: skip
    proc = run_cli(*base, "--out", tmp_path / "all.nc")
    assert proc.returncode == 0, proc.stderr
    assert "drawn from 2 seed members" in proc.stdout
    with xr.open_dataset(tmp_path / "all.nc") as ds:
        assert ds["t2m"].shape == (1, 7, 16, 16) and ds["generated"].values.all()
        assert (ds["source_member"].values == -1).all() and ds.attrs["method"] == "conditional"
        seeds = json.loads(ds.attrs["seed_members"])[0]
        assert ds.attrs["truth_fraction"] == 0.5 and len(seeds) == 2
    proc = run_cli(*base, "--out", tmp_path / "hy.nc", "--hybrid", "--seed", "3")
    assert proc.returncode == 0, proc.stderr
    with xr.open_dataset(tmp_path / "hy.nc") as ds, xr.open_dataset(folder / "members.nc") as raw:
        assert ds["generated"].values.tolist() == [0, 0, 1, 1, 1, 1, 1]
        seeds = json.loads(ds.attrs["seed_members"])[0]
        kept = raw["u10"].sel(time=ds["time"].values[0]).values[seeds]
        np.testing.assert_allclose(ds["u10"].values[0, :2], kept, rtol=1e-6)
        assert ds["source_member"].values[0, :2].tolist() == seeds


def test_conditional_refusals_are_one_line(trained: tuple[Path, Path], tmp_path: Path) -> None:
    folder, ckpt = trained
    where = ("--data", folder / "members.zarr", "--date", "2021-01-03", "--lead", "24")
    proc = run_cli("enrich", CKPT, "--method", "conditional", "--members", folder / "members.nc",
                   "--out", tmp_path / "x.nc", "-n", "4")  # fmt: skip
    assert_user_error(proc, "does not support conditional sampling")
    proc = run_cli("enrich", ckpt, "--method", "conditional", *where, "--seeds", "5",
                   "--out", tmp_path / "x.nc")  # fmt: skip
    assert_user_error(proc, "conditions on 5 seed members; the forecast has 4")
    proc = run_cli("enrich", ckpt, "--method", "sideways", *where, "--out", tmp_path / "x.nc")
    assert_user_error(proc, "unknown enrichment method 'sideways'")
    proc = run_cli("enrich", ckpt, "--method", "conditional", *where, "-n", "2", "--hybrid",
                   "--out", tmp_path / "x.nc")  # fmt: skip
    assert_user_error(proc, "hybrid ensemble of 2 members from 2 seeds")
    assert not (tmp_path / "x.nc").exists()


def test_post_processing_needs_a_truth(trained: tuple[Path, Path], tmp_path: Path) -> None:
    """A store prepared without --truth cannot train a post-processing model."""
    folder, _ = trained
    store = tmp_path / "bare.zarr"
    proc = run_cli("data", "prepare", folder / "members.nc", "--domain", "se_france",
                   "--opt", "ny=16", "--opt", "nx=16", "--out", store)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    arch = {**TINY_COND, "options": {**TINY_COND["options"], "truth_fraction": 1.0}}
    cfg = {
        "domain": {"name": "se_france", "options": {"ny": 16, "nx": 16}},
        "architecture": arch,
        "training": {"steps": 2, "batch_size": 4},
        "data": {"store": str(store)},
        "tracking": {"uri": f"sqlite:///{tmp_path}/mlflow.db", "register_model": False},
        "output_dir": str(tmp_path / "runs"),
    }
    (tmp_path / "exp.yaml").write_text(yaml.safe_dump(cfg))
    assert_user_error(run_cli("train", tmp_path / "exp.yaml"), "truth")


def test_a_conditional_archive_is_verified_and_logged_to_its_run(
    trained: tuple[Path, Path], tmp_path: Path
) -> None:
    """A season of conditional forecasts into an archive, verified against the store's
    truth, its scores logged to the run that trained the generator."""
    from mlflow.tracking import MlflowClient

    folder, ckpt = trained
    archive = tmp_path / "cond.zarr"
    proc = run_cli("enrich", ckpt, "--method", "conditional", "--seeds", "2", "--data",
                   folder / "members.zarr", "--dates", "2021-01-01..2021-01-05", "-n", "6",
                   "--out", archive)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    proc = run_cli("verify", archive, "--data", folder / "members.zarr", "--bootstrap", "20")
    assert proc.returncode == 0, proc.stderr
    assert "5 cases" in proc.stdout and "conditional-6" in proc.stdout
    run = ckpt.parent.parent.name
    assert f"to run {run}" in proc.stdout
    client = MlflowClient(f"sqlite:///{folder.parent}/mlflow.db")
    metrics = client.get_run(run).data.metrics
    assert "verify/conditional-6/t2m/crps" in metrics and "verify/raw-4/rr/brier_q90" in metrics
    assert any(a.path.startswith("verify") for a in client.list_artifacts(run))
    proc = run_cli("verify", archive, "--data", folder / "members.zarr", "--bootstrap", "0",
                   "--uri", f"sqlite:///{tmp_path}/other.db")  # fmt: skip
    assert proc.returncode == 0 and "not logged:" in proc.stdout, proc.stdout

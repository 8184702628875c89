"""stylegan3 through the generic loop from the command line: training on se_france and on
a rectangular nordic crop, EQ-T during evaluation, generation, transfer se_france ->
nordic, enrichment of a forecast, static conditioning on the store's orography."""

from __future__ import annotations

from pathlib import Path

import mlflow
import pytest
import xarray as xr
import yaml

from gensemble.inference.checkpoint_io import read_metadata
from tests.conftest import assert_user_error, run_cli, synth_store

ARCH = {
    "name": "stylegan3",
    "options": {"z_dim": 8, "w_dim": 8, "num_layers": 4, "num_critical": 1, "margin": 2,
                "filter_size": 4, "channel_base": 64, "channel_max": 8, "d_channel_base": 64,
                "d_channel_max": 8, "r1_interval": 2},
}  # fmt: skip


@pytest.fixture(scope="module")
def stores(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("sg3")
    out = {"dir": d}
    for name, domain, opts in (
        ("se", "se_france", ["ny=32", "nx=32"]),
        ("no", "nordic", ["ny=24", "nx=32", "variables=[u10,v10,t2m]"]),
    ):
        out[f"{name}_raw"], out[name] = synth_store(d, name, domain, opts, 24)
    return out


def _config(tmp: Path, name: str, domain: dict, store: Path, arch: dict | None = None) -> Path:
    cfg = {
        "domain": domain,
        "architecture": arch or ARCH,
        "training": {"steps": 3, "batch_size": 4, "log_every": 1, "eval_every": 3,
                     "eval_samples": 8, "checkpoint_every": 100},
        "metrics": ["eq_t", "w1"],
        "data": {"store": str(store)},
        "tracking": {"uri": f"sqlite:///{tmp}/mlflow.db", "register_model": False},
        "output_dir": str(tmp / "runs"),
    }  # fmt: skip
    path = tmp / f"{name}.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


def _run_id(proc) -> str:  # noqa: ANN001
    return [ln for ln in proc.stdout.splitlines() if ln.startswith("run ")][-1].split()[1][:-1]


@pytest.mark.slow
def test_train_generate_transfer_enrich(stores: dict, tmp_path: Path) -> None:
    se = {"name": "se_france", "options": {"ny": 32, "nx": 32}}
    proc = run_cli("train", _config(tmp_path, "se", se, stores["se"]))
    assert proc.returncode == 0, proc.stderr
    run = _run_id(proc)
    metrics = mlflow.MlflowClient(f"sqlite:///{tmp_path}/mlflow.db").get_run(run).data.metrics
    assert metrics["eval/eq_t/mean"] > 30  # alias-free: EQ-T stays high from the start
    ckpt = tmp_path / "runs" / run / "checkpoints" / "last.safetensors"
    assert read_metadata(ckpt).architecture.name == "stylegan3"
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    out = tmp_path / "members.nc"
    proc = run_cli("generate", run, "--uri", uri, "-n", "3", "--out", out)
    assert proc.returncode == 0, proc.stderr
    with xr.open_dataset(out) as ds:
        assert ds["rr"].shape[-2:] == (32, 32)
    # a rectangular nordic crop (same output sampling rate, 32) from the se_france run
    no = {"name": "nordic", "options": {"ny": 24, "nx": 32, "variables": ["u10", "v10", "t2m"]}}
    tgt = _config(tmp_path, "no", no, stores["no"])
    proc = run_cli("transfer", tgt, "--from", run)
    assert proc.returncode == 0, proc.stderr
    assert "dropped rr" in proc.stderr and "re-created D.fc.weight" in proc.stderr
    # StyleGAN forecasts from the stylegan3 generator
    proc = run_cli("enrich", ckpt, "--members", stores["se_raw"], "-n", "6", "--steps", "3",
                   "--out", tmp_path / "enriched.nc", "--date", "0")  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    with xr.open_dataset(tmp_path / "enriched.nc") as ds:
        assert ds.sizes["member"] == 6


def test_static_conditioning_on_the_stores_orography(stores: dict, tmp_path: Path) -> None:
    se = {"name": "se_france", "options": {"ny": 32, "nx": 32}}
    arch = {"name": "stylegan3", "options": {**ARCH["options"], "static_fields": ["orog"]}}
    proc = run_cli("train", _config(tmp_path, "st", se, stores["se"], arch))
    assert proc.returncode == 0, proc.stderr
    bad = {"name": "stylegan3", "options": {**ARCH["options"], "static_fields": ["lsm_x"]}}
    proc = run_cli("train", _config(tmp_path, "bad", se, stores["se"], bad))
    assert_user_error(proc, "lsm_x", "static fields")

"""`gensemble import-prototype` end to end: exact generation from given latent codes, the
prototype's units with its stat files, registration, transfer, enrichment and refusals."""

from __future__ import annotations

import sqlite3  # noqa: F401 - before netCDF4 can bring its own libsqlite3 into the process
from pathlib import Path

import mlflow
import numpy as np
import pytest
import torch
import xarray as xr
import yaml

from tests.conftest import ROOT, assert_user_error, run_cli

GRID = ("--domain", "se_france", "--opt", "ny=32", "--opt", "nx=32")
VARS = ("--variables", "rr,u10,v10,t2m")
NAMES = ["rr", "u10", "v10", "t2m"]


@pytest.fixture(scope="module")
def proto(tmp_path_factory: pytest.TempPathFactory) -> dict:
    from tests.conftest import SHARED

    if not SHARED.is_dir():
        pytest.skip("../shared/data is absent")
    d = tmp_path_factory.mktemp("proto")
    out = d / "proto.safetensors"
    pt = SHARED / "prototype-stylegan2-32px.pt"
    proc = run_cli("import-prototype", pt, *GRID, *VARS, "--out", out)
    assert proc.returncode == 0, proc.stderr
    assert "stylegan2 32x32, 4 fields" in proc.stdout
    return {
        "dir": d,
        "ckpt": out,
        "pt": pt,
        "npz": np.load(SHARED / "prototype-stylegan2-32px.npz"),
    }


def _fields(path: Path) -> np.ndarray:
    with xr.open_dataset(path) as ds:
        return np.stack([ds[v].values for v in NAMES], 1)


def _rel(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.abs(a - b).max() / np.abs(b).max())


def test_generate_from_latents_reproduces_the_prototype(proto: dict, tmp_path: Path) -> None:
    f = proto["npz"]
    np.save(tmp_path / "z.npy", f["z"])
    np.save(tmp_path / "w.npy", f["wplus"])
    out = tmp_path / "z.nc"
    proc = run_cli(
        "generate", proto["ckpt"], "--latents", tmp_path / "z.npy", "--noise", "const", "--out", out
    )
    assert proc.returncode == 0, proc.stderr
    assert _rel(_fields(out), f["z_fields"]) < 1e-5
    out = tmp_path / "w.nc"
    proc = run_cli(
        "generate", proto["ckpt"], "--latents", tmp_path / "w.npy", "--latent-space", "w+",
        "--noise", "const", "--out", out,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert _rel(_fields(out), f["wplus_fields"]) < 1e-5
    with xr.open_dataset(out) as ds:
        assert ds.attrs["latent_space"] == "w+" and ds.attrs["noise"] == "const"
    # random noise maps: another field, still seeded
    out2 = tmp_path / "r.nc"
    proc = run_cli("generate", proto["ckpt"], "--latents", tmp_path / "z.npy", "--out", out2)
    assert proc.returncode == 0, proc.stderr
    assert _rel(_fields(out2), f["z_fields"]) > 1e-3


def test_truncation_around_the_prototypes_centre(proto: dict, tmp_path: Path) -> None:
    f = proto["npz"]
    np.save(tmp_path / "wavg.npy", f["trunc_w_avg"])
    np.save(tmp_path / "tz.npy", f["trunc_z"])
    ckpt = tmp_path / "t.safetensors"
    proc = run_cli(
        "import-prototype", proto["pt"], *GRID, *VARS, "--w-avg", tmp_path / "wavg.npy",
        "--out", ckpt,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    out = tmp_path / "t.nc"
    proc = run_cli(
        "generate", ckpt, "--latents", tmp_path / "tz.npy", "--truncation", "0.7",
        "--noise", "const", "--out", out,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert _rel(_fields(out), f["trunc_fields"]) < 1e-5
    np.save(tmp_path / "bad.npy", np.zeros(5, np.float32))
    proc = run_cli(
        "import-prototype", proto["pt"], *GRID, *VARS, "--w-avg", tmp_path / "bad.npy",
        "--out", ckpt,
    )  # fmt: skip
    assert_user_error(proc, "--w-avg", "64")


def test_stats_give_the_prototypes_physical_units(proto: dict, tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    mean = rng.normal(size=8).astype(np.float32)
    # scales that keep the (random-weight) fields' rain within exp's range
    span = np.abs(proto["npz"]["z_fields"]).max(axis=(0, 2, 3))
    c = np.concatenate([2 / span, rng.uniform(1, 2, size=4)]).astype(np.float32)
    stats = tmp_path / "stats"
    stats.mkdir()
    np.save(stats / "mean_rr_log.npy", mean)
    np.save(stats / "c_rr_log.npy", c)
    cfg = tmp_path / "dataset_handler_config.yaml"
    cfg.write_text(
        yaml.safe_dump(
            {
                "stat_version": "rr",
                "rr_transform": {
                    "log_transform_iteration": 1,
                    "symetrization": False,
                    "gaussian_std": 0,
                },
                "normalization": {
                    "type": "mean",
                    "per_pixel": False,
                    "for_rr": {"blur_iteration": 1},
                },
            }
        )
    )
    ckpt = tmp_path / "p.safetensors"
    proc = run_cli(
        "import-prototype", proto["pt"], *GRID, *VARS, "--stats", stats, "--stats-config", cfg,
        "--out", ckpt,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert "normalisation mean" in proc.stdout
    f = proto["npz"]
    np.save(tmp_path / "z.npy", f["z"])
    proc = run_cli(
        "generate",
        ckpt,
        "--latents",
        tmp_path / "z.npy",
        "--noise",
        "const",
        "--out",
        tmp_path / "o.nc",
    )
    assert proc.returncode == 0, proc.stderr
    # the prototype's detransform: x * (c / 0.95) + mean, then exp(x) - 1 on rain
    want = (
        f["z_fields"] * (c[:4] / np.float32(0.95))[None, :, None, None]
        + mean[:4][None, :, None, None]
    )
    want[:, 0] = np.exp(want[:, 0]) - 1
    got = _fields(tmp_path / "o.nc")
    for i in range(4):
        assert _rel(got[:, i], want[:, i]) < 1e-5, NAMES[i]


@pytest.mark.slow
def test_registered_import_is_a_lineage_root_for_transfer(proto: dict, tmp_path: Path) -> None:
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    proc = run_cli(
        "import-prototype", proto["pt"], *GRID, *VARS, "--out", tmp_path / "r.safetensors",
        "--register", "proto-se", "--uri", uri,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert "registered proto-se version 1" in proc.stdout
    client = mlflow.MlflowClient(uri)
    mv = client.get_model_version("proto-se", "1")
    root = client.get_run(mv.run_id)
    assert root.data.tags["gensemble.imported_from"] == "meteofrance-prototype"
    assert len(root.data.tags["gensemble.source_sha256"]) == 64

    o = ("--opt", "ny=24", "--opt", "nx=40", "--opt", "variables=[u10,v10,t2m]")
    raw, store = tmp_path / "no.nc", tmp_path / "no.zarr"
    for args in (
        ("data", "synth", "--domain", "nordic", *o, "-n", "8", "--members", "4", "--out", raw),
        ("data", "prepare", raw, "--domain", "nordic", *o, "--out", store),
    ):
        assert run_cli(*args).returncode == 0
    cfg = tmp_path / "tgt.yaml"
    cfg.write_text(
        yaml.safe_dump(
            {
                "domain": {
                    "name": "nordic",
                    "options": {"ny": 24, "nx": 40, "variables": ["u10", "v10", "t2m"]},
                },
                "training": {"steps": 2, "batch_size": 4, "log_every": 1},
                "data": {"store": str(store)},
                "tracking": {"uri": uri, "register_model": False},
                "output_dir": str(tmp_path / "runs"),
            }
        )
    )
    proc = run_cli("transfer", cfg, "--from", "models:/proto-se/1")
    assert proc.returncode == 0, proc.stderr
    assert (
        "dropped rr" in proc.stderr and "re-created G.const (32, 4, 4)->(32, 6, 10)" in proc.stderr
    )
    child = (
        [ln for ln in proc.stdout.splitlines() if ln.startswith("run ")][-1].split()[1].rstrip(":")
    )
    assert client.get_run(child).data.tags["gensemble.parent_run_id"] == mv.run_id
    proc = run_cli("lineage", child, "--uri", uri)
    assert proc.returncode == 0, proc.stderr
    assert mv.run_id in proc.stdout and "imported" in proc.stdout


def test_enrich_from_an_imported_generator(proto: dict, tmp_path: Path) -> None:
    fc = tmp_path / "fc.nc"
    proc = run_cli("data", "synth", *GRID, "-n", "1", "--members", "4", "--out", fc)
    assert proc.returncode == 0, proc.stderr
    out = tmp_path / "big.nc"
    proc = run_cli(
        "enrich", proto["ckpt"], "--members", fc, "-n", "8", "--out", out, "--steps", "5"
    )
    assert proc.returncode == 0, proc.stderr
    with xr.open_dataset(out) as ds:
        assert ds["t2m"].shape[-3:] == (8, 32, 32) and np.isfinite(ds["t2m"].values).all()


def test_refusals(proto: dict, tmp_path: Path) -> None:
    pt = proto["pt"]
    out = ("--out", tmp_path / "x.safetensors")
    big = ("--domain", "se_france", "--opt", "ny=64", "--opt", "nx=64")
    assert_user_error(run_cli("import-prototype", pt, *big, *VARS, *out), "32x32", "64x64")
    assert_user_error(
        run_cli("import-prototype", pt, *GRID, "--variables", "u10,v10,t2m", *out), "4 fields"
    )
    assert_user_error(
        run_cli("import-prototype", pt, *GRID, "--variables", "rr,u10,v10,nope", *out), "nope"
    )
    assert_user_error(
        run_cli("import-prototype", pt, *GRID, *VARS, "--out", tmp_path / "x.pt"), ".safetensors"
    )
    import argparse

    evil = tmp_path / "evil.pt"
    torch.save({"g_ema": {}, "d": {}, "args": argparse.Namespace(lr=0.002)}, evil)
    assert_user_error(run_cli("import-prototype", evil, *GRID, *VARS, *out), "pickled objects")
    cut = tmp_path / "cut.pt"
    cut.write_bytes(pt.read_bytes()[:50_000])
    assert_user_error(run_cli("import-prototype", cut, *GRID, *VARS, *out), "not a readable")
    assert not (tmp_path / "x.safetensors").exists()

    bad = tmp_path / "bad.npy"
    np.save(bad, np.full((2, 64), np.nan, np.float32))
    assert_user_error(
        run_cli("generate", proto["ckpt"], "--latents", bad, "--out", tmp_path / "a.nc"), "NaN"
    )
    np.save(bad, np.zeros((2, 63), np.float32))
    assert_user_error(
        run_cli("generate", proto["ckpt"], "--latents", bad, "--out", tmp_path / "a.nc"), "(n, 64)"
    )
    plain = ROOT / "tests" / "fixtures" / "checkpoints" / "stylegan2-format4.safetensors"
    np.save(bad, np.zeros((2, 8), np.float32))
    proc = run_cli(
        "generate", plain, "--latents", bad, "--noise", "const", "--out", tmp_path / "a.nc"
    )
    assert_user_error(proc, "constant noise")

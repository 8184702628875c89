"""Training loop from the CLI: checkpoints, exact resume after SIGKILL, 2-process gloo,
refused pickles and foreign checkpoints, divergence guard, generation, evaluation."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
import xarray as xr
import yaml
from safetensors.torch import load_file

from gensemble.inference.checkpoint_io import load_checkpoint, read_metadata, save_checkpoint
from gensemble.inference.metadata import FORMAT_VERSION
from tests.conftest import ROOT, TINY_ARCH, assert_user_error, run_cli


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("store")
    raw, out = d / "raw.nc", d / "se.zarr"
    for args in (
        ("data", "synth", "--domain", "se_france", "-n", "12", "--members", "2", "--out", raw),
        ("data", "prepare", raw, "--domain", "se_france", "--out", out),
    ):
        proc = run_cli(*args)
        assert proc.returncode == 0, proc.stderr
    return out


def experiment(tmp: Path, store: Path, **training) -> Path:
    cfg = {
        "domain": {"name": "se_france"},
        "architecture": {"name": "stylegan2", "options": TINY_ARCH},
        "training": {
            "steps": 6,
            "batch_size": 4,
            "checkpoint_every": 3,
            "log_every": 1,
            **training,
        },
        "data": {"store": str(store)},
        "tracking": {"uri": f"sqlite:///{tmp}/mlflow.db"},
        "output_dir": str(tmp / "runs"),
    }
    path = tmp / f"exp_{len(list(tmp.glob('exp_*.yaml')))}.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


def last_checkpoint(tmp: Path) -> Path:
    found = sorted((tmp / "runs").glob("*/checkpoints/last.safetensors"))
    assert len(found) == 1, found
    return found[0]


def assert_same_weights(a: Path, b: Path, atol: float = 1e-6) -> None:
    rtol = max(1e-5, atol)
    ta, tb = load_file(str(a)), load_file(str(b))
    keys = [k for k in ta if k.startswith("model.")]
    assert keys and set(keys) == {k for k in tb if k.startswith("model.")}
    for k in keys:
        torch.testing.assert_close(ta[k], tb[k], atol=atol, rtol=rtol, msg=k)


@pytest.mark.slow
def test_train_writes_checkpoints_generate_and_evaluate(tmp_path: Path, store: Path) -> None:
    exp = experiment(tmp_path, store, eval_every=3, eval_samples=4, keep_best_by="swd/mean")
    cfg = yaml.safe_load(exp.read_text())
    cfg["metrics"] = ["swd", "w1"]
    exp.write_text(yaml.safe_dump(cfg))
    proc = run_cli("train", exp)
    assert proc.returncode == 0, proc.stderr
    ckpt = last_checkpoint(tmp_path)
    meta = read_metadata(ckpt)
    assert meta.step == 6 and meta.variables == ["rr", "u10", "v10", "t2m"]
    assert meta.domain.name == "se_france" and meta.architecture.name == "stylegan2"
    assert meta.grid["nx"] == 256 and meta.normalizer["log1p"] == [True, False, False, False]
    assert meta.format == f"gensemble-checkpoint/{FORMAT_VERSION}"
    assert (ckpt.parent / "best.safetensors").is_file()
    assert (ckpt.parent / "step_0000003.safetensors").is_file()
    run_id = meta.run_id
    import mlflow

    client = mlflow.MlflowClient(f"sqlite:///{tmp_path}/mlflow.db")
    run = client.get_run(run_id)
    assert run.info.status == "FINISHED"
    assert {"loss_G", "loss_D", "images_per_s", "lr_G", "eval/swd/mean"} <= set(run.data.metrics)
    arts = {a.path for a in client.list_artifacts(run_id)}
    assert {"checkpoints", "samples", "eval"} <= arts

    out = tmp_path / "members.nc"
    proc = run_cli("generate", ckpt, "-n", "5", "--out", out, "--seed", "1", "--truncation", "0.7")
    assert proc.returncode == 0, proc.stderr
    ds = xr.open_dataset(out)
    assert ds["t2m"].shape == (5, 256, 256) and ds["t2m"].attrs["units"] == "K"
    assert ds["rr"].attrs["standard_name"] == "lwe_precipitation_rate"
    assert float(ds["rr"].min()) >= 0.0  # de-normalised through expm1, clipped at 0
    assert 150 < float(ds["t2m"].mean()) < 350
    assert "grid_mapping_name" in ds["crs"].attrs and ds["latitude"].shape == (256, 256)
    assert ds.attrs["truncation_psi"] == 0.7

    proc = run_cli(
        "evaluate",
        run_id,
        "--data",
        store,
        "--metrics",
        "swd,spectrum,crps",
        "-n",
        "4",
        "--split",
        "all",
        "--uri",
        f"sqlite:///{tmp_path}/mlflow.db",
    )
    assert proc.returncode == 0, proc.stderr
    assert "spectrum_dct_lsd/t2m" in proc.stdout and "crps/u10" in proc.stdout
    assert "eval/crps/u10" in client.get_run(run_id).data.metrics

    assert_user_error(
        run_cli("evaluate", ckpt, "--data", store, "--metrics", "swd,nope"), "nope", "swd"
    )


@pytest.mark.slow
def test_resume_after_sigkill_reaches_the_same_weights(tmp_path: Path, store: Path) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir()
    b.mkdir()
    proc = run_cli("train", experiment(a, store))
    assert proc.returncode == 0, proc.stderr
    reference = last_checkpoint(a)

    long_run = experiment(b, store, steps=10_000, keep_checkpoints=10_000)
    child = subprocess.Popen(
        [sys.executable, "-m", "gensemble", "train", str(long_run)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.time() + 300
    target = None
    while time.time() < deadline and target is None:
        found = list((b / "runs").glob("*/checkpoints/step_0000003.safetensors"))
        target = found[0] if found else None
        time.sleep(0.2)
    os.kill(child.pid, signal.SIGKILL)
    assert child.wait() == -signal.SIGKILL
    assert target is not None
    proc = run_cli("train", long_run, "--set", "training.steps=6", "--resume", target)
    assert proc.returncode == 0, proc.stderr
    resumed = target.parent / "last.safetensors"
    assert read_metadata(resumed).step == 6
    assert_same_weights(reference, resumed)


@pytest.mark.slow
def test_two_process_gloo_matches_one_process(tmp_path: Path, store: Path) -> None:
    one, two = tmp_path / "one", tmp_path / "two"
    one.mkdir()
    two.mkdir()
    # minibatch-std groups of 2 = the per-rank batch: groups never straddle ranks
    steps = {"steps": 1, "checkpoint_every": 10}
    # (and >= 4 channels everywhere: a 1-channel demodulated layer has a style gradient
    # of pure round-off, which Adam turns into steps of the learning rate)
    TINY_ARCH_DDP = {**TINY_ARCH, "mbstd_group": 2, "channel_base": 1024}
    proc = run_cli(
        "train", experiment(one, store, **steps), "--set", f"architecture.options={TINY_ARCH_DDP}"
    )
    assert proc.returncode == 0, proc.stderr
    env = dict(os.environ, OMP_NUM_THREADS="1")
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "torch.distributed.run",
            "--nproc-per-node",
            "2",
            "--master-port",
            "29533",
            "-m",
            "gensemble",
            "train",
            str(experiment(two, store, **steps)),
            "--set",
            f"architecture.options={TINY_ARCH_DDP}",
        ],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    ckpt = last_checkpoint(two)
    assert read_metadata(ckpt).world_size == 2
    # The all-reduce sums half-batch gradients in another order. With beta1 = 0, Adam's
    # first steps are close to lr * sign(g), which lifts that round-off to ~1e-4 on
    # near-zero gradient entries, and flips the sign of a handful of them (a step of
    # 2 lr).  A different batch split, latent or noise draw would move most weights by
    # the learning rate (2.5e-3 * 16/17), so: all but 0.1 % of entries within 1e-5.
    ta, tb = load_file(str(last_checkpoint(one))), load_file(str(ckpt))
    keys = [k for k in ta if k.startswith("model.")]
    diff = torch.cat([(ta[k] - tb[k]).abs().flatten() for k in keys])
    assert int((diff > 1e-5).sum()) <= diff.numel() // 1000, int((diff > 1e-5).sum())
    assert float(diff.max()) <= 2 * 2.5e-3


def test_pickles_and_foreign_checkpoints_are_refused(tmp_path: Path, store: Path) -> None:
    pickle_file = tmp_path / "model.pt"
    torch.save({"w": torch.zeros(2)}, pickle_file)
    assert_user_error(run_cli("generate", pickle_file, "-n", "1"), "pickle")
    disguised = tmp_path / "model.safetensors"
    disguised.write_bytes(pickle_file.read_bytes())
    assert_user_error(run_cli("generate", disguised, "-n", "1"), "pickle")
    garbage = tmp_path / "garbage.safetensors"
    garbage.write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{not json")
    assert_user_error(run_cli("generate", garbage, "-n", "1"), "garbage.safetensors")

    exp = experiment(tmp_path, store, steps=1)
    assert run_cli("train", exp).returncode == 0
    tensors, meta = load_checkpoint(last_checkpoint(tmp_path))
    meta.architecture.name = "stylegan3"
    foreign = save_checkpoint(tmp_path / "foreign.safetensors", tensors, meta)
    assert_user_error(
        run_cli("train", exp, "--set", "training.steps=3", "--resume", foreign),
        "stylegan3",
        "stylegan2",
    )


@pytest.mark.slow
def test_divergence_stops_with_the_last_good_checkpoint(tmp_path: Path, store: Path) -> None:
    exp = experiment(tmp_path, store, steps=2, checkpoint_every=1)
    assert run_cli("train", exp).returncode == 0
    ckpt = last_checkpoint(tmp_path)
    proc = run_cli(
        "train",
        exp,
        "--resume",
        ckpt,
        "--set",
        "training.steps=50",
        "--set",
        "architecture.options.lr_d=1e30",
        "--set",
        "architecture.options.lr_g=1e30",
    )
    assert_user_error(proc, "diverged", "last good checkpoint", str(ckpt), "lr_g")
    assert read_metadata(ckpt).step == 2
    tensors = load_file(str(ckpt))
    assert all(torch.isfinite(v).all() for k, v in tensors.items() if v.is_floating_point())


def test_train_config_errors(tmp_path: Path, store: Path) -> None:
    exp = experiment(tmp_path, store)
    assert_user_error(run_cli("train", exp, "--set", "training.stepz=3"), "training.stepz")
    assert_user_error(
        run_cli("train", exp, "--set", "architecture.name=stylegan9"), "stylegan9", "stylegan2"
    )
    assert_user_error(run_cli("train", exp, "--set", "domain.name=nordic"), "se_france", "nordic")
    assert_user_error(run_cli("train", exp, "--set", "data.store=/nope.zarr"), "/nope.zarr")


def test_slurm_script(tmp_path: Path, store: Path) -> None:
    exp = experiment(tmp_path, store, batch_size=8)
    proc = run_cli("slurm", exp, "--nodes", "2", "--gpus", "4")
    assert proc.returncode == 0, proc.stderr
    script = proc.stdout
    assert "#SBATCH --nodes=2" in script and "--nproc-per-node=4" in script
    assert "-m gensemble train" in script and "--signal=TERM@300" in script
    assert_user_error(run_cli("slurm", exp, "--gpus", "3"), "not divisible")


@pytest.mark.slow
def test_evaluate_leaves_the_run_status_alone(tmp_path: Path, store: Path) -> None:
    """Evaluating a run that was killed (or is still training) must not mark it FINISHED."""
    import mlflow

    assert run_cli("train", experiment(tmp_path, store, steps=1)).returncode == 0
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    client = mlflow.MlflowClient(uri)
    run_id = read_metadata(last_checkpoint(tmp_path)).run_id
    for status in ("KILLED", "RUNNING"):
        client.update_run(run_id, status=status)
        proc = run_cli(
            "evaluate",
            run_id,
            "--data",
            store,
            "--metrics",
            "w1",
            "-n",
            "2",
            "--split",
            "all",
            "--uri",
            uri,
        )
        assert proc.returncode == 0, proc.stderr
        run = client.get_run(run_id)
        assert run.info.status == status and "eval/w1_mean/t2m" in run.data.metrics


def test_invalid_keep_best_by_is_refused_before_the_first_step(tmp_path: Path, store: Path) -> None:
    exp = experiment(tmp_path, store, eval_every=3, eval_samples=4, keep_best_by="swd/maen")
    cfg = yaml.safe_load(exp.read_text())
    cfg["metrics"] = ["swd"]
    exp.write_text(yaml.safe_dump(cfg))
    proc = run_cli("train", exp)
    assert_user_error(proc, "keep_best_by='swd/maen'", "swd/mean")
    assert not list((tmp_path / "runs").glob("*/checkpoints/*.safetensors"))
    cfg["metrics"] = []
    exp.write_text(yaml.safe_dump(cfg))
    assert_user_error(run_cli("train", exp), "keep_best_by", "no metrics")

"""Shared fixtures: the real data in ../shared, CLI runner, isolated caches."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data"

# Triton kernels run on the CPU through Triton's interpreter (set before triton loads)
try:
    import torch as _torch

    if not _torch.cuda.is_available():
        os.environ.setdefault("TRITON_INTERPRET", "1")
    # under pytest-xdist (make test: a worker per core, plus one to fill the time the
    # others wait on servers and subprocesses) each worker and the commands it runs take
    # one thread, so the cores are never oversubscribed by intra-op threads
    if os.environ.get("PYTEST_XDIST_WORKER_COUNT"):
        os.environ["OMP_NUM_THREADS"] = "1"
        _torch.set_num_threads(1)
except ImportError:  # pragma: no cover
    pass


#: a StyleGAN2 small enough for CPU tests that still runs every part of a step
TINY_ARCH = {
    "z_dim": 16,
    "w_dim": 16,
    "mapping_layers": 2,
    "channel_base": 256,
    "channel_max": 16,
    "r1_interval": 2,
    "pl_interval": 2,
}


def tiny_experiment_file(tmp: Path, domain: str, store: Path, steps: int = 2) -> Path:
    """A YAML experiment training the smallest StyleGAN2 on a 16x24 crop of ``domain``."""
    import yaml

    cfg = {
        "domain": {"name": domain, "options": {"ny": 16, "nx": 24}},
        "architecture": {
            "name": "stylegan2",
            "options": {
                "z_dim": 8,
                "w_dim": 8,
                "mapping_layers": 2,
                "channel_base": 64,
                "channel_max": 8,
            },
        },
        "training": {"steps": steps, "batch_size": 4, "log_every": 1},
        "data": {"store": str(store)},
        "tracking": {"uri": f"sqlite:///{tmp}/mlflow.db", "register_model": False},
        "output_dir": str(tmp / "runs"),
    }
    path = tmp / "exp.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


def make_meta(**fields: Any) -> Any:
    """Valid checkpoint metadata of the current format (fields overridden by keyword)."""
    from gensemble.inference.metadata import CheckpointMeta, PluginSpec

    base: dict[str, Any] = {
        "package_version": "test",
        "step": 0,
        "architecture": PluginSpec(name="stylegan2", options=dict(TINY_ARCH)),
        "domain": PluginSpec(name="se_france"),
        "grid": {},
        "variables": ["rr", "u10", "v10", "t2m"],
        "units": ["mm/h", "m/s", "m/s", "K"],
        "shape": [4, 32, 32],
        "normalizer": {},
    }
    return CheckpointMeta(**(base | fields))


@pytest.fixture(autouse=True)
def _isolated(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    cache = tmp_path_factory.getbasetemp() / "cache"
    monkeypatch.setenv("GENSEMBLE_CACHE_DIR", str(cache))
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)


@pytest.fixture
def shared_data() -> Path:
    if not SHARED.is_dir():
        pytest.skip("../shared/data is absent")
    return SHARED


_ZYGOTE: subprocess.Popen | None = None


def _zygote() -> subprocess.Popen:
    """This worker's fork server (tests/_cli_zygote.py), started on first use."""
    global _ZYGOTE
    if _ZYGOTE is None or _ZYGOTE.poll() is not None:
        _ZYGOTE = subprocess.Popen(
            [sys.executable, str(ROOT / "tests" / "_cli_zygote.py")],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            cwd=ROOT,
        )
    return _ZYGOTE


def _forked_cli(
    args: list[str], cwd: Path | None, timeout: float, env: dict[str, str]
) -> subprocess.CompletedProcess:
    import json
    import select
    import signal
    import tempfile

    server = _zygote()
    with tempfile.TemporaryDirectory() as tmp:
        out, err = Path(tmp) / "out", Path(tmp) / "err"
        req = {"args": args, "cwd": str(cwd or os.getcwd()), "env": env,
               "out": str(out), "err": str(err)}  # fmt: skip
        server.stdin.write(json.dumps(req) + "\n")
        server.stdin.flush()
        pid = json.loads(server.stdout.readline())["pid"]
        ready, _, _ = select.select([server.stdout], [], [], timeout)
        if not ready:
            os.kill(pid, signal.SIGKILL)
            server.stdout.readline()
            raise subprocess.TimeoutExpired(["gensemble", *args], timeout)
        code = json.loads(server.stdout.readline())["code"]
        return subprocess.CompletedProcess(
            [sys.executable, "-m", "gensemble", *args], code, out.read_text(), err.read_text()
        )


def run_cli(
    *args: str, cwd: Path | None = None, env: dict[str, str] | None = None, timeout: float = 600
) -> subprocess.CompletedProcess:
    """Run ``python -m gensemble`` as its own process (real exit codes and stderr).

    Without extra environment the process is forked from a server that has already
    imported torch and mlflow (``tests/_cli_zygote.py``), which saves seconds per call;
    with other ``env`` than PYTHONPATH (variables read at import time may change) it is a
    fresh interpreter."""
    full_env = dict(os.environ)
    full_env.update(env or {})
    forkable = set(env or {}) <= {"PYTHONPATH"}
    if forkable and hasattr(os, "fork") and not os.environ.get("GENSEMBLE_TEST_NO_FORK"):
        return _forked_cli([str(a) for a in args], cwd, timeout, full_env)
    return subprocess.run(
        [sys.executable, "-m", "gensemble", *map(str, args)],
        cwd=cwd,
        env=full_env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def synth_store(
    folder: Path, name: str, domain: str, opts: list[str], n: int, members: int = 4
) -> tuple[Path, Path]:
    """A synthetic ensemble on ``domain`` (``--opt`` values ``opts``) and its prepared
    store: (raw netCDF, zarr store)."""
    o = [a for x in opts for a in ("--opt", x)]
    raw, store = folder / f"{name}.nc", folder / f"{name}.zarr"
    for args in (
        ("data", "synth", "--domain", domain, "-n", str(n), "--members", str(members),
         "--out", raw, *o),
        ("data", "prepare", raw, "--domain", domain, "--out", store, *o),
    ):  # fmt: skip
        proc = run_cli(*args)
        assert proc.returncode == 0, proc.stderr
    return raw, store


def assert_user_error(proc: subprocess.CompletedProcess, *needles: str) -> None:
    """Exit 2, one line on stderr, no traceback, every needle mentioned."""
    assert proc.returncode == 2, (proc.returncode, proc.stdout, proc.stderr)
    err = proc.stderr.strip()
    assert "Traceback" not in err, err
    lines = [ln for ln in err.splitlines() if ln.startswith("error:")]
    assert len(lines) == 1, err
    for needle in needles:
        assert needle in lines[0], (needle, lines[0])


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """The long end-to-end tests (``slow``) first, the rest in their order: under
    pytest-xdist every worker starts on a long test and the run ends on short ones, so no
    worker waits idle while another finishes a long test begun last."""
    items.sort(key=lambda item: item.get_closest_marker("slow") is None)

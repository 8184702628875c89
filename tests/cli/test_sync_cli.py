"""Offline runs, automatic fallback and `gensemble sync` to a real `mlflow server`."""

from __future__ import annotations

import socket
import sqlite3  # noqa: F401 - before netCDF4 can bring its own libsqlite3 into the process
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import mlflow
import pytest
import yaml

from tests.conftest import run_cli, tiny_experiment_file


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def server(tmp_path: Path):  # noqa: ANN201
    port = _free_port()
    d = tmp_path / "server"
    d.mkdir()
    proc = subprocess.Popen(
        [
            sys.executable, "-m", "mlflow", "server",
            "--backend-store-uri", f"sqlite:///{d}/mlflow.db",
            "--artifacts-destination", str(d / "artifacts"),
            "--host", "127.0.0.1", "--port", str(port), "--workers", "1",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    for _ in range(120):
        try:
            with urllib.request.urlopen(url + "/health", timeout=1):
                break
        except OSError:
            time.sleep(0.5)
    else:
        proc.kill()
        pytest.skip("mlflow server did not start")
    yield url
    import os
    import signal

    os.killpg(proc.pid, signal.SIGTERM)
    proc.wait(timeout=30)


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("st")
    o = ("--opt", "ny=16", "--opt", "nx=24")
    raw, st = d / "raw.nc", d / "st.zarr"
    assert (
        run_cli("data", "synth", "--domain", "se_france", *o, "-n", "8", "--out", raw).returncode
        == 0
    )
    assert run_cli("data", "prepare", raw, "--domain", "se_france", *o, "--out", st).returncode == 0
    return st


def _config(tmp: Path, store: Path, name: str, tracking: dict, init: str | None = None) -> Path:
    path = tiny_experiment_file(tmp, "se_france", store, steps=3)
    cfg = yaml.safe_load(path.read_text())
    cfg["tracking"] = {"register_model": True, **tracking}
    cfg["training"]["eval_every"] = 0
    if init:
        cfg["init"] = {"from": init}
    out = tmp / f"{name}.yaml"
    out.write_text(yaml.safe_dump(cfg))
    return out


def _run_id(proc) -> str:  # noqa: ANN001
    return (
        [ln for ln in proc.stdout.splitlines() if ln.startswith("run ")][-1].split()[1].rstrip(":")
    )


def test_offline_chain_synced_to_a_server(tmp_path: Path, store: Path, server: str) -> None:
    ids = []
    for i in range(3):  # a transfer chain trained offline: a -> b -> c
        cfg = _config(tmp_path, store, f"r{i}", {"offline": True}, ids[-1] if ids else None)
        proc = run_cli("train", cfg)
        assert proc.returncode == 0, proc.stderr
        ids.append(_run_id(proc))
    db = tmp_path / "runs" / "offline-mlflow.db"
    assert db.is_file()

    # only the last run asked for: its ancestors come first, lineage re-pointed
    proc = run_cli("sync", db, server, "--run", ids[2])
    assert proc.returncode == 0, proc.stderr
    assert "3 runs, 3 changed" in proc.stdout
    dst = mlflow.MlflowClient(server)
    src = mlflow.MlflowClient(f"sqlite:///{db}")
    exp = dst.get_experiment_by_name("gensemble")
    assert exp.tags["mlflow.experimentKind"] == "custom_model_development"
    copies = {
        r.data.tags["gensemble.sync.source_run_id"]: r for r in dst.search_runs([exp.experiment_id])
    }
    assert set(copies) == set(ids)
    for parent, child in zip(ids, ids[1:], strict=False):
        tags = copies[child].data.tags
        assert tags["gensemble.parent_run_id"] == copies[parent].info.run_id
        assert tags["gensemble.sync.source_parent_run_id"] == parent
    for rid in ids:
        s, d = src.get_run(rid), copies[rid]
        assert d.data.params == s.data.params and d.info.status == "FINISHED"
        for key in s.data.metrics:
            a = [(m.step, m.timestamp, m.value) for m in src.get_metric_history(rid, key)]
            b = [(m.step, m.timestamp, m.value) for m in dst.get_metric_history(d.info.run_id, key)]
            assert sorted(a) == sorted(b), key
        names = {a.path for a in dst.list_artifacts(d.info.run_id, "checkpoints")}
        assert "checkpoints/last.safetensors" in names
        assert d.inputs.dataset_inputs and d.inputs.dataset_inputs[0].dataset.name == "st.zarr"
    versions = dst.search_model_versions("name='se_france-stylegan2'")
    assert len(versions) == 3 and {v.run_id for v in versions} == {
        c.info.run_id for c in copies.values()
    }
    proc = run_cli("lineage", copies[ids[2]].info.run_id, "--uri", server)
    assert proc.returncode == 0, proc.stderr
    assert all(copies[r].info.run_id in proc.stdout for r in ids)

    # a second sync copies nothing; an offline run compares with a server run
    proc = run_cli("sync", db, server)
    assert proc.returncode == 0, proc.stderr
    assert "3 runs, 0 changed, 0 metric points, 0 artifacts, 0 model versions" in proc.stdout


def test_fallback_to_offline_when_the_server_is_down(tmp_path: Path, store: Path) -> None:
    dead = f"http://127.0.0.1:{_free_port()}"
    cfg = _config(tmp_path, store, "fb", {"uri": dead, "fallback": "offline"})
    proc = run_cli("train", cfg)
    assert proc.returncode == 0, proc.stderr
    assert "logging offline to" in proc.stderr and "gensemble sync" in proc.stderr
    run = mlflow.MlflowClient(f"sqlite:///{tmp_path / 'runs' / 'offline-mlflow.db'}").get_run(
        _run_id(proc)
    )
    assert run.data.tags["gensemble.offline"] == dead
    assert run.info.run_name == "se_france stylegan2"
    # without the fallback, an unreachable server stops the run before it starts
    cfg = _config(tmp_path, store, "nofb", {"uri": dead})
    proc = run_cli("train", cfg)
    assert proc.returncode == 2 and "cannot reach" in proc.stderr

"""Offline runs, automatic fallback and `gensemble sync` to a real `mlflow server`."""

from __future__ import annotations

import contextlib
import os
import signal
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


def _start_server(d: Path, port: int) -> subprocess.Popen:
    d.mkdir(exist_ok=True)
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
    for _ in range(120):
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=1):
                return proc
        except OSError:
            time.sleep(0.5)
    _stop(proc)
    pytest.skip("mlflow server did not start")


def _stop(proc: subprocess.Popen) -> None:
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)


@pytest.fixture
def server(tmp_path: Path):  # noqa: ANN201
    port = _free_port()
    proc = _start_server(tmp_path / "server", port)
    yield f"http://127.0.0.1:{port}"
    _stop(proc)


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


def _config(
    tmp: Path, store: Path, name: str, tracking: dict, init: str | None = None, steps: int = 3
) -> Path:
    path = tiny_experiment_file(tmp, "se_france", store, steps=steps)
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


@pytest.mark.slow
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

    # a second sync copies nothing
    proc = run_cli("sync", db, server)
    assert proc.returncode == 0, proc.stderr
    assert "3 runs, 0 changed, 0 metric points, 0 artifacts, 0 model versions" in proc.stdout

    # a run trained online compares side by side with a synced offline one
    cfg = _config(tmp_path, store, "online", {"uri": server})
    proc = run_cli("train", cfg)
    assert proc.returncode == 0, proc.stderr
    online = _run_id(proc)
    offline = copies[ids[0]].info.run_id
    out = tmp_path / "cmp.png"
    proc = run_cli("compare", offline, online, "--uri", server, "--metrics", "loss_G", "--out", out)
    assert proc.returncode == 0, proc.stderr
    assert "loss_G" in proc.stdout and out.is_file()


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


@pytest.mark.slow
def test_outage_mid_run_is_finished_by_one_sync(tmp_path: Path, store: Path) -> None:
    """The server dies during the run and comes back after it ended: `gensemble sync
    RUN_DIR` sends every point, the checkpoints, the final status and the registration."""
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    server = _start_server(tmp_path / "server", port)
    cfg = _config(tmp_path, store, "outage", {"uri": url, "end_wait_s": 1}, steps=80)
    env = dict(os.environ)
    train = subprocess.Popen(
        [sys.executable, "-m", "gensemble", "train", cfg],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    journal = None
    deadline = time.time() + 300
    while time.time() < deadline:  # kill the server once some points went through
        found = list((tmp_path / "runs").glob("*/metrics.jsonl"))
        if found and len(found[0].read_text().splitlines()) > 25:
            journal = found[0]
            break
        time.sleep(0.2)
    assert journal is not None, "the run never logged"
    _stop(server)
    out, err = train.communicate(timeout=600)
    assert train.returncode == 0, err
    run_dir = journal.parent
    assert (run_dir / "tracking_pending.json").is_file() and "gensemble sync" in err

    server = _start_server(tmp_path / "server", port)
    try:
        proc = run_cli("sync", run_dir)
        assert proc.returncode == 0, proc.stderr
        assert "status FINISHED" in proc.stdout and "registered models:/" in proc.stdout
        client = mlflow.MlflowClient(url)
        run_id = run_dir.name
        run = client.get_run(run_id)
        assert run.info.status == "FINISHED"
        steps = [m.step for m in client.get_metric_history(run_id, "loss_G")]
        assert sorted(steps) == list(range(1, 81)), (len(steps), steps[:3])
        assert "checkpoints/last.safetensors" in {
            a.path for a in client.list_artifacts(run_id, "checkpoints")
        }
        assert client.search_model_versions("name='se_france-stylegan2'")
        proc = run_cli("sync", run_dir)  # nothing left: no duplicate
        assert proc.returncode == 0 and "0 metric points, 0 checkpoints" in proc.stdout
        assert len(client.get_metric_history(run_id, "loss_G")) == 80
    finally:
        _stop(server)


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
@pytest.mark.slow
def test_ui_leaves_no_server_behind(tmp_path: Path, sig: int) -> None:
    port = _free_port()
    ui = subprocess.Popen(
        [sys.executable, "-m", "gensemble", "ui", "--uri", f"sqlite:///{tmp_path}/m.db",
         "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,  # a group of its own: the test can clean up whatever happens
    )  # fmt: skip
    try:
        for _ in range(120):
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=1):
                    break
            except OSError:
                time.sleep(0.5)
        else:
            pytest.skip("mlflow ui did not start")
        ui.send_signal(sig)  # to the gensemble process alone, as a service manager does
        ui.wait(timeout=60)
        time.sleep(1)
        with pytest.raises(OSError):
            urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2)
        import shutil

        if shutil.which("pgrep"):
            left = subprocess.run(["pgrep", "-f", f"--port {port}"], capture_output=True, text=True)
            assert left.stdout.strip() == "", left.stdout
    finally:  # a skip or a failure leaves no server running after the test
        with contextlib.suppress(ProcessLookupError):
            os.killpg(ui.pid, signal.SIGKILL)
        ui.wait(timeout=30)


@pytest.mark.slow
def test_sync_killed_half_way_finishes_without_duplicates(
    tmp_path: Path, store: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from gensemble.core.errors import UserError
    from gensemble.sync import stores

    ids = []
    for i in range(2):
        cfg = _config(tmp_path, store, f"k{i}", {"offline": True}, ids[-1] if ids else None)
        proc = run_cli("train", cfg)
        assert proc.returncode == 0, proc.stderr
        ids.append(_run_id(proc))
    src_uri = f"sqlite:///{tmp_path / 'runs' / 'offline-mlflow.db'}"
    dst_uri = f"sqlite:///{tmp_path / 'dest.db'}"

    class Dies:
        """The destination client, dying at its 3rd metric batch (mid-run)."""

        def __init__(self, inner) -> None:  # noqa: ANN001
            self.inner, self.batches = inner, 0

        def log_batch(self, run_id, metrics=(), params=(), tags=()):  # noqa: ANN001, ANN201
            if metrics:
                self.batches += 1
                if self.batches == 3:
                    raise ConnectionError("server killed")
            return self.inner.log_batch(run_id, metrics=metrics, params=params, tags=tags)

        def __getattr__(self, name):  # noqa: ANN001, ANN204
            return getattr(self.inner, name)

    real = stores.client_for
    monkeypatch.setattr(
        stores, "client_for", lambda uri: Dies(real(uri)) if uri == dst_uri else real(uri)
    )
    with pytest.raises(UserError, match="run it again"):
        stores.sync_stores(src_uri, dst_uri)
    monkeypatch.setattr(stores, "client_for", real)
    report = stores.sync_stores(src_uri, dst_uri)
    assert sum(r.created for r in report.runs) <= 1  # the first copy was found again
    src, dst = mlflow.MlflowClient(src_uri), mlflow.MlflowClient(dst_uri)
    copies = {r.data.tags["gensemble.sync.source_run_id"]: r for r in dst.search_runs(
        [dst.get_experiment_by_name("gensemble").experiment_id]
    )}  # fmt: skip
    assert set(copies) == set(ids)
    for rid in ids:
        for key in src.get_run(rid).data.metrics:
            a = sorted((m.step, m.timestamp) for m in src.get_metric_history(rid, key))
            b = sorted(
                (m.step, m.timestamp) for m in dst.get_metric_history(copies[rid].info.run_id, key)
            )
            assert a == b, key
    assert stores.sync_stores(src_uri, dst_uri).runs and not any(
        r.changed for r in stores.sync_stores(src_uri, dst_uri).runs
    )

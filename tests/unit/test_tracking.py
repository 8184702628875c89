"""MLflow tracking against real stores: sqlite in a temp dir and a real mlflow server."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from gensemble.core.errors import UserError
from gensemble.core.tracking import TAG_DOMAIN, TAG_VERSION, Tracker, check_reachable
from tests.conftest import assert_user_error, run_cli


def test_sqlite_run_logs_params_metrics_artifacts_tags(tmp_path: Path) -> None:
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    tr = Tracker(uri, "unit", journal_dir=tmp_path / "run")
    run_id = tr.start("r1", tags={TAG_DOMAIN: "nordic"})
    tr.log_params({"training.steps": 5, "domain.name": "nordic"})
    for step in range(3):
        tr.log_metrics({"loss/G": 1.0 / (step + 1)}, step)
    art = tmp_path / "config.yaml"
    art.write_text("a: 1\n")
    assert tr.log_artifact(art)
    tr.end()
    run = tr.client.get_run(run_id)
    assert run.data.params["training.steps"] == "5"
    assert run.data.tags[TAG_DOMAIN] == "nordic" and TAG_VERSION in run.data.tags
    hist = tr.client.get_metric_history(run_id, "loss/G")
    assert [m.step for m in hist] == [0, 1, 2]
    assert run.info.status == "FINISHED"
    assert [a.path for a in tr.client.list_artifacts(run_id)] == ["config.yaml"]
    assert len((tmp_path / "run" / "metrics.jsonl").read_text().splitlines()) == 3


def test_unreachable_server_fails_before_work(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="127.0.0.1:9"):
        check_reachable("http://127.0.0.1:9")
    proc = run_cli("runs", "--uri", "http://127.0.0.1:9")
    assert_user_error(proc, "http://127.0.0.1:9")
    assert_user_error(
        run_cli("runs", "--uri", f"sqlite:///{tmp_path}/no/such/dir/m.db"), "does not exist"
    )


def test_file_store_refused_unless_allowed(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.delenv("MLFLOW_ALLOW_FILE_STORE", raising=False)
    with pytest.raises(UserError, match="MLFLOW_ALLOW_FILE_STORE"):
        check_reachable(str(tmp_path / "mlruns"))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _start_server(db: Path, port: int) -> subprocess.Popen:
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "mlflow",
            "server",
            "--backend-store-uri",
            f"sqlite:///{db}",
            "--default-artifact-root",
            str(db.parent / "artifacts"),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--workers",
            "1",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    deadline = time.time() + 90
    while time.time() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2):
                return proc
        except OSError:
            time.sleep(0.5)
    _stop(proc)
    pytest.fail("mlflow server did not start")


def _stop(proc: subprocess.Popen) -> None:
    os.killpg(proc.pid, 15)
    proc.wait(timeout=30)


@pytest.mark.slow
def test_real_server_outage_keeps_training_and_loses_nothing(tmp_path: Path, caplog) -> None:
    port = _free_port()
    uri = f"http://127.0.0.1:{port}"
    server = _start_server(tmp_path / "srv.db", port)
    try:
        tr = Tracker(uri, "server-test", journal_dir=tmp_path / "run", retry_after_s=0.0)
        run_id = tr.start("outage")
        tr.log_metrics({"loss": 1.0}, 0)
        _stop(server)
        tr.log_metrics({"loss": 2.0}, 1)  # server down: must not raise
        tr.log_metrics({"loss": 3.0}, 2)
        assert tr.pending == 2
        assert "training continues" in caplog.text
        server = _start_server(tmp_path / "srv.db", port)
        tr.end()
        assert tr.pending == 0
        hist = tr.client.get_metric_history(run_id, "loss")
        assert sorted((m.step, m.value) for m in hist) == [(0, 1.0), (1, 2.0), (2, 3.0)]
        proc = run_cli("runs", "--uri", uri, "--experiment", "server-test")
        assert proc.returncode == 0 and run_id in proc.stdout
    finally:
        if server.poll() is None:
            _stop(server)


def test_artifacts_of_a_sqlite_store_live_beside_it(tmp_path: Path) -> None:
    tracker = Tracker(f"sqlite:///{tmp_path}/sub/m.db", "beside")
    (tmp_path / "sub").mkdir()
    run_id = tracker.start()
    note = tmp_path / "note.txt"
    note.write_text("x")
    assert tracker.log_artifact(note, "a")
    tracker.end()
    assert (tmp_path / "sub" / "mlartifacts").is_dir()
    assert list((tmp_path / "sub" / "mlartifacts").rglob("note.txt"))
    assert run_id in tracker.client.get_run(run_id).info.artifact_uri


def test_journal_replay_sends_only_what_the_server_lacks(tmp_path: Path) -> None:
    """A process that died during an outage leaves points in metrics.jsonl only; a
    replay (done by a resumed run) sends exactly those, and a second replay nothing."""
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    tr = Tracker(uri, "replay", journal_dir=tmp_path / "run")
    run_id = tr.start("r")
    tr.log_metrics({"loss": 1.0, "lr": 0.1}, 0)  # reached the server and the journal
    with tr.journal.open("a") as fh:  # journalled, never sent (the process died)
        for step in (1, 2):
            fh.write(json.dumps({"key": "loss", "value": step + 1.0, "timestamp": 7, "step": step}))
            fh.write("\n")
        fh.write('{"key": "loss", "val')  # a line cut by the crash
    again = Tracker(uri, "replay", journal_dir=tmp_path / "run")
    again.attach(run_id)
    assert again.replay_journal() == 2
    assert again.replay_journal() == 0
    hist = tr.client.get_metric_history(run_id, "loss")
    assert sorted((m.step, m.value) for m in hist) == [(0, 1.0), (1, 2.0), (2, 3.0)]
    assert len(tr.client.get_metric_history(run_id, "lr")) == 1


def test_attach_leaves_the_run_status_alone(tmp_path: Path) -> None:
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    tr = Tracker(uri, "attach")
    run_id = tr.start("r")
    tr.end("KILLED")
    other = Tracker(uri, "attach")
    other.attach(run_id)
    other.log_metrics({"eval/x": 1.0}, 3)
    other.flush()
    run = tr.client.get_run(run_id)
    assert run.info.status == "KILLED" and run.data.metrics["eval/x"] == 1.0
    with pytest.raises(UserError, match="run nope not found"):
        other.attach("nope")

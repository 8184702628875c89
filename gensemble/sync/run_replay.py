"""Finishing a run on its tracking server after an outage: ``gensemble sync RUN_DIR``.

A run that lost its server keeps everything locally: every metric point in its journal
(``metrics.jsonl``), its checkpoints, and - when the server was still down at its end -
what the end could not send (``tracking_pending.json``: final status, registration).
Replaying sends only what the server lacks, so it can be run any number of times.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path

from gensemble.core.errors import UserError
from gensemble.core.tracking import TAG_MODEL, Tracker

LOG = logging.getLogger(__name__)

TRACKING_FILE = "tracking.json"
PENDING_FILE = "tracking_pending.json"


@dataclass
class ReplayReport:
    run_id: str
    uri: str
    points: int = 0
    checkpoints: int = 0
    status: str = ""
    registered: str = ""


def is_run_dir(path: Path) -> bool:
    return Path(path).is_dir() and (Path(path) / TRACKING_FILE).is_file()


def replay_run(run_dir: Path, dest: str | None = None) -> ReplayReport:
    """Send a run folder's journalled points, checkpoints, final status and registration
    to the store the run was tracked in (``dest`` must be that store when given)."""
    run_dir = Path(run_dir)
    try:
        record = json.loads((run_dir / TRACKING_FILE).read_text())
        uri, run_id = str(record["uri"]), str(record["run_id"])
    except (OSError, ValueError, KeyError) as exc:
        raise UserError(f"{run_dir / TRACKING_FILE}: unreadable ({exc})") from None
    if dest is not None and dest.rstrip("/") != uri.rstrip("/"):
        raise UserError(
            f"{run_dir}: run {run_id} is tracked in {uri}; finish it there "
            f"(gensemble sync {run_dir}), then copy that store to {dest}"
        )
    tracker = Tracker(uri, record.get("experiment", "gensemble"))
    tracker.attach(run_id)
    tracker.journal = run_dir / "metrics.jsonl"
    report = ReplayReport(run_id, uri)
    report.points = tracker.replay_journal()
    if tracker.pending or tracker.is_down:
        raise UserError(f"{uri}: the server stopped answering during the replay; run it again")
    client = tracker.client
    have = {a.path: a.file_size for a in client.list_artifacts(run_id, "checkpoints")}
    for name in ("last.safetensors", "best.safetensors"):
        path = run_dir / "checkpoints" / name
        if path.is_file() and have.get(f"checkpoints/{name}") != path.stat().st_size:
            client.log_artifact(run_id, str(path), "checkpoints")
            report.checkpoints += 1
    pending_path = run_dir / PENDING_FILE
    if pending_path.is_file():
        pending = json.loads(pending_path.read_text())
        run = client.get_run(run_id)
        register = pending.get("register")
        if register and TAG_MODEL not in run.data.tags:
            from gensemble.inference.checkpoint_io import read_metadata
            from gensemble.inference.model_registry import register_run

            which = register["which"]
            meta = read_metadata(run_dir / "checkpoints" / f"{which}.safetensors")
            version = register_run(client, run_id, register["name"], which, meta)
            report.registered = f"models:/{register['name']}/{version}"
            client.set_tag(run_id, TAG_MODEL, report.registered)
        report.status = str(pending.get("status", "FINISHED"))
        client.set_terminated(run_id, report.status)
        pending_path.unlink()
    return report

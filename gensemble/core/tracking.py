"""Thin MLflow tracking layer.

* Default store ``sqlite:///mlflow.db`` in the working directory; any MLflow URI from the
  config or ``MLFLOW_TRACKING_URI``.
* :meth:`Tracker.check` fails fast (``UserError`` naming the URI) when the store cannot be
  reached, before any training starts.
* Once a run is going, a tracking outage never stops training: every call is guarded,
  a single warning is printed, and metrics are held in memory and re-sent when the server
  answers again.  Every point is also appended to a journal (``metrics.jsonl`` in the run
  folder); :meth:`Tracker.replay_journal` sends the journalled points the server lacks,
  which a resumed run does at its start, so points survive a process that died during an
  outage.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

from gensemble import __version__
from gensemble.core.errors import UserError, one_line
from gensemble.core.server_errors import lookup_failure

LOG = logging.getLogger(__name__)

DEFAULT_URI = "sqlite:///mlflow.db"
TAG_DOMAIN = "gensemble.domain"
TAG_ARCH = "gensemble.architecture"
TAG_PARENT = "gensemble.parent_run_id"
TAG_SOURCE = "gensemble.source"
TAG_SOURCE_DOMAIN = "gensemble.source_domain"
TAG_SOURCE_STEP = "gensemble.source_step"
TAG_STRATEGY = "gensemble.init_strategy"
TAG_MODEL = "gensemble.registered_model"
TAG_VERSION = "gensemble.version"
TAG_COMMIT = "gensemble.git_commit"
#: an offline run: "configured", or the server it fell back from
TAG_OFFLINE = "gensemble.offline"
#: MLflow 3 opens experiments of this kind in the model-training view (not the GenAI one)
EXPERIMENT_KIND = {"mlflow.experimentKind": "custom_model_development"}
#: the UI's own switch between its GenAI and model-training views (a URL parameter that
#: wins over the browser's last choice): gensemble's links carry it
ML_VIEW = "machine_learning"


def resolve_uri(uri: str | None) -> str:
    """Config URI, else ``MLFLOW_TRACKING_URI``, else the local sqlite store."""
    return uri or os.environ.get("MLFLOW_TRACKING_URI") or DEFAULT_URI


def _quick_http_settings() -> None:
    # MLflow retries HTTP calls for minutes by default; a weather-service user wants to
    # know at once, and training must not stall on a dead server.
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "1")
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR", "1")
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", "10")


def check_reachable(uri: str, timeout: float = 5.0) -> None:
    """Raise ``UserError`` naming ``uri`` when the tracking store cannot be used."""
    if uri.startswith(("http://", "https://")):
        url = uri.rstrip("/") + "/health"
        try:
            with urllib.request.urlopen(url, timeout=timeout) as resp:  # noqa: S310
                if resp.status >= 400:
                    raise UserError(f"MLflow tracking server {uri} answered HTTP {resp.status}")
        except (urllib.error.URLError, OSError, TimeoutError) as exc:
            reason = getattr(exc, "reason", exc)
            raise UserError(f"cannot reach MLflow tracking server {uri}: {reason}") from None
        return
    if uri.startswith("sqlite:///"):
        db = Path(uri[len("sqlite:///") :])
        parent = db.parent if str(db.parent) else Path(".")
        if not parent.exists():
            raise UserError(f"MLflow tracking URI {uri}: folder {parent} does not exist")
        return
    allowed = os.environ.get("MLFLOW_ALLOW_FILE_STORE", "").lower() in ("1", "true", "yes")
    if (uri.startswith("file:") or "://" not in uri) and not allowed:
        raise UserError(
            f"MLflow tracking URI {uri} is a file store, which MLflow 3 refuses; use "
            "sqlite:///mlflow.db or set MLFLOW_ALLOW_FILE_STORE=true"
        )


def artifact_location(uri: str) -> str | None:
    """Artifacts of a sqlite store live beside the database (``mlartifacts/``), not in the
    working directory's ``./mlruns``, so a store and its checkpoints move together and
    two stores never share a folder.  Servers choose their own location."""
    if uri.startswith("sqlite:///"):
        db = Path(uri[len("sqlite:///") :]).resolve()
        return (db.parent / "mlartifacts").as_uri()
    return None


def git_commit(cwd: Path | None = None) -> str | None:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            cwd=cwd or Path(__file__).parent,
            capture_output=True,
            text=True,
            timeout=5,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None if out.returncode == 0 else None


class Tracker:
    """One MLflow run, with outage-tolerant logging and a local metrics journal."""

    def __init__(
        self,
        uri: str | None = None,
        experiment: str = "gensemble",
        journal_dir: Path | None = None,
        retry_after_s: float = 30.0,
        client: Any = None,
    ) -> None:
        """``client``: an MlflowClient of the same URI to share (making one costs about
        half a second; a study logs a run per ensemble)."""
        _quick_http_settings()
        self.uri = resolve_uri(uri)
        self.experiment = experiment
        self.run_id: str | None = None
        self.journal = Path(journal_dir) / "metrics.jsonl" if journal_dir else None
        self._pending: list[tuple[str, float, int, int]] = []
        self._down_since: float | None = None
        self._retry_after_s = retry_after_s
        self._client: Any = client

    # -- connection --------------------------------------------------------------------------
    @property
    def client(self) -> Any:
        if self._client is None:
            from mlflow.tracking import MlflowClient

            self._client = MlflowClient(tracking_uri=self.uri)
        return self._client

    def check(self, create: bool = True) -> None:
        """Fail fast when the store is unusable; ``create=False`` for read-only commands
        (no experiment is created as a side effect)."""
        check_reachable(self.uri)
        try:
            if create:
                self._experiment_id()
            else:
                self.client.search_experiments(max_results=1)
        except UserError:
            raise
        except Exception as exc:
            raise UserError(
                f"MLflow tracking URI {self.uri} is not usable: {one_line(exc)}"
            ) from None

    def _experiment_id(self) -> str:
        exp = self.client.get_experiment_by_name(self.experiment)
        if exp is not None:
            if exp.lifecycle_stage == "deleted":
                self.client.restore_experiment(exp.experiment_id)
            return exp.experiment_id
        return self.client.create_experiment(
            self.experiment, artifact_location=artifact_location(self.uri), tags=EXPERIMENT_KIND
        )

    # -- run lifecycle -----------------------------------------------------------------------
    def start(
        self,
        run_name: str | None = None,
        tags: dict[str, str] | None = None,
        run_id: str | None = None,
    ) -> str:
        """Start a new run (or reopen ``run_id`` to resume it); fails fast when unreachable."""
        self.check()
        base_tags = {TAG_VERSION: __version__}
        commit = git_commit()
        if commit:
            base_tags[TAG_COMMIT] = commit
            base_tags["mlflow.source.git.commit"] = commit
        base_tags.update(tags or {})
        try:
            if run_id:
                self.client.get_run(run_id)
                self.client.update_run(run_id, status="RUNNING")
                self.run_id = run_id
            else:
                run = self.client.create_run(
                    self._experiment_id(), run_name=run_name, tags=base_tags
                )
                self.run_id = run.info.run_id
        except Exception as exc:
            raise UserError(
                f"MLflow tracking URI {self.uri}: cannot start run: {one_line(exc)}"
            ) from None
        return self.run_id

    def attach(self, run_id: str) -> None:
        """Log into an existing run without touching its status (``gensemble evaluate``
        on a run that is still training, or was killed, leaves it as it is)."""
        self.check(create=False)
        try:
            self.client.get_run(run_id)
        except Exception as exc:
            raise lookup_failure(exc, f"run {run_id}", self.uri) from None
        self.run_id = run_id

    def end(self, status: str = "FINISHED") -> None:
        self.flush()
        self._guard("end run", lambda: self.client.set_terminated(self.run_id, status=status))

    # -- guarded logging -----------------------------------------------------------------------
    def _guard(self, what: str, fn: Callable[[], Any]) -> bool:
        if self.run_id is None:
            return False
        if (
            self._down_since is not None
            and time.monotonic() - self._down_since < self._retry_after_s
        ):
            return False
        try:
            fn()
        except Exception as exc:
            if self._down_since is None:
                LOG.warning(
                    f"MLflow tracking at {self.uri} failed ({what}: {one_line(exc)[:200]}); "
                    "training continues, metrics are kept locally and re-sent later"
                )
            self._down_since = time.monotonic()
            return False
        if self._down_since is not None:
            LOG.warning(f"MLflow tracking at {self.uri} is back")
            self._down_since = None
        return True

    @property
    def is_down(self) -> bool:
        """The last call to the store failed (and none has succeeded since)."""
        return self._down_since is not None

    def settle(self, timeout_s: float, poll_s: float = 2.0) -> bool:
        """Before the end of a run: wait up to ``timeout_s`` for a store that failed to
        answer again, then send what is pending; True when it is (back) up."""
        if self._down_since is None:
            return True
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                check_reachable(self.uri, timeout=min(5.0, poll_s + 1))
                self._down_since = None
                self.flush()
                return not self.is_down
            except UserError:
                if time.monotonic() >= deadline:
                    return False
                time.sleep(poll_s)

    def set_tags(self, tags: dict[str, Any]) -> None:
        for k, v in tags.items():
            self._guard("set tag", lambda k=k, v=v: self.client.set_tag(self.run_id, k, str(v)))

    def log_params(self, params: dict[str, Any]) -> None:
        from mlflow.entities import Param

        items = [Param(k, str(v)[:6000]) for k, v in params.items()]
        for i in range(0, len(items), 100):
            chunk = items[i : i + 100]
            self._guard("log params", lambda c=chunk: self.client.log_batch(self.run_id, params=c))

    def log_metrics(self, metrics: dict[str, float], step: int) -> None:
        now = int(time.time() * 1000)
        rows = [(k, float(v), now, int(step)) for k, v in metrics.items()]
        if self.journal is not None:
            self.journal.parent.mkdir(parents=True, exist_ok=True)
            with self.journal.open("a") as fh:
                for k, v, t, s in rows:
                    fh.write(json.dumps({"key": k, "value": v, "timestamp": t, "step": s}) + "\n")
        self._pending.extend(rows)
        self.flush()

    def flush(self) -> None:
        """Send metrics held back by an outage (no-op when nothing is pending)."""
        if not self._pending:
            return
        from mlflow.entities import Metric

        batch = [Metric(k, v, t, s) for k, v, t, s in self._pending[:1000]]
        if self._guard("log metrics", lambda: self.client.log_batch(self.run_id, metrics=batch)):
            del self._pending[: len(batch)]
            if self._pending:
                self.flush()

    def log_inputs(self, datasets: list[Any]) -> bool:
        return self._guard(
            "log inputs", lambda: self.client.log_inputs(self.run_id, datasets=datasets)
        )

    def log_artifact(self, path: Path, artifact_path: str | None = None) -> bool:
        return self._guard(
            "log artifact", lambda: self.client.log_artifact(self.run_id, str(path), artifact_path)
        )

    def replay_journal(self) -> int:
        """Send the journalled points the run lacks on the server; returns how many.

        A point is identified by (key, step, timestamp), so replaying twice, or replaying
        points that did reach the server, adds nothing.
        """
        if self.journal is None or not self.journal.is_file() or self.run_id is None:
            return 0
        rows = sorted(set(read_journal(self.journal)), key=lambda r: (r[2], r[3]))
        have: set[tuple[str, int, int]] = set()
        for key in sorted({r[0] for r in rows}):
            history: list[Any] = []
            ok = self._guard(
                "read metric history",
                lambda k=key, h=history: h.extend(self.client.get_metric_history(self.run_id, k)),
            )
            if not ok:
                return 0  # server down: the journal stays for a later replay
            have |= {(key, int(m.step), int(m.timestamp)) for m in history}
        missing = [r for r in rows if (r[0], r[3], r[2]) not in have]
        self._pending.extend(missing)
        self.flush()
        return len(missing)

    @property
    def pending(self) -> int:
        return len(self._pending)


def read_journal(path: Path) -> list[tuple[str, float, int, int]]:
    """(key, value, timestamp ms, step) of every readable line of a metrics journal; a
    line cut by a crash is skipped."""
    rows = []
    for line in Path(path).read_text().splitlines():
        try:
            d = json.loads(line)
            rows.append((str(d["key"]), float(d["value"]), int(d["timestamp"]), int(d["step"])))
        except (ValueError, KeyError, TypeError):
            continue
    return rows

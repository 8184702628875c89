"""``gensemble ui``: the MLflow UI on a tracking store, bound to 127.0.0.1, whose server
and workers are stopped as one process group."""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
from typing import Any

from gensemble.core.tracking import ML_VIEW, check_reachable, resolve_uri

LOG = logging.getLogger(__name__)


def start_ui(uri: str | None, port: int = 5000) -> int:
    """Run the MLflow UI on the tracking store, bound to 127.0.0.1."""
    uri = resolve_uri(uri)
    check_reachable(uri)
    cmd = [
        sys.executable,
        "-m",
        "mlflow",
        "ui",
        "--backend-store-uri",
        uri,
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
    ]
    LOG.info(
        "MLflow UI for %s on http://127.0.0.1:%d/#/experiments?workflowType=%s (Ctrl-C to stop)",
        uri, port, ML_VIEW,
    )  # fmt: skip
    # the server and its workers get a process group of their own, stopped as a whole
    # when this process is interrupted or terminated (they used to outlive a SIGTERM)
    proc = subprocess.Popen(cmd, start_new_session=True)

    def interrupted(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    # SIGINT too: a process started in the background inherits SIGINT ignored, and
    # Python then installs no KeyboardInterrupt of its own
    previous = {s: signal.signal(s, interrupted) for s in (signal.SIGTERM, signal.SIGINT)}
    try:
        return proc.wait()
    except KeyboardInterrupt:
        _stop_group(proc)
        return 0
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _stop_group(proc: subprocess.Popen) -> None:
    """SIGTERM to the whole process group, SIGKILL to what is left after 10 s."""
    for sig, wait in ((signal.SIGTERM, 10.0), (signal.SIGKILL, 5.0)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(timeout=wait)
        except subprocess.TimeoutExpired:
            continue
        try:  # the leader is gone; its workers may not be
            os.killpg(proc.pid, 0)
        except ProcessLookupError:
            return

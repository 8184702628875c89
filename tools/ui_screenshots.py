"""Screenshots of the MLflow UI on a gensemble tracking store, in headless Chromium.

Starts ``mlflow server`` on the store (127.0.0.1, a free port), then captures the runs
table of an experiment and the page of one run as PNG files - to check by eye what a
user sees (model-training view, run names, Dataset column, tags, metrics).  Needs the
Debian ``chromium`` package; not part of CI.

    python tools/ui_screenshots.py --uri sqlite:///mlflow.db [--experiment gensemble]
        [--run RUN_ID] [--out screenshots/]
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import mlflow

from gensemble.core.tracking import ML_VIEW


def chromium() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        found = shutil.which(name)
        if found:
            return found
    sys.exit("no Chromium found: apt-get install chromium")


def shoot(browser: str, url: str, out: Path, size: str = "1600,1000") -> None:
    subprocess.run(
        [
            browser, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
            f"--window-size={size}", "--virtual-time-budget=15000",
            f"--screenshot={out}", url,
        ],
        check=True, capture_output=True, timeout=120,
    )  # fmt: skip
    print(f"{out}: {url}")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--uri", default="sqlite:///mlflow.db")
    ap.add_argument("--experiment", default="gensemble")
    ap.add_argument("--run", default=None)
    ap.add_argument("--out", type=Path, default=Path("screenshots"))
    args = ap.parse_args()
    browser = chromium()
    client = mlflow.MlflowClient(args.uri)
    exp = client.get_experiment_by_name(args.experiment)
    if exp is None:
        sys.exit(f"no experiment {args.experiment!r} in {args.uri}")
    run_id = args.run or client.search_runs([exp.experiment_id], max_results=1)[0].info.run_id
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = subprocess.Popen(
        [sys.executable, "-m", "mlflow", "server", "--backend-store-uri", args.uri,
         "--host", "127.0.0.1", "--port", str(port)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(120):
            try:
                urllib.request.urlopen(base + "/health", timeout=1).close()
                break
            except OSError:
                time.sleep(0.5)
        args.out.mkdir(parents=True, exist_ok=True)
        # MLflow 3 opens the GenAI view unless told otherwise (a per-browser setting):
        # gensemble's links ask for the model-training view
        view = f"?workflowType={ML_VIEW}"
        exp_url = f"{base}/#/experiments/{exp.experiment_id}"
        shoot(browser, f"{exp_url}/runs{view}", args.out / "runs.png")
        shoot(browser, f"{exp_url}/runs/{run_id}{view}", args.out / "run.png")
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)


if __name__ == "__main__":
    main()

"""``gensemble sync`` from an offline sqlite store to a local ``mlflow server``.

Builds a source store of --runs runs, each with --points metric points (over 4 keys)
and an equal share of --mb MB of artifacts, starts a server (sqlite backend, local
artifacts) on 127.0.0.1, and times:

* gensemble's sync (metric points in batches of 1000, only what is missing);
* the reference: the same copy made with MLflow's client API one call per point, param,
  tag and artifact (what a hand-written copy script does), on --ref-runs runs of the
  same store, into another experiment of the same server.

Prints runs/s, metric points/s and MB/s of each and the ratio (per run).

    python benchmarks/sync.py [--runs 50] [--points 10000] [--mb 200] [--ref-runs 2]
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import mlflow
from mlflow.entities import Metric, Param, RunTag

from gensemble.sync.stores import sync_stores


def build_source(uri: str, runs: int, points: int, mb: float, tmp: Path) -> list[str]:
    client = mlflow.MlflowClient(uri)
    exp = client.create_experiment("bench", artifact_location=(tmp / "src-art").as_uri())
    per_run = int(mb * 1e6 / runs)
    blob = tmp / "weights.bin"
    blob.write_bytes(os.urandom(per_run))
    ids = []
    for i in range(runs):
        run = client.create_run(exp, run_name=f"run {i}")
        rid = run.info.run_id
        params = [Param(f"p{k}", str(k)) for k in range(30)]
        client.log_batch(rid, params=params, tags=[RunTag("gensemble.domain", "se_france")])
        now = int(time.time() * 1000)
        rows = [Metric(f"loss_{k % 4}", float(k), now + k, k // 4) for k in range(points)]
        for j in range(0, len(rows), 1000):
            client.log_batch(rid, metrics=rows[j : j + 1000])
        client.log_artifact(rid, str(blob), "checkpoints")
        client.set_terminated(rid)
        ids.append(rid)
    return ids


def reference_copy(
    src: mlflow.MlflowClient, dst: mlflow.MlflowClient, ids: list[str], max_points: int
) -> int:
    """One client call per item, as a copy script written against the API does (at most
    ``max_points`` points per metric: at ~20 points/s a whole run takes minutes)."""
    exp = dst.create_experiment("reference")
    n = 0
    with tempfile.TemporaryDirectory() as tmp:
        for rid in ids:
            run = src.get_run(rid)
            new = dst.create_run(exp, run_name=run.info.run_name).info.run_id
            for k, v in run.data.params.items():
                dst.log_param(new, k, v)
            for k, v in run.data.tags.items():
                if not k.startswith("mlflow."):
                    dst.set_tag(new, k, v)
            for key in run.data.metrics:
                for m in src.get_metric_history(rid, key)[:max_points]:
                    dst.log_metric(new, m.key, m.value, m.timestamp, m.step)
                    n += 1
            for art in src.list_artifacts(rid, "checkpoints"):
                local = src.download_artifacts(rid, art.path, tmp)
                dst.log_artifact(new, local, "checkpoints")
            dst.set_terminated(new)
    return n


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=50)
    ap.add_argument("--points", type=int, default=10_000)
    ap.add_argument("--mb", type=float, default=200.0)
    ap.add_argument("--ref-runs", type=int, default=1)
    ap.add_argument("--ref-points", type=int, default=250, help="per metric key")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as t:
        tmp = Path(t)
        src_uri = f"sqlite:///{tmp / 'src.db'}"
        t0 = time.perf_counter()
        ids = build_source(src_uri, args.runs, args.points, args.mb, tmp)
        print(f"source: {args.runs} runs x {args.points} points, {args.mb:.0f} MB "
              f"(built in {time.perf_counter() - t0:.0f} s)")  # fmt: skip
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        server = subprocess.Popen(
            [sys.executable, "-m", "mlflow", "server", "--backend-store-uri",
             f"sqlite:///{tmp / 'dst.db'}", "--artifacts-destination", str(tmp / "dst-art"),
             "--host", "127.0.0.1", "--port", str(port), "--workers", "2"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
        )  # fmt: skip
        url = f"http://127.0.0.1:{port}"
        try:
            for _ in range(120):
                try:
                    urllib.request.urlopen(url + "/health", timeout=1).close()
                    break
                except OSError:
                    time.sleep(0.5)
            t0 = time.perf_counter()
            report = sync_stores(src_uri, url)
            ours = time.perf_counter() - t0
            points = sum(r.points for r in report.runs)
            mb = sum(r.bytes for r in report.runs) / 1e6
            print(
                f"gensemble sync: {ours:.1f} s = {args.runs / ours:.2f} runs/s, "
                f"{points / ours:,.0f} points/s, {mb / ours:.1f} MB/s"
            )
            t0 = time.perf_counter()
            again = sync_stores(src_uri, url)
            print(f"second sync (nothing new): {time.perf_counter() - t0:.1f} s, "
                  f"{sum(r.changed for r in again.runs)} runs changed")  # fmt: skip
            src, dst = mlflow.MlflowClient(src_uri), mlflow.MlflowClient(url)
            sub = ids[: args.ref_runs]
            t0 = time.perf_counter()
            n = reference_copy(src, dst, sub, args.ref_points)
            ref = time.perf_counter() - t0
            print(
                f"reference (one call per item) on {len(sub)} run(s), {n} points: {ref:.1f} s "
                f"= {n / ref:,.0f} points/s"
            )
            print(f"ratio (points/s, gensemble / reference): {(points / ours) / (n / ref):.1f}x")
        finally:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait()


if __name__ == "__main__":
    main()

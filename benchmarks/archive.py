"""Archive enrichment on torchrun: cases per second with 1 and 2 ranks (gloo, one thread
each), peak memory of enrichment and of verification against the number of cases, and
the kill-and-resume check.

Setup: the ``mesoscale`` system at 32x32 (8 members per forecast, 24 h lead) and a
generator of the study's reference widths (z/w 64, channel base 2048, max 64; 2 training
steps: speed does not depend on training).  Per case: the 8 members inverted together
(``--steps`` steps, const noise), N = ``-n`` members generated.  Every run is the command
a user types (``torchrun ... gensemble enrich --dates``), timed wall to wall, start-up
included; its peak RSS is the kernel's accounting of the process and the processes it
waited for (``wait4``: the largest single process).

    python benchmarks/archive.py [--cases 24] [--steps 50] [-n 32] [--repeats 2]
                                 [--memory 2,8,32] [--skip-kill]
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import xarray as xr
import yaml

OPTIONS = {"z_dim": 64, "w_dim": 64, "mapping_layers": 2, "channel_base": 2048,
           "channel_max": 64}  # fmt: skip
FIELDS = ["rr", "u10", "v10", "t2m", "generated", "source_member", "reconstruction_rmse"]


def gensemble(*args: str, ranks: int = 0, threads: int = 1) -> list[str]:
    head = [sys.executable, "-m"]
    if ranks:
        head += ["torch.distributed.run", "--standalone", f"--nproc-per-node={ranks}", "-m"]
    return [*head, "gensemble", *map(str, args)]


def timed(cmd: list[str], threads: int) -> tuple[float, float]:
    """(seconds, peak RSS GB of the largest process) of a command."""
    env = {**os.environ, "OMP_NUM_THREADS": str(threads)}
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    took = time.perf_counter() - t0
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"{' '.join(cmd)} failed: {proc.stderr.read().decode()[-2000:]}")
    return took, usage.ru_maxrss / 2**20  # KiB; the child and its waited-for descendants


def setup(work: Path, dates: int) -> tuple[Path, Path]:
    """The system's store and a checkpoint of the reference network trained 2 steps."""
    subprocess.run(gensemble("data", "synth", "--system", "mesoscale", "-n", dates * 8,
                             "--members", 8, "--size", 32, "--out", work / "sys"),
                   check=True, capture_output=True)  # fmt: skip
    cfg = {"domain": {"name": "se_france", "options": {"ny": 32, "nx": 32}},
           "architecture": {"name": "stylegan2", "options": OPTIONS},
           "training": {"steps": 2, "batch_size": 8},
           "data": {"store": str(work / "sys" / "members.zarr")},
           "tracking": {"uri": f"sqlite:///{work}/mlflow.db", "register_model": False},
           "output_dir": str(work / "runs")}  # fmt: skip
    (work / "exp.yaml").write_text(yaml.safe_dump(cfg))
    subprocess.run(gensemble("train", work / "exp.yaml"), check=True, capture_output=True)
    return work / "sys" / "members.zarr", next(work.glob("runs/*/checkpoints/last.safetensors"))


def enrich_args(ckpt: Path, store: Path, cases: int, steps: int, n: int, out: Path) -> list:
    last = np.datetime64("2021-01-01") + np.timedelta64(cases - 1, "D")
    return ["enrich", ckpt, "--data", store, "--dates", f"2021-01-01..{last}", "-n", n,
            "--steps", steps, "--noise", "const", "--out", out]  # fmt: skip


def kill_writers(archive: Path) -> None:
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                if str(archive).encode() in (proc / "cmdline").read_bytes().split(b"\0"):
                    os.kill(int(proc.name), signal.SIGKILL)
            except (OSError, ProcessLookupError):
                pass


def done(archive: Path) -> int:
    try:
        with xr.open_zarr(archive, consolidated=False) as ds:
            return int((ds["case_done"].values == 1).sum())
    except Exception:  # noqa: BLE001 - not created yet
        return 0


def kill_and_resume(ckpt: Path, store: Path, args: argparse.Namespace, work: Path) -> None:
    ref, run = work / "ref.zarr", work / "run.zarr"
    subprocess.run(gensemble(*enrich_args(ckpt, store, args.cases, args.steps, args.n, ref),
                             ranks=2), check=True, capture_output=True,
                   env={**os.environ, "OMP_NUM_THREADS": "1"})  # fmt: skip
    cmd = gensemble(*enrich_args(ckpt, store, args.cases, args.steps, args.n, run), ranks=2)
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    while done(run) < args.cases // 3:
        time.sleep(0.05)
    kill_writers(run)
    proc.wait()
    before = done(run)
    out = subprocess.run(cmd, env=env, check=True, capture_output=True, text=True).stdout
    with xr.open_zarr(ref, consolidated=False) as a, xr.open_zarr(run, consolidated=False) as b:
        same = all(np.array_equal(a[f].values, b[f].values, equal_nan=True) for f in FIELDS)
        ranks = sorted(set(b["case_rank"].values.ravel().tolist()))
    print(f"\nkill and resume (2 ranks, SIGKILL to torchrun and both ranks): {before} of "
          f"{args.cases} cases done at the kill, {args.cases - before} redone on restart "
          f"({out.strip()}); archive identical to an uninterrupted 2-rank run: {same}; "
          f"ranks that made cases: {ranks}")  # fmt: skip


def precision_check(ckpt: Path, store: Path, steps: int, repeats: int = 3) -> None:
    """One case's 8 members inverted in fp32 and under bf16 autocast: reconstruction RMSE
    per variable (physical units) and the median seconds of ``repeats`` runs, after one
    short warm-up run of each (first calls pay one-time costs)."""
    import statistics

    import torch

    from gensemble.data.store import Store
    from gensemble.enrichment.invert import InversionConfig
    from gensemble.enrichment.pipeline import Enricher
    from gensemble.inference.loaded import LoadedModel

    e = Enricher(LoadedModel(ckpt), prior_draws=2000)
    members = Store(store).read(np.arange(8))
    device = "cuda" if torch.cuda.is_available() else "cpu"
    print(f"\nbf16 against fp32 ({device}; one case of 8 members, {steps} steps, const noise, "
          f"median of {repeats} after a warm-up):")  # fmt: skip
    for precision in ("fp32", "bf16"):
        e.invert(members, InversionConfig(steps=2, tol=0, precision=precision), None)
    for precision in ("fp32", "bf16"):
        took = []
        for _ in range(repeats):
            t0 = time.perf_counter()
            cfg = InversionConfig(steps=steps, tol=0, precision=precision)
            inv = e.invert(members, cfg, None)
            took.append(time.perf_counter() - t0)
        rmse = e.rmse(members, inv).mean(0)
        cells = ", ".join(f"{v} {r:.4f}" for v, r in zip(e.loaded.variables, rmse, strict=True))
        print(f"  {precision}: reconstruction RMSE {cells}; {statistics.median(took):.2f} s")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--cases", type=int, default=24)
    ap.add_argument("--steps", type=int, default=50)
    ap.add_argument("-n", type=int, default=32)
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--memory", default="2,8,32")
    ap.add_argument("--skip-kill", action="store_true")
    ap.add_argument("--skip-speed", action="store_true", help="memory (and kill) only")
    args = ap.parse_args()
    sizes = [int(s) for s in args.memory.split(",")]
    work = Path(tempfile.mkdtemp(prefix="gensemble-archive-"))
    try:
        store, ckpt = setup(work, max(args.cases, *sizes))
        print(f"32x32x4, 8 members per case inverted together, {args.steps} inversion steps "
              f"(const noise), {args.n} members out; {args.cases} cases; medians of "
              f"{args.repeats}; wall time with start-up")  # fmt: skip
        rows = {}
        for label, ranks, threads in [] if args.skip_speed else (("1 rank x 1 thread", 1, 1),
                                      ("2 ranks x 1 thread (gloo)", 2, 1),
                                      ("1 rank x 2 threads", 1, 2)):  # fmt: skip
            times = []
            for r in range(args.repeats):
                out = work / f"a{ranks}{threads}{r}.zarr"
                a = enrich_args(ckpt, store, args.cases, args.steps, args.n, out)
                times.append(timed(gensemble(*a, ranks=ranks), threads)[0])
                shutil.rmtree(out)
            rows[label] = statistics.median(times)
            print(f"  {label:28s} {rows[label]:7.1f} s  {args.cases / rows[label]:.3f} cases/s")
        if rows:
            base = rows["1 rank x 1 thread"]
            two = rows["2 ranks x 1 thread (gloo)"]
            print(
                f"  speed-up of 2 ranks over 1 (one thread each): {base / two:.2f}x; "
                f"over 1 rank x 2 threads: {rows['1 rank x 2 threads'] / two:.2f}x"
            )
        print("\npeak RSS of archive enrichment (1 rank, 10 inversion steps) and of its "
              "verification (gensemble verify, 200 replicates; the archive's member chunk, "
              "then 4 members at a time):")  # fmt: skip
        first: dict[str, float] = {}
        for cases in sizes:
            out = work / f"m{cases}.zarr"
            runs = {"enrich": gensemble(*enrich_args(ckpt, store, cases, 10, args.n, out)),
                    "verify": gensemble("verify", out, "--data", store),
                    "verify, 4 members at once": gensemble("verify", out, "--data", store,
                                                           "--member-chunk", 4)}  # fmt: skip
            for label, cmd in runs.items():
                took, rss = timed(cmd, 2)
                ratio = rss / first.setdefault(label, rss)
                print(f"  {cases:4d} cases, {label:26s} {rss:.3f} GB ({ratio:.3f} of the "
                      f"first), {took:.1f} s")  # fmt: skip
            shutil.rmtree(out)
        precision_check(ckpt, store, args.steps)
        if not args.skip_kill:
            kill_and_resume(ckpt, store, args, work)
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()

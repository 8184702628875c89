"""Peak memory and time of ``gensemble evaluate --event`` against the number of forecasts.

The synthetic Alex forecast (``data synth --event alex``: 8 members, hourly leads over the
window, on a crop of se_france) is copied into stores holding 1, 4 and 16 forecasts of
the event (issued 0, 1, 2 ... hours earlier: the same valid times, other leads).  Each
store is verified with 16 enriched members (2 inversion steps: the inversion's speed is
not what is measured), a held-out member as the truth, 50 bootstrap replicates, by the
command a user types in a process of its own; its peak RSS is the kernel's accounting
(``wait4``).  With ``--before REV`` the same runs use the code of an earlier commit (a
``git worktree``), measured in the same session, for the ratio.

    python benchmarks/event_memory.py [--forecasts 1,4,16] [--ny 64 --nx 128] [--before REV]
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml
import zarr

ROOT = Path(__file__).resolve().parent.parent


def gensemble(code: Path, *args: object) -> tuple[float, float]:
    """(seconds, peak RSS GB) of ``gensemble ARGS`` run from the tree ``code``."""
    env = {**os.environ, "PYTHONPATH": str(code), "OMP_NUM_THREADS": "2"}
    t0 = time.perf_counter()
    cmd = [sys.executable, "-m", "gensemble", *map(str, args)]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            cwd=code)  # fmt: skip
    _, status, usage = os.wait4(proc.pid, 0)
    took = time.perf_counter() - t0
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"gensemble {args} failed: {proc.stderr.read().decode()[-2000:]}")
    return took, usage.ru_maxrss / 2**20


def with_forecasts(base: Path, out: Path, forecasts: int) -> Path:
    """``base`` (one forecast) copied ``forecasts`` times, each issued an hour earlier."""
    shutil.copytree(base, out)
    root = zarr.open_group(str(out), mode="a")
    fields, t, lead, member = (root[k] for k in ("fields", "time", "lead_time", "member"))
    n = fields.shape[0]
    block = (fields[:], t[:], lead[:], member[:])
    for name, arr in zip(("fields", "time", "lead_time", "member"), block, strict=True):
        root[name].resize((n * forecasts, *arr.shape[1:]))
    fields, t, lead, member = (root[k] for k in ("fields", "time", "lead_time", "member"))
    for f in range(forecasts):
        s = slice(f * n, (f + 1) * n)
        fields[s], t[s], lead[s], member[s] = block[0], block[1], block[2] + f, block[3]
    root.attrs["n_samples"] = n * forecasts
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--forecasts", default="1,4,16")
    ap.add_argument("--ny", type=int, default=64)
    ap.add_argument("--nx", type=int, default=128)
    ap.add_argument("--enrich", type=int, default=16)
    ap.add_argument("--before", default=None, help="an earlier commit, measured alike")
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="gensemble-event-memory-"))
    trees = {"this tree": ROOT}
    try:
        if args.before:
            subprocess.run(["git", "worktree", "add", "--detach", str(work / "before"),
                            args.before], cwd=ROOT, check=True, capture_output=True)  # fmt: skip
            trees[f"before ({args.before})"] = work / "before"
        crop = {"row0": 232, "col0": 700, "ny": args.ny, "nx": args.nx}
        opts = [a for k, v in crop.items() for a in ("--opt", f"{k}={v}")]
        gensemble(ROOT, "data", "synth", "--domain", "se_france", *opts, "--event", "alex",
                  "--members", 8, "--out", work / "alex.nc")  # fmt: skip
        gensemble(ROOT, "data", "prepare", work / "alex.nc", "--domain", "se_france", *opts,
                  "--out", work / "alex.zarr")  # fmt: skip
        cfg = {"domain": {"name": "se_france", "options": crop},
               "architecture": {"name": "stylegan2", "options": {
                   "z_dim": 16, "w_dim": 16, "mapping_layers": 2, "channel_base": 256,
                   "channel_max": 16}},
               "training": {"steps": 2, "batch_size": 4},
               "data": {"store": str(work / "alex.zarr")},
               "tracking": {"uri": f"sqlite:///{work}/mlflow.db", "register_model": False},
               "output_dir": str(work / "runs")}  # fmt: skip
        (work / "exp.yaml").write_text(yaml.safe_dump(cfg))
        gensemble(ROOT, "train", work / "exp.yaml")
        ckpt = next(work.glob("runs/*/checkpoints/last.safetensors"))
        sizes = [int(s) for s in args.forecasts.split(",")]
        print(f"evaluate --event alex: {args.ny}x{args.nx}x4, 8 members per forecast (7 raw, 1 "
              f"held out), {args.enrich} enriched, 2 inversion steps, 50 replicates")  # fmt: skip
        for label, code in trees.items():
            first = None
            for f in sizes:
                store = with_forecasts(work / "alex.zarr", work / f"f{f}.zarr", f)
                took, rss = gensemble(code, "evaluate", ckpt, "--event", "alex", "--data",
                                      store, "--enrich", args.enrich, "--steps", 2,
                                      "--rotations", 1, "--bootstrap", 50, "--no-log",
                                      "--report", work / f"r{f}.html")  # fmt: skip
                first = first or rss
                print(f"  {label:24s} {f:3d} forecasts: {rss:.3f} GB ({rss / first:.2f} of "
                      f"1 forecast), {took:.1f} s")  # fmt: skip
                shutil.rmtree(store)
    finally:
        if args.before:
            subprocess.run(["git", "worktree", "remove", "--force", str(work / "before")],
                           cwd=ROOT, capture_output=True)  # fmt: skip
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()

"""Peak memory and time of ``data synth`` and ``data prepare`` against the number of samples.

Each command runs as its own process (the command line a user types), 8 members per date
on se_france's 4x256x256 grid; its peak resident memory comes from the kernel's
accounting of that one child (``wait4``).  Both commands stream (a date, or a block of
whole chunks, at a time), so peak memory should not grow with the number of samples and
time should grow linearly: the ratios printed are against the smallest size, measured in
the same run.

    python benchmarks/data_memory.py [--sizes 512,2048,8192] [--members 8]
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


def run(args: list[str]) -> tuple[float, float]:
    """(seconds, peak RSS in GB) of ``gensemble ARGS`` in a process of its own."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, "-m", "gensemble", *args],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    _, status, usage = os.wait4(proc.pid, 0)
    took = time.perf_counter() - t0
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"gensemble {' '.join(args)} failed: {proc.stderr.read().decode()}")
    return took, usage.ru_maxrss / 2**20  # ru_maxrss is in KiB on Linux


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", default="512,2048,8192")
    ap.add_argument("--members", type=int, default=8)
    ap.add_argument("--domain", default="se_france")
    args = ap.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    work = Path(tempfile.mkdtemp(prefix="gensemble-data-memory-"))
    rows = []
    try:
        for n in sizes:
            raw, store = work / f"raw{n}.nc", work / f"store{n}.zarr"
            synth = run(["data", "synth", "--domain", args.domain, "-n", str(n),
                         "--members", str(args.members), "--out", str(raw)])  # fmt: skip
            prep = run(["data", "prepare", str(raw), "--domain", args.domain,
                        "--out", str(store)])  # fmt: skip
            rows.append((n, synth, prep, raw.stat().st_size / 2**30))
            raw.unlink()
            shutil.rmtree(store)
            (_, s, p, size) = rows[-1]
            print(
                f"{n:6d} samples: synth {s[0]:7.1f} s {s[1]:5.2f} GB | "
                f"prepare {p[0]:7.1f} s {p[1]:5.2f} GB | file {size:.2f} GB",
                flush=True,
            )
    finally:
        shutil.rmtree(work, ignore_errors=True)
    n0, s0, p0, _ = rows[0]
    print(f"\nagainst {n0} samples (x samples: time per sample ratio, peak memory ratio)")
    for n, s, p, _ in rows[1:]:
        k = n / n0
        print(f"  {n:6d} (x{k:g}): synth time/sample {s[0] / k / s0[0]:.2f}, "
              f"memory {s[1] / s0[1]:.2f} | prepare time/sample {p[0] / k / p0[0]:.2f}, "
              f"memory {p[1] / p0[1]:.2f}")  # fmt: skip


if __name__ == "__main__":
    main()

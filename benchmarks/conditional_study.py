"""Inversion vs conditional sampling vs generative post-processing, with the resampling
control, the raw ensemble and the oracle: ``benchmarks/studies/conditional.yaml`` on the
``mesoscale`` system, then ``conditional_underdispersive.yaml`` on the system whose truth
is 1.3x wider than its members.

The two systems draw the same members (same seed, same member law), so the second study
reuses the first one's inversion generator and emulating conditional generator (neither
ever sees a truth) and trains only its post-processed generator, on its own truth.  Each
study prints its tables and its answer; the JSON and HTML reports are in the output
folders.  On this 2-core CPU: about 50 min, then about 30 min.

    python benchmarks/conditional_study.py [--only first|second] [--threads 2]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import yaml

HERE = Path(__file__).parent / "studies"


def run(config: Path, threads: int) -> float:
    env = {**os.environ, "OMP_NUM_THREADS": str(threads)}
    t0 = time.perf_counter()
    cmd = [sys.executable, "-m", "gensemble", "study", str(config), "--no-tracking"]
    subprocess.run(cmd, check=True, env=env)
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--only", choices=["first", "second"])
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    first = HERE / "conditional.yaml"
    out_first = Path(yaml.safe_load(first.read_text())["output"])
    if args.only != "second":
        print(f"study 1 took {run(first, args.threads) / 60:.1f} min")
    if args.only == "first":
        return
    cfg = yaml.safe_load((HERE / "conditional_underdispersive.yaml").read_text())
    cfg["model"]["ref"] = json.loads((out_first / "generator.json").read_text())["checkpoint"]
    emulator = json.loads((out_first / "generator-conditional.json").read_text())["checkpoint"]
    for m in cfg["methods"]:
        if m["name"] == "conditional":
            m["ref"] = emulator
    second = Path(cfg["output"] + ".yaml")
    second.write_text(yaml.safe_dump(cfg))
    print(f"study 2 took {run(second, args.threads) / 60:.1f} min")


if __name__ == "__main__":
    main()

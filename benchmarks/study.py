"""Reference study (``make study``): do StyleGAN forecasts add skill on a system whose law
is known?  Generator training included, on this CPU in at most 45 min.

Runs ``gensemble study`` on its built-in reference configuration (the ``mesoscale``
system at 32x32, 96 dates of 8 members: 60 train, 12 calibrate, 24 test; raw 8 enlarged
to 120), prints the score tables and the answer, and then the time per enriched member
per inversion step of the same network at 32x32 and 64x64 (medians; batched over 8
members, as the study inverts them).

    python benchmarks/study.py [--out study-reference] [--system mesoscale] [--seed 0]
                               [--threads 2] [--repeats 5] [--timing-only]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

import torch  # noqa: E402
from _timing import median_time  # noqa: E402

from gensemble.enrichment.invert import InversionConfig, invert  # noqa: E402
from gensemble.enrichment.latents import prior  # noqa: E402
from gensemble.inference.loaded import build_model  # noqa: E402
from gensemble.study.config import StudyConfig  # noqa: E402

VARIABLES = ["rr", "u10", "v10", "t2m"]


def inversion_step_times(size: int, members: int, repeats: int) -> tuple[float, float]:
    """Seconds per member per inversion step at size x size: batched, and one by one."""
    options = StudyConfig(system={}).model.architecture["options"]
    torch.manual_seed(0)
    model = build_model("stylegan2", options, [4, size, size]).eval()
    pri = prior(model, 2000)
    with torch.no_grad():
        targets = model.synthesize(model.map_z(torch.randn(members, model.z_dim)), "zero")

    def step(batch: int, noise: str = "random") -> None:
        cfg = InversionConfig(steps=10, tol=0, batch=batch, noise=noise)
        invert(model, targets[:batch], VARIABLES, pri, cfg)

    batched = median_time(lambda: step(members), repeats, 1) / (10 * members)
    single = median_time(lambda: step(1), repeats, 1) / 10
    return batched, single


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default="study-reference")
    ap.add_argument("--system", default="mesoscale")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--timing-only", action="store_true")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    if not args.timing_only:
        cmd = [
            sys.executable, "-m", "gensemble", "study",
            "--set", f"output={args.out}",
            "--set", f"system.name={args.system}",
            "--set", f"system.seed={args.seed}",
            "--set", f"seed={args.seed}",
            "--set", f"tracking.uri=sqlite:///{Path(args.out).resolve()}/mlflow.db",
        ]  # fmt: skip
        Path(args.out).mkdir(parents=True, exist_ok=True)
        t0 = time.perf_counter()
        subprocess.run(cmd, check=True)
        print(f"\nreference study: {(time.perf_counter() - t0) / 60:.1f} min wall, "
              f"generator training included")  # fmt: skip
    print(f"\ninversion, CPU {args.threads} threads, medians of {args.repeats} x 10 steps:")
    for size in (32, 64):
        batched, single = inversion_step_times(size, 8, args.repeats)
        print(
            f"  {size}x{size}: {1e3 * batched:.2f} ms per member per step batched x8, "
            f"{1e3 * single:.2f} ms one by one (ratio {single / batched:.2f}); "
            f"8 members x 200 steps: {8 * 200 * batched:.1f} s"
        )


if __name__ == "__main__":
    main()

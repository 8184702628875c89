"""Training-step throughput and host synchronisations per step, against a baseline tree.

Measures steps/s of the architectures' training step at batch 4 and 16 on this CPU
(stylegan2 at 64x64x4, stylegan3 at 32x32x4, small channel counts so a step is well
under a second), as the training loop drives it: statistics read once per ``--log-every``
steps.  Host synchronisations are the calls that make a GPU stream wait for the host
(``Tensor.item``, ``float``/``int``/``bool`` of a tensor, ``tolist``, ``numpy``),
counted during the steps themselves when gensemble's own code makes them: torch's Adam
reads its step counter with ``item`` on a host tensor, and ``BatchRandom.uniform`` draws
from a host generator, neither of which waits for a GPU.

With ``--baseline REV`` the same measurement runs on that git revision too (a temporary
worktree, in a subprocess, interleaved with this tree's runs) and the ratio is printed:
this is how "no regression" is measured side by side.

    python benchmarks/gan_step.py [--baseline c597a9d] [--threads 2] [--repeats 3]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
CASES = {
    "stylegan2": ([4, 64, 64], {"channel_base": 2048, "channel_max": 64, "z_dim": 64,
                                "w_dim": 64}),
    "stylegan3": ([4, 32, 32], {"channel_base": 512, "channel_max": 32, "num_layers": 6,
                                "z_dim": 32, "w_dim": 32, "d_channel_base": 512,
                                "d_channel_max": 32}),
}  # fmt: skip
SYNC_METHODS = ("item", "__float__", "__int__", "__bool__", "tolist", "numpy")


@contextlib.contextmanager
def count_syncs(counter: list[int]):  # noqa: ANN201
    saved = {m: getattr(torch.Tensor, m) for m in SYNC_METHODS}

    def wrap(fn):  # noqa: ANN001, ANN202
        def inner(*a, **k):  # noqa: ANN002, ANN003, ANN202
            code = sys._getframe(1).f_code
            if "gensemble" in code.co_filename and code.co_name != "uniform":
                counter[0] += 1
            return fn(*a, **k)

        return inner

    try:
        for m, fn in saved.items():
            setattr(torch.Tensor, m, wrap(fn))
        yield
    finally:
        for m, fn in saved.items():
            setattr(torch.Tensor, m, fn)


def _read(logs: dict) -> dict[str, float]:
    return {k: float(v) for k, v in logs.items()}


def measure(arch: str, batch: int, steps: int, log_every: int) -> dict[str, float]:
    """One timed run of ``steps`` training steps (after 2 warm-up steps)."""
    from gensemble.api.model import BatchRandom, StepContext
    from gensemble.core.registry import get_registry

    shape, extra = CASES[arch]
    options = dict(get_registry().get("architecture", arch).tiny_options, **extra)
    torch.manual_seed(0)
    model = get_registry().get("architecture", arch)(options).build(*shape)
    opts = model.make_optimizers()
    rand = BatchRandom(1)
    real = torch.randn(batch, *shape)

    def step(i: int) -> dict:
        ctx = StepContext(step=i, rand=rand, global_batch=batch, sync=lambda m: None)
        return model.train_step(real, ctx, opts)

    for i in range(2):
        _read(step(i))
    syncs = [0]
    pending: list[dict] = []
    t0 = time.perf_counter()
    for i in range(2, 2 + steps):
        with count_syncs(syncs):
            pending.append(step(i))
        if len(pending) == log_every:  # what the loop's logger reads
            [_read(p) for p in pending]
            pending.clear()
    t = time.perf_counter() - t0
    return {"steps_per_s": steps / t, "syncs_per_step": syncs[0] / steps}


def worker(args: argparse.Namespace) -> None:
    torch.set_num_threads(args.threads)
    out = measure(args.arch, args.batch, args.steps, args.log_every)
    print(json.dumps(out))


def run_tree(tree: Path | None, arch: str, batch: int, args: argparse.Namespace) -> dict:
    env = dict(os.environ)
    if tree is not None:
        env["PYTHONPATH"] = str(tree) + os.pathsep + env.get("PYTHONPATH", "")
    cmd = [sys.executable, __file__, "--worker", "--arch", arch, "--batch", str(batch),
           "--steps", str(args.steps), "--log-every", str(args.log_every),
           "--threads", str(args.threads)]  # fmt: skip
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--baseline", default=None, help="git revision measured side by side")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--steps", type=int, default=16, help="timed steps (multiple of 4 and 16)")
    ap.add_argument("--log-every", type=int, default=8)
    ap.add_argument("--batches", default="4,16")
    ap.add_argument("--archs", default="stylegan2,stylegan3")
    ap.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--arch", default="stylegan2", help=argparse.SUPPRESS)
    ap.add_argument("--batch", type=int, default=4, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        return worker(args)
    print(f"CPU, {args.threads} threads, {args.steps} steps per run, medians of {args.repeats}")
    with contextlib.ExitStack() as stack:
        base = None
        if args.baseline:
            base = Path(stack.enter_context(tempfile.TemporaryDirectory())) / "tree"
            subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", str(base),
                            args.baseline], check=True, capture_output=True)  # fmt: skip
            stack.callback(subprocess.run, ["git", "-C", str(ROOT), "worktree", "remove",
                                            "--force", str(base)], capture_output=True)  # fmt: skip
        for arch in args.archs.split(","):
            for batch in (int(b) for b in args.batches.split(",")):
                runs: dict[str, list[dict]] = {"this tree": [], "baseline": []}
                for _ in range(args.repeats):  # interleaved, so load affects both alike
                    runs["this tree"].append(run_tree(None, arch, batch, args))
                    if base is not None:
                        runs["baseline"].append(run_tree(base, arch, batch, args))
                line = f"{arch} batch {batch:2d}:"
                rates = {}
                for label, rs in runs.items():
                    if not rs:
                        continue
                    rates[label] = statistics.median(r["steps_per_s"] for r in rs)
                    syncs = statistics.median(r["syncs_per_step"] for r in rs)
                    line += f"  {label} {rates[label]:.3f} steps/s, {syncs:.2f} host syncs/step;"
                if len(rates) == 2:
                    line += f"  ratio {rates['this tree'] / rates['baseline']:.3f}x"
                print(line, flush=True)


if __name__ == "__main__":
    main()

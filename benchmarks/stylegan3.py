"""stylegan3 (config T) at 256x256x4: generator images/s and training images/s.

The generator runs the default networks (14 layers, 512 channels at most, 28 M-class
parameters) with each kernel path: ``reference`` (zero stuffing, the definition) and
``fast`` (polyphase, the CPU default), plus ``triton`` on a GPU; the ratio is against the
reference path measured in the same run.  Training: full steps (G and D, lazy R1) with the
default path.  The anchor on this 2-core CPU is NVIDIA's implementation with its
reference ops: 0.047 images/s (config T, 256x256x4, batch 4, 2 threads).  The reference
path runs at --ref-batch (1: its materialised intermediates need tens of GB at batch 4).

    python benchmarks/stylegan3.py [--batch 4] [--threads 2] [--repeats 3] [--device cpu]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

import torch  # noqa: E402
from _timing import median_time  # noqa: E402

from gensemble.api.model import BatchRandom, StepContext  # noqa: E402
from gensemble.core.registry import get_registry  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--batch", type=int, default=4)
    ap.add_argument("--ref-batch", type=int, default=1, help="batch of the reference path")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--size", type=int, default=256)
    ap.add_argument("--train-steps", type=int, default=2)
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    dev = torch.device(args.device)
    name = torch.cuda.get_device_name(dev) if dev.type == "cuda" else f"CPU, {args.threads} threads"
    sync = torch.cuda.synchronize if dev.type == "cuda" else (lambda: None)
    plugin = get_registry().get("architecture", "stylegan3")
    print(f"device: {name}; {args.size}x{args.size}x4, batch {args.batch}")
    rates = {}
    impls = ["reference", "fast"] + (["triton"] if dev.type == "cuda" else [])
    for impl in impls:
        torch.manual_seed(0)
        model = plugin({"kernels": impl}).build(4, args.size, args.size).to(dev)
        if impl == impls[0]:
            n_g = sum(p.numel() for p in model.G.parameters())
            print(f"G parameters: {n_g / 1e6:.1f} M")
        batch = args.ref_batch if impl == "reference" else args.batch
        z = torch.randn(batch, 512, device=dev)

        def gen(m=model, z=z) -> None:
            with torch.no_grad():
                m.G_ema.synthesis(m.G_ema.ws_from_z(z))
            sync()

        t = median_time(gen, args.repeats, 1)
        rates[impl] = batch / t
        print(
            f"generator [{impl:9s}] batch {batch}: {rates[impl]:7.3f} images/s "
            f"({rates[impl] / rates['reference']:.2f}x reference, "
            f"{rates[impl] / 0.047:.2f}x NVIDIA reference ops on this CPU)"
        )
    model = plugin({}).build(4, args.size, args.size).to(dev)
    opt = model.make_optimizers()
    real = torch.randn(args.batch, 4, args.size, args.size, device=dev)
    step = {"k": 0}
    ctx = StepContext(0, BatchRandom(0, device=dev), args.batch, lambda m: None)

    def train() -> None:
        ctx.step = step["k"]
        model.train_step(real, ctx, opt)
        step["k"] += 1
        sync()

    t = median_time(train, args.train_steps, 1)
    print(f"training [default]  {args.batch / t:7.3f} images/s ({t:.2f} s/step, R1 every 16)")
    if dev.type == "cuda":
        print(f"peak GPU memory: {torch.cuda.max_memory_allocated(dev) / 2**30:.2f} GiB")


if __name__ == "__main__":
    main()

"""stylegan3 (config T) at 256x256x4: generator images/s side by side, and training images/s.

The generator runs the default networks (14 layers, 512 channels at most) with each of
our kernel paths: ``reference`` (zero stuffing, the definition) and ``fast`` (polyphase,
the CPU default), plus ``triton`` on a GPU.  With ``--nvidia DIR`` (a checkout of
NVlabs/stylegan3; its code is never part of gensemble) NVIDIA's generator with its
reference ops - what runs on a CPU - is built with the same configuration and timed in
the same process, so the ratio compares like with like.  Each path's share of this
machine's matmul rate is its counted FLOPs (convolutions and matmuls, at batch 1) per
second over the rate of a large float32 matrix product measured in the same run.  Our
reference path runs at --ref-batch (1: its materialised intermediates need tens of GB at
batch 4).  Training: full steps (G and D, lazy R1) with the default path.

    python benchmarks/stylegan3.py [--batch 4] [--threads 2] [--repeats 3] [--nvidia DIR]
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

import torch  # noqa: E402
from _timing import median_time  # noqa: E402
from torch.utils.flop_counter import FlopCounterMode  # noqa: E402

from gensemble.api.model import BatchRandom, StepContext  # noqa: E402
from gensemble.core.registry import get_registry  # noqa: E402

Synth = Callable[[torch.Tensor], torch.Tensor]


def matmul_rate(dev: torch.device, sync: Callable[[], None], n: int = 2048) -> float:
    """float32 FLOP/s of an n x n matrix product (the machine's practical peak)."""
    a, b = torch.randn(n, n, device=dev), torch.randn(n, n, device=dev)

    def mm() -> None:
        a @ b
        sync()

    return 2 * n**3 / median_time(mm, 10, 3)


def counted_flops(synth: Synth, dev: torch.device) -> float:
    """FLOPs of one image (convolutions and matrix products; elementwise work not counted)."""
    counter = FlopCounterMode(display=False)
    with torch.no_grad(), counter:
        synth(torch.randn(1, 512, device=dev))
    return float(counter.get_total_flops())


def ours(impl: str, size: int, dev: torch.device) -> Synth:
    torch.manual_seed(0)
    plugin = get_registry().get("architecture", "stylegan3")
    model = plugin({"kernels": impl}).build(4, size, size).to(dev)
    return lambda z: model.G_ema.synthesis(model.G_ema.ws_from_z(z))


def nvidia(root: Path, size: int, dev: torch.device) -> Synth:
    """NVIDIA's config-T generator (z, w 512; mapping 2 layers; channel base 32768, max 512)."""
    sys.path.insert(0, str(root))
    from training.networks_stylegan3 import Generator  # type: ignore[import-not-found]

    torch.manual_seed(0)
    g = Generator(z_dim=512, c_dim=0, w_dim=512, img_resolution=size, img_channels=4).to(dev)
    g.eval()
    return lambda z: g.synthesis(g.mapping(z, None), noise_mode="const")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--batch", type=int, default=4)
    ap.add_argument("--ref-batch", type=int, default=1, help="batch of our reference path")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--size", type=int, default=256)
    ap.add_argument("--train-steps", type=int, default=2)
    ap.add_argument("--nvidia", type=Path, default=None, help="a checkout of NVlabs/stylegan3")
    ap.add_argument("--skip-reference", action="store_true", help="leave our reference path out")
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    dev = torch.device(args.device)
    name = torch.cuda.get_device_name(dev) if dev.type == "cuda" else f"CPU, {args.threads} threads"
    sync = torch.cuda.synchronize if dev.type == "cuda" else (lambda: None)
    print(f"device: {name}; {args.size}x{args.size}x4, batch {args.batch}")
    peak = matmul_rate(dev, sync)
    print(f"matmul rate (2048^2 float32): {peak / 1e9:.1f} GFLOP/s")

    paths: dict[str, tuple[Synth, int]] = {}
    if args.nvidia is not None:
        paths["nvidia-ref"] = (nvidia(args.nvidia, args.size, dev), args.batch)
    if not args.skip_reference:
        paths["reference"] = (ours("reference", args.size, dev), args.ref_batch)
    paths["fast"] = (ours("fast", args.size, dev), args.batch)
    if dev.type == "cuda":
        paths["triton"] = (ours("triton", args.size, dev), args.batch)
    rates: dict[str, float] = {}
    for label, (synth, batch) in paths.items():
        z = torch.randn(batch, 512, device=dev)

        def gen(s: Synth = synth, z: torch.Tensor = z) -> None:
            with torch.no_grad():
                s(z)
            sync()

        rates[label] = batch / median_time(gen, args.repeats, 1)
        flops = counted_flops(synth, dev)
        share = flops * rates[label] / peak
        ratios = ", ".join(f"{rates[label] / r:.2f}x {k}" for k, r in rates.items() if k != label)
        print(
            f"generator [{label:10s}] batch {batch}: {rates[label]:7.3f} images/s, "
            f"{flops / 1e9:.0f} GFLOP/image, {share:.0%} of the matmul rate"
            + (f" ({ratios})" if ratios else "")
        )
    if "nvidia-ref" in rates:
        print(f"fast / NVIDIA reference ops, same run: {rates['fast'] / rates['nvidia-ref']:.2f}x")
    train(args, dev, sync)


def train(args: argparse.Namespace, dev: torch.device, sync: Callable[[], None]) -> None:
    if args.train_steps <= 0:
        return
    plugin = get_registry().get("architecture", "stylegan3")
    model = plugin({}).build(4, args.size, args.size).to(dev)
    opt = model.make_optimizers()
    real = torch.randn(args.batch, 4, args.size, args.size, device=dev)
    step = {"k": 0}
    ctx = StepContext(0, BatchRandom(0, device=dev), args.batch, lambda m: None)

    def one() -> None:
        ctx.step = step["k"]
        model.train_step(real, ctx, opt)
        step["k"] += 1
        sync()

    t = median_time(one, args.train_steps, 1)
    print(f"training [default]  {args.batch / t:7.3f} images/s ({t:.2f} s/step, R1 every 16)")
    if dev.type == "cuda":
        print(f"peak GPU memory: {torch.cuda.max_memory_allocated(dev) / 2**30:.2f} GiB")


if __name__ == "__main__":
    main()

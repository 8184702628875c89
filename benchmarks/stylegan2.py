"""StyleGAN2 benchmark at 256x256x4 on CPU: generator forward and full training steps.

Prints parameter counts, FLOPs per generated image (torch.utils.flop_counter), images/s
and achieved GFLOP/s beside a plain float32 matmul's GFLOP/s measured in the same run,
for the first release's generator (up-sample then convolve, NCHW: the reference, which
ran at 0.96x NVIDIA's StyleGAN2-ADA in the issue's measurement) and today's default
(transposed convolution + FIR, channels_last), with their ratio.  Medians over --repeats.

    python benchmarks/stylegan2.py [--threads 2] [--batches 4,16] [--repeats 3]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

import torch  # noqa: E402
from _timing import median_time  # noqa: E402
from torch.utils.flop_counter import FlopCounterMode  # noqa: E402

from gensemble.api.model import BatchRandom, StepContext  # noqa: E402
from gensemble.core.registry import get_registry  # noqa: E402


def matmul_gflops(repeats: int) -> float:
    a, b = torch.randn(2048, 2048), torch.randn(2048, 2048)
    t = median_time(lambda: a @ b, repeats=repeats * 3, warmup=2)
    return 2 * 2048**3 / t / 1e9


def peak_rss_gb() -> float:
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6


def generator(model, args, peak: float, label: str) -> dict:  # noqa: ANN001
    gen = torch.Generator().manual_seed(0)
    with FlopCounterMode(display=False) as fc, torch.no_grad():
        model.sample(1, gen)
    flops = fc.get_total_flops()
    print(f"{label}: generator forward {flops / 1e9:.2f} GFLOP per image")
    rates = {}
    for b in [int(x) for x in args.batches.split(",")]:
        with torch.no_grad():
            t = median_time(lambda b=b: model.sample(b, gen), args.repeats, 1)
        rate = flops * b / t / 1e9
        rates[b] = b / t
        print(
            f"  batch {b:3d}: {b / t:6.2f} images/s, {rate:6.1f} GFLOP/s = "
            f"{100 * rate / peak:4.1f}% of matmul"
        )
    return {"flops": flops, "rates": rates}


def members_to_netcdf(model, n: int) -> None:  # noqa: ANN001
    """End to end: generate n members in batches of 16 and stream them into CF netCDF."""
    import tempfile
    import time

    from gensemble.data.cf import MemberWriter

    grid = get_registry().get("domain", "se_france")().grid()
    names, units = ["rr", "u10", "v10", "t2m"], ["mm/h", "m/s", "m/s", "K"]
    gen = torch.Generator().manual_seed(0)
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        with MemberWriter(Path(tmp) / "m.nc", grid, names, units, {}, n) as writer:
            for start in range(0, n, 16):
                writer.write(start, model.sample(16, gen).numpy())
        t = time.perf_counter() - t0
    print(f"generation to CF netCDF: {n / t:.2f} members/s end to end ({n} members, 256x256x4)")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--batches", default="4,16")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--train-batches", default="4")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    plugin = get_registry().get("architecture", "stylegan2")
    peak = matmul_gflops(args.repeats)
    print(f"CPU, {args.threads} threads; float32 matmul 2048^3: {peak:.1f} GFLOP/s")
    results = {}
    for mode, layout, label in (
        ("resample_conv", False, "reference: first release (up-sample then convolve, NCHW)"),
        ("transposed", True, "default: transposed conv + FIR, channels_last"),
    ):
        torch.manual_seed(0)
        model = plugin({"upsample": mode, "channels_last": layout}).build(4, 256, 256)
        if mode == "transposed":
            n_g = sum(p.numel() for p in model.G.parameters())
            n_d = sum(p.numel() for p in model.D.parameters())
            print(f"G {n_g / 1e6:.2f} M params, D {n_d / 1e6:.2f} M params")
        results[mode] = generator(model, args, peak, label)
    ref, new = results["resample_conv"], results["transposed"]
    print(f"FLOPs per image: {new['flops'] / ref['flops']:.2f} x the reference")
    for b in new["rates"]:
        print(f"  batch {b:3d}: {new['rates'][b] / ref['rates'][b]:.2f} x the reference images/s")
    members_to_netcdf(model, 64)
    opt = model.make_optimizers()
    for b in [int(x) for x in args.train_batches.split(",") if x.strip() and int(x) > 0]:
        real = torch.randn(b, 4, 256, 256)
        for label, step in (("no regularisation", 1), ("with lazy R1 + path length", 0)):
            # step 0 is a multiple of both lazy intervals (R1 and PL run), step 1 of neither
            ctx = StepContext(step, BatchRandom(0), b, lambda m: None)
            t = median_time(lambda c=ctx, r=real: model.train_step(r, c, opt), args.repeats, 1)
            print(f"  train step batch {b:3d} ({label}): {t:6.2f} s, {b / t:5.2f} images/s")
    print(f"peak resident memory of the process: {peak_rss_gb():.2f} GB")


if __name__ == "__main__":
    main()

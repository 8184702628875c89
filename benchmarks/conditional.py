"""Members per second of a StyleGAN forecast, two ways, for one forecast of M members
enlarged to N: conditional sampling (K seeds -> N members, one forward pass each) against
inversion-based enrichment (M inversions of S steps, then N perturbed syntheses), its
inversion steps included.

Both networks have the same widths (the study's reference network: z/w 64, channel base
2048, max 64, at 32x32 and 256x256; weights are random - speed does not depend on
training).  An inversion step costs the same at every step, so the inversion is timed over
``--measure-steps`` steps (median of ``--repeats``) and scaled to ``--steps`` (the enrich
default 1000); the scaling is printed.  The device is printed; ``--device cuda`` gives the
GPU figures where there is one.

    python benchmarks/conditional.py [--sizes 32,256] [--members 16] [-n 120] [--steps 1000]
                                     [--measure-steps 10] [--repeats 3] [--threads 2]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

import torch  # noqa: E402
from _timing import median_time  # noqa: E402

from gensemble.enrichment.invert import InversionConfig, invert  # noqa: E402
from gensemble.enrichment.latents import prior  # noqa: E402
from gensemble.enrichment.perturb import PerturbConfig, perturb, resolve_rows  # noqa: E402
from gensemble.inference.loaded import build_model  # noqa: E402

OPTIONS = {"z_dim": 64, "w_dim": 64, "mapping_layers": 2, "channel_base": 2048,
           "channel_max": 64}  # fmt: skip
VARIABLES = ["rr", "u10", "v10", "t2m"]


def bench(size: int, m: int, n: int, steps: int, measure: int, repeats: int, device) -> None:  # noqa: ANN001
    torch.manual_seed(0)
    inv_model = build_model("stylegan2", OPTIONS, [4, size, size]).to(device).eval()
    cond_model = build_model("stylegan2_cond", {**OPTIONS, "condition_channels": 64},
                             [4, size, size]).to(device).eval()  # fmt: skip
    with torch.no_grad():
        members = inv_model.synthesize(inv_model.map_z(torch.randn(m, 64).to(device)), "zero")
    pri = prior(inv_model, 2000)
    k = cond_model.condition_spec().seeds

    def conditional() -> None:
        cond_model.sample_conditional(n, members[:k], torch.Generator().manual_seed(1), device)

    def inversion() -> None:
        cfg = InversionConfig(steps=measure, tol=0, batch=m, noise="const")
        invert(inv_model, members, VARIABLES, pri, cfg)

    plan = resolve_rows(PerturbConfig(), inv_model.style_levels())
    ws_in = inv_model.map_z(torch.randn(m, 64).to(device)).detach().cpu()

    @torch.no_grad()
    def synthesis() -> None:
        ws, _ = perturb(ws_in, n, plan, pri, PerturbConfig(), True)
        for i in range(0, n, 16):
            inv_model.synthesize(ws[i : i + 16].to(device), "zero")

    t_cond = median_time(conditional, repeats, 1)
    t_inv = median_time(inversion, repeats, 1) / measure
    t_syn = median_time(synthesis, repeats, 1)
    t_enrich = t_inv * steps + t_syn
    print(f"\n{size}x{size}x4, one forecast: {m} members in, {n} out")
    print(f"  conditional ({k} seeds): {t_cond:8.3f} s  -> {n / t_cond:9.1f} members/s")
    print(f"  inversion: {t_inv * 1000:.1f} ms per step for all {m} members (batched), "
          f"x {steps} steps = {t_inv * steps:.1f} s; + {t_syn:.3f} s synthesis of {n}")  # fmt: skip
    print(f"  inversion-based enrichment: {t_enrich:8.1f} s  -> {n / t_enrich:9.3f} members/s")
    print(f"  ratio conditional / inversion (members/s): {t_enrich / t_cond:.0f}x; "
          f"synthesis alone (no inversion) {n / t_syn:.1f} members/s")  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", default="32,256")
    ap.add_argument("--members", type=int, default=16)
    ap.add_argument("-n", type=int, default=120)
    ap.add_argument("--steps", type=int, default=1000)
    ap.add_argument("--measure-steps", type=int, default=10)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--device", default="cpu")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "CPU"
    print(f"{name}, {args.threads} threads; medians of {args.repeats}; inversion timed over "
          f"{args.measure_steps} steps and scaled to {args.steps}")  # fmt: skip
    for size in map(int, args.sizes.split(",")):
        bench(size, args.members, args.n, args.steps, args.measure_steps, args.repeats, device)


if __name__ == "__main__":
    main()

"""Enrichment benchmark: inversion seconds per member, batched vs one member at a time,
and generated members per second, for the demo-size and the default StyleGAN2 at
256x256x4.

A whole inversion of 1000 steps of the default network does not fit a CPU benchmark, so
the median time of one inversion step is measured (after a warm-up) and multiplied by
200/500/1000 steps; a step's cost does not depend on the step.  On a GPU (``--device
cuda``) the same script gives the GPU figures; the device is printed.

    python benchmarks/enrich.py [--threads 2] [--repeats 3] [--device cpu]
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

NETWORKS = {
    "demo (channel_max 64)": {
        "z_dim": 64,
        "w_dim": 64,
        "mapping_layers": 4,
        "channel_base": 2048,
        "channel_max": 64,
    },
    "default (channel_max 512)": {},
}
VARIABLES = ["rr", "u10", "v10", "t2m"]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--members", default="16,4", help="batched members: demo, default net")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "CPU"
    print(f"{name}, {args.threads} threads; fields 4x256x256; medians of {args.repeats}")
    for (label, options), m in zip(
        NETWORKS.items(), map(int, args.members.split(",")), strict=True
    ):
        bench_network(label, options, m, args.repeats, device)


def bench_network(label: str, options: dict, m: int, repeats: int, device: torch.device) -> None:
    torch.manual_seed(0)
    model = build_model("stylegan2", options, [4, 256, 256]).to(device).eval()
    pri = prior(model, 2000)
    z = torch.randn(m, model.z_dim).to(device)
    with torch.no_grad():
        targets = model.synthesize(model.map_z(z), "zero")

    def step(batch: int) -> None:
        cfg = InversionConfig(steps=1, tol=0, batch=batch)
        invert(model, targets[:batch], VARIABLES, pri, cfg)

    t_batched = median_time(lambda: step(m), repeats, 1) / m
    t_single = median_time(lambda: step(1), repeats, 1)
    print(f"\n{label}: {sum(p.numel() for p in model.G.parameters()) / 1e6:.1f} M G params")
    print(
        f"  inversion step: {t_single:.3f} s/member one by one, {t_batched:.3f} s/member "
        f"batched x{m} (ratio {t_single / t_batched:.2f})"
    )
    for steps in (200, 500, 1000):
        print(
            f"  {steps:5d} steps: {t_single * steps:8.1f} s/member one by one, "
            f"{t_batched * steps:8.1f} s/member batched; 16 members batched: "
            f"{16 * t_batched * steps / 60:6.1f} min"
        )
    ws = model.map_z(torch.randn(m, model.z_dim).to(device)).cpu()
    cfg = PerturbConfig(b=0.5)
    plan = resolve_rows(cfg, model.style_levels())

    @torch.no_grad()
    def generate(n: int = 16) -> None:
        codes, _ = perturb(ws, n, plan, pri, cfg)
        model.synthesize(codes.to(device), "zero")

    t_gen = median_time(generate, repeats, 1)
    print(f"  generation: {16 / t_gen:.2f} members/s (perturb + synthesis, batch 16)")


if __name__ == "__main__":
    main()

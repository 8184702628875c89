"""Importing a prototype-size StyleGAN2 (256x256, 4 fields, channel_multiplier 2: the
real checkpoints' layout, random weights) and what the imported layout costs.

Prints the file size, the import time (torch.load with weights_only, layout inference,
state mapping, w_avg from 10,000 draws) and the generator's images/s with the prototype's
layout (stored kernels, zero edges) against gensemble's own layout of the same channels
(the reference, measured in the same run), as medians over --repeats.

    python benchmarks/import_prototype.py [--threads 2] [--batch 4] [--repeats 3]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402
from _timing import median_time  # noqa: E402

from gensemble.plugins.architectures.stylegan2 import prototype  # noqa: E402
from gensemble.plugins.architectures.stylegan2.plugin import StyleGAN2  # noqa: E402
from tests.rosinality_reference import random_checkpoint  # noqa: E402

#: rosinality's channel table with channel_multiplier 2 (the prototype's trained models)
CHANNELS = {4: 512, 8: 512, 16: 512, 32: 512, 64: 512, 128: 256, 256: 128}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--batch", type=int, default=4)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--size", type=int, default=256)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    channels = {r: c for r, c in CHANNELS.items() if r <= args.size}
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "proto.pt"
        torch.save(random_checkpoint(args.size, 512, 8, channels, 4), path)
        mb = path.stat().st_size / 1e6
        t0 = time.perf_counter()
        weights = StyleGAN2.import_weights(prototype.FORMAT, path, {"lr_mlp": 0.01})
        took = time.perf_counter() - t0
    n_g = sum(p.numel() for p in weights.model.G.parameters())
    print(
        f"prototype checkpoint {args.size}x{args.size}x4: {mb:.0f} MB, G {n_g / 1e6:.1f} M params"
    )
    print(f"import (load, infer, map, w_avg of 10,000 draws): {took:.1f} s")
    own = {
        k: v
        for k, v in weights.options.items()
        if k not in ("resample_edges", "d_downsample", "mbstd_grouping", "stored_fir")
    }
    native = StyleGAN2(own).build(*weights.shape).eval()
    imported = weights.model.eval()
    gen = torch.Generator().manual_seed(0)
    rates = {}
    for label, model in (("gensemble layout (reference)", native), ("imported layout", imported)):
        with torch.no_grad():
            t = median_time(lambda m=model: m.sample(args.batch, gen), args.repeats, 1)
        rates[label] = args.batch / t
        print(f"  {label:30s} batch {args.batch}: {args.batch / t:6.2f} images/s")
    ratio = rates["imported layout"] / rates["gensemble layout (reference)"]
    print(f"imported / reference: {ratio:.2f}x")


if __name__ == "__main__":
    main()

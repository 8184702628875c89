"""The alias-free kernels on the SG3-T 256x256 layer shapes: time and modelled DRAM traffic.

For each kernel (filtered_lrelu on four representative layers, upfirdn2d, bias_act):

* ``reference``: the step-by-step definition (zero stuffing, padding, full-rate
  convolution, activation passes), eager;
* ``compiled``: ``torch.compile`` of the reference (--compile; inductor);
* ``fast``: the polyphase PyTorch path (the CPU default);
* ``triton``: the fused Triton kernels (CUDA only; the interpreter is no timing).

Traffic model (bytes to and from DRAM, fp32): the composite reads and writes every
materialised intermediate once per pass (bias, zero stuffing, up-filter, activation,
clamp, down-filter at the full rate, down-sampling); the fused kernel reads the input and
writes the output and the 2-bit state.  Medians over --repeats, ratios against the
reference measured in the same run.

    python benchmarks/kernels.py [--batch 4] [--threads 2] [--device cpu|cuda] [--compile]
"""

from __future__ import annotations

import argparse
import sys
from functools import partial
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

import torch  # noqa: E402
from _timing import median_time  # noqa: E402

from gensemble.plugins.architectures.stylegan3.kernels import reference as ref  # noqa: E402
from gensemble.plugins.architectures.stylegan3.kernels.filtered_lrelu import (  # noqa: E402
    filtered_lrelu,
)
from gensemble.plugins.architectures.stylegan3.kernels.ops import (  # noqa: E402
    bias_act,
    upfirdn2d,
)
from gensemble.plugins.architectures.stylegan3.schedule import build_schedule, lowpass  # noqa: E402


def traffic(spec, batch: int) -> tuple[float, float]:  # noqa: ANN001
    """(composite, fused) bytes of one filtered_lrelu call."""
    c = spec.in_channels if spec.torgb else spec.out_channels
    (h, w), (oh, ow) = spec.in_size, spec.out_size
    px0, px1, py0, py1 = spec.padding
    stuffed = (h * spec.up + py0 + py1) * (w * spec.up + px0 + px1)
    zh, zw = stuffed_h, stuffed_w = (h * spec.up + py0 + py1 - spec.up_taps + 1,
                                     w * spec.up + px0 + px1 - spec.up_taps + 1)  # fmt: skip
    full = (stuffed_h - spec.down_taps + 1) * (stuffed_w - spec.down_taps + 1)
    z = zh * zw
    x, out = h * w, oh * ow
    passes = [(x, x), (x, stuffed), (stuffed, z), (z, z), (z, z), (z, full), (full, out)]
    composite = 4 * batch * c * sum(a + b for a, b in passes)
    fused = batch * c * (4 * (x + out) + z / 4)
    return composite, fused


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--batch", type=int, default=4)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--compile", action="store_true", help="also time torch.compile(reference)")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    dev = torch.device(args.device)
    name = torch.cuda.get_device_name(dev) if dev.type == "cuda" else f"CPU, {args.threads} threads"
    print(f"device: {name}; batch {args.batch}; medians of {args.repeats}")
    sched = build_schedule(256, 256, 4)
    impls = ["reference", "fast"] + (["triton"] if dev.type == "cuda" else [])
    sync = torch.cuda.synchronize if dev.type == "cuda" else (lambda: None)

    def timed(fn) -> float:  # noqa: ANN001
        def run() -> None:
            fn()
            sync()

        return median_time(run, args.repeats, 1)

    print(f"{'filtered_lrelu layer':34s} {'impl':9s} {'time s':>8s} {'vs ref':>7s}  traffic")
    for idx in (1, 3, 10, 12):
        spec = sched.layers[idx]
        x = torch.randn(args.batch, spec.out_channels, *spec.in_size, device=dev)
        b = torch.randn(spec.out_channels, device=dev)
        fu = lowpass(spec.up_taps, spec.in_cutoff, spec.in_half_width, spec.tmp_rate).to(dev)
        fd = lowpass(spec.down_taps, spec.out_cutoff, spec.out_half_width, spec.tmp_rate).to(dev)
        kw = dict(up=spec.up, down=spec.down, padding=spec.padding, clamp=256.0)
        label = f"L{idx} {spec.in_size[0]}->{spec.out_size[0]} x{spec.out_channels}"
        label += f" u{spec.up}d{spec.down}"
        comp, fused = traffic(spec, args.batch)
        times = {}
        for impl in impls:
            times[impl] = timed(partial(filtered_lrelu, x, fu, fd, b, impl=impl, **kw))
        if args.compile:
            compiled = torch.compile(ref.filtered_lrelu_ref)
            times["compiled"] = timed(partial(compiled, x, fu, fd, b, **kw))
        for impl, t in times.items():
            extra = ""
            if impl == "reference":
                extra = (f"composite {comp / 1e6:.0f} MB, fused {fused / 1e6:.0f} MB "
                         f"(1/{comp / fused:.1f})")  # fmt: skip
            print(f"{label:34s} {impl:9s} {t:8.4f} {times['reference'] / t:6.2f}x  {extra}")
    # upfirdn2d (the up-sampling stage alone) and bias_act on the largest layer
    spec = sched.layers[10]
    x = torch.randn(args.batch, spec.out_channels, *spec.in_size, device=dev)
    fu = lowpass(spec.up_taps, spec.in_cutoff, spec.in_half_width, spec.tmp_rate).to(dev)
    zero = torch.zeros(x.shape[1], device=dev)
    for op, fn in (
        ("upfirdn2d up4", partial(upfirdn2d, x, fu, spec.up, 1, spec.padding, 16.0)),
        ("bias_act", partial(bias_act, x, zero)),
    ):
        base = timed(partial(fn, impl="reference"))
        for impl in impls:
            t = base if impl == "reference" else timed(partial(fn, impl=impl))
            print(f"{op:34s} {impl:9s} {t:8.4f} {base / t:6.2f}x")


if __name__ == "__main__":
    main()

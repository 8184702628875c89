"""The layer schedule of the alias-free generator, on rectangular grids, and its filters.

From Karras et al. 2021 (section 3, appendix F): over layers i = 0..L the cutoff f_c
grows geometrically from 2 to s_N / 2 and the stopband f_t from 2^2.1 to
(s_N / 2) 2^0.3, reaching them at the last ``num_critical`` layers, which are critically
sampled; each layer's sampling rate is the smallest power of two above 2 f_t (capped at
the output's), its transition half-width max(f_t, s / 2) - f_c, and its feature maps
carry a margin of 10 samples on every side; the last two layers have the output's size.

Rectangular grids: the output sampling rate s_N is a power of two (2^ceil(log2 max(H, W)))
apart from the pixel sizes, so the output covers H / s_N x W / s_N units of the continuous
plane and every layer is sized per axis - s H / s_N (rounded up to even) plus the margins -
with the same sampling rate on both axes (isotropic filters, rotations for config R).
For 256 x 256 the sizes are the paper's: 36, 36, 36, 52, 52, 84, 84, 148, 148, 276 x 4,
256, 256.

Alignment: every feature map is centred on the origin, so the filtered leaky ReLU's
padding follows from the sizes alone (:func:`lrelu_padding`).
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass

import numpy as np
import torch
from scipy import signal, special

LOG = logging.getLogger(__name__)


@dataclass(frozen=True)
class LayerSpec:
    index: int
    torgb: bool
    critical: bool
    in_size: tuple[int, int]  # (h, w)
    out_size: tuple[int, int]
    in_rate: float
    out_rate: float
    in_cutoff: float
    out_cutoff: float
    in_half_width: float
    out_half_width: float
    in_channels: int
    out_channels: int
    up: int
    down: int
    up_taps: int
    down_taps: int
    padding: tuple[int, int, int, int]  # (x0, x1, y0, y1) of the up-sampling stage
    kernel: int
    radial_down: bool

    @property
    def tmp_rate(self) -> float:
        return self.in_rate * self.up


@dataclass(frozen=True)
class Schedule:
    output_rate: int
    input_size: tuple[int, int]
    input_rate: float
    input_cutoff: float
    input_channels: int
    layers: tuple[LayerSpec, ...]


def _even_up(v: float) -> int:
    return 2 * math.ceil(v / 2 - 1e-9)


def lrelu_padding(n_in: int, n_out: int, taps_up: int, taps_down: int, up: int, down: int) -> tuple:
    """(p0, p1) of the up-sampling stage along one axis, so that the down-sampled output
    samples sit at the centred output grid's positions (derived in the module docstring of
    :mod:`.kernels.reference`: the intermediate spans (n_out - 1) down + taps_down samples)."""
    n_t = (n_out - 1) * down + taps_down
    num = (taps_up - 1) - up * (n_in - 1) + (n_t - 1)
    if num % 2:
        raise ValueError(f"layer sizes {n_in} -> {n_out} cannot be centre-aligned")
    p0 = num // 2
    return p0, n_t - 1 + taps_up - n_in * up - p0


def build_schedule(
    height: int,
    width: int,
    channels: int,
    num_layers: int = 14,
    num_critical: int = 2,
    first_cutoff: float = 2.0,
    first_stopband: float = 2**2.1,
    last_stopband_rel: float = 2**0.3,
    margin: int = 10,
    channel_base: int = 32768,
    channel_max: int = 512,
    filter_size: int = 6,
    lrelu_upsampling: int = 2,
    config: str = "T",
) -> Schedule:
    rate_n = 2 ** math.ceil(math.log2(max(height, width)))
    last_cutoff = rate_n / 2
    last_stopband = last_cutoff * last_stopband_rel
    idx = np.arange(num_layers + 1)
    exponents = np.minimum(idx / (num_layers - num_critical), 1.0)
    cutoffs = first_cutoff * (last_cutoff / first_cutoff) ** exponents
    stopbands = first_stopband * (last_stopband / first_stopband) ** exponents
    rates = np.exp2(np.ceil(np.log2(np.minimum(stopbands * 2, rate_n))))
    half_widths = np.maximum(stopbands, rates / 2) - cutoffs
    sizes = [
        (_even_up(r * height / rate_n) + 2 * margin, _even_up(r * width / rate_n) + 2 * margin)
        for r in rates
    ]
    sizes[-1] = sizes[-2] = (height, width)
    chans = np.rint(np.minimum((channel_base / 2) / cutoffs, channel_max)).astype(int)
    chans[-1] = channels
    layers = []
    for i in idx:
        prev = max(i - 1, 0)
        torgb = bool(i == num_layers)
        tmp = max(rates[prev], rates[i]) * (1 if torgb else lrelu_upsampling)
        up, down = int(round(tmp / rates[prev])), int(round(tmp / rates[i]))
        up_taps = filter_size * up if up > 1 and not torgb else 1
        down_taps = filter_size * down if down > 1 and not torgb else 1
        px = lrelu_padding(sizes[prev][1], sizes[i][1], up_taps, down_taps, up, down)
        py = lrelu_padding(sizes[prev][0], sizes[i][0], up_taps, down_taps, up, down)
        critical = bool(i >= num_layers - num_critical)
        layers.append(
            LayerSpec(
                int(i),
                torgb,
                critical,
                sizes[prev],
                sizes[i],
                float(rates[prev]),
                float(rates[i]),
                float(cutoffs[prev]),
                float(cutoffs[i]),
                float(half_widths[prev]),
                float(half_widths[i]),
                int(chans[prev]),
                int(chans[i]),
                up,
                down,
                up_taps,
                down_taps,
                (*px, *py),
                1 if torgb or config == "R" else 3,
                config == "R" and not critical and down_taps > 1,
            )
        )
    return Schedule(
        rate_n, sizes[0], float(rates[0]), float(cutoffs[0]), int(chans[0]), tuple(layers)
    )


def lowpass(taps: int, cutoff: float, half_width: float, rate: float, radial: bool = False):  # noqa: ANN201
    """Kaiser-windowed FIR low-pass (unit DC gain) as a float64 tensor: (taps,) separable,
    or (taps, taps) radially symmetric (jinc windowed by the separable Kaiser window).
    Kept in float64 so a float64 run computes with exact taps; the kernels cast them to
    their accumulation precision."""
    if taps == 1:
        return torch.ones(1, dtype=torch.float64)
    if not radial:
        f = signal.firwin(taps, cutoff, width=half_width * 2, fs=rate)
        return torch.tensor(f, dtype=torch.float64)
    beta = signal.kaiser_beta(signal.kaiser_atten(taps, half_width * 2 / (rate / 2)))
    x = (np.arange(taps) - (taps - 1) / 2) / rate
    r = np.hypot(*np.meshgrid(x, x))
    with np.errstate(invalid="ignore", divide="ignore"):
        jinc = np.where(r > 0, special.j1(2 * np.pi * cutoff * r) / (np.pi * r), cutoff)
    win = np.kaiser(taps, beta)
    f = jinc * np.outer(win, win)
    return torch.tensor(f / f.sum(), dtype=torch.float64)

"""The alias-free generator's layers (Karras et al. 2021), written from the paper.

* :class:`FourierInput`: the constant input is replaced by Fourier features - sinusoids
  with frequencies drawn uniformly in the disc of radius f_c (the first cutoff) and
  random phases, sampled on the first layer's grid (centred, margins included) - whose
  rotation and translation come from w through a learned affine initialised to the
  identity; an extra user transform (translation in output pixels) serves the
  equivariance metric.  A learned 1x1 mixing follows.
* :class:`AliasFreeLayer`: modulated convolution (3x3 for config T, 1x1 for R) of the
  input scaled by the inverse RMS of its magnitude (an EMA over training, "magnitude EMA"),
  then the filtered leaky ReLU: up-sampling to twice the higher of the two sampling
  rates, leaky ReLU, low-pass at the output cutoff and down-sampling.  The last layer
  (to the fields) has no activation, no demodulation and the output scale 1/4.
* static conditioning (off by default): the domain's static fields (orography, land-sea
  mask) give back the absolute positions SG3 otherwise removes, which a fixed geographic
  domain has (mountains, coasts); each layer adds a learned 1x1 projection of them,
  sampled at its own grid's positions (margins take the edge values), to its input.
"""

from __future__ import annotations

import logging
import math

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from gensemble.plugins.architectures.gan.layers import EqualLinear
from gensemble.plugins.architectures.stylegan3.kernels.filtered_lrelu import filtered_lrelu
from gensemble.plugins.architectures.stylegan3.schedule import LayerSpec, lowpass

LOG = logging.getLogger(__name__)


def centred_grid(size: tuple[int, int], rate: float) -> torch.Tensor:
    """(h, w, 2) sample positions (x, y) of a centred grid with spacing 1 / rate."""
    h, w = size
    y = (torch.arange(h, dtype=torch.float64) + 0.5 - h / 2) / rate
    x = (torch.arange(w, dtype=torch.float64) + 0.5 - w / 2) / rate
    gy, gx = torch.meshgrid(y, x, indexing="ij")
    return torch.stack([gx, gy], dim=-1).float()


class FourierInput(nn.Module):
    def __init__(
        self,
        w_dim: int,
        channels: int,
        size: tuple[int, int],
        rate: float,
        bandwidth: float,
        seed: int = 0,
    ) -> None:
        super().__init__()
        gen = torch.Generator().manual_seed(seed)
        angle = torch.rand(channels, generator=gen) * 2 * math.pi
        radius = bandwidth * torch.rand(channels, generator=gen).sqrt()  # uniform in the disc
        self.register_buffer("freqs", torch.stack([angle.cos(), angle.sin()], 1) * radius[:, None])
        self.register_buffer("phases", torch.rand(channels, generator=gen) - 0.5)
        self.register_buffer("grid", centred_grid(size, rate), persistent=False)
        #: user translation (x, y) in units of the continuous plane (EQ-T)
        self.register_buffer("shift", torch.zeros(2))
        self.affine = EqualLinear(w_dim, 4)
        with torch.no_grad():
            self.affine.weight.zero_()
            self.affine.bias.copy_(torch.tensor([1.0, 0.0, 0.0, 0.0]))
        self.weight = nn.Parameter(torch.randn(channels, channels))
        self.channels, self.size, self.rate, self.bandwidth = channels, size, rate, bandwidth

    def forward(self, w: torch.Tensor) -> torch.Tensor:
        t = self.affine(w)  # (n, 4): rotation (cos, sin) and translation
        t = t / t[:, :2].norm(dim=1, keepdim=True).clamp_min(1e-8)
        c, s, tx, ty = t.unbind(1)
        # features are sin(2 pi (f . (R p + t) + phase)); (R^T f) . p + f . t
        rot = torch.stack([torch.stack([c, -s], -1), torch.stack([s, c], -1)], -2)  # (n, 2, 2)
        f = torch.einsum("kj,nji->nki", self.freqs, rot)  # f^T R
        # content translated by ``shift``: sin(f . (R (p - shift) + t) + phase)
        offset = torch.einsum("kj,nj->nk", self.freqs, torch.stack([tx, ty], 1))
        offset = offset - torch.einsum("nkj,j->nk", f, self.shift)
        # amplitudes fade out frequencies above the band the grid can hold (a rotated or
        # scaled input may push them there)
        amp = (1 - (f.norm(dim=2) - self.bandwidth) / (self.rate / 2 - self.bandwidth)).clamp(0, 1)
        phase = (
            torch.einsum("hwj,nkj->nkhw", self.grid, f) + (offset + self.phases)[..., None, None]
        )
        x = torch.sin(2 * math.pi * phase) * amp[..., None, None]
        weight = self.weight / math.sqrt(self.channels)
        return torch.einsum("nchw,dc->ndhw", x, weight).contiguous()


class AliasFreeLayer(nn.Module):
    def __init__(
        self,
        spec: LayerSpec,
        w_dim: int,
        impl: str = "auto",
        conv_clamp: float = 256.0,
        static_channels: int = 0,
        extent: tuple[float, float] = (1.0, 1.0),
    ) -> None:
        super().__init__()
        self.spec, self.impl = spec, impl
        k = spec.kernel
        self.affine = EqualLinear(w_dim, spec.in_channels, bias_init=1.0)
        self.weight = nn.Parameter(torch.randn(spec.out_channels, spec.in_channels, k, k))
        self.bias = nn.Parameter(torch.zeros(spec.out_channels))
        self.register_buffer("magnitude_ema", torch.ones(()))
        self.conv_clamp = conv_clamp
        self.register_buffer(
            "up_filter",
            persistent=False,
            tensor=lowpass(spec.up_taps, spec.in_cutoff, spec.in_half_width, spec.tmp_rate),
        )
        self.register_buffer(
            "down_filter",
            persistent=False,
            tensor=lowpass(
                spec.down_taps,
                spec.out_cutoff,
                spec.out_half_width,
                spec.tmp_rate,
                radial=spec.radial_down,
            ),
        )
        self.static = (
            nn.Conv2d(static_channels, spec.in_channels, 1, bias=False) if static_channels else None
        )
        if self.static is not None:
            nn.init.zeros_(self.static.weight)  # starts as the unconditioned network
            # where this layer's samples fall on the output field ([-1, 1] across it)
            half = torch.tensor([extent[0] / 2, extent[1] / 2])
            self.register_buffer(
                "static_grid", centred_grid(spec.in_size, spec.in_rate) / half, persistent=False
            )

    def forward(
        self,
        x: torch.Tensor,
        w: torch.Tensor,
        static: torch.Tensor | None = None,
        magnitude_beta: float | None = None,
    ) -> torch.Tensor:
        """One layer; ``magnitude_beta`` (training) moves the input-magnitude EMA towards
        this batch's mean square by 1 - beta."""
        spec = self.spec
        if static is not None and self.static is not None:
            grid = self.static_grid[None].expand(static.shape[0], -1, -1, -1).to(static)
            at = F.grid_sample(
                static, grid, mode="bilinear", padding_mode="border", align_corners=False
            )
            x = x + self.static(at.to(x.dtype))
        if magnitude_beta is not None:
            with torch.no_grad():
                m = self.magnitude_ema
                m.lerp_(x.detach().float().square().mean().to(m.dtype), 1 - magnitude_beta)
        styles = self.affine(w)  # (n, in)
        fan_in = spec.in_channels * spec.kernel**2
        weight = self.weight / math.sqrt(fan_in)
        if spec.torgb:
            styles = styles / math.sqrt(fan_in)
            weight = self.weight
        # the input gain (1 / RMS of the input over training) acts after demodulation
        x = x.contiguous(memory_format=torch.channels_last)  # faster convolutions (CPU, GPU)
        x = x * (styles * self.magnitude_ema.rsqrt())[:, :, None, None].to(x.dtype)
        x = F.conv2d(x, weight.to(x.dtype), padding=spec.kernel // 2)
        if not spec.torgb:  # demodulation: unit output variance for unit input variance
            demod = torch.einsum("oikl,ni->no", weight.square(), styles.square()).add(1e-8)
            x = x * demod.rsqrt()[:, :, None, None].to(x.dtype)
        gain, slope = (1.0, 1.0) if spec.torgb else (math.sqrt(2), 0.2)
        return filtered_lrelu(
            x,
            self.up_filter,
            self.down_filter,
            self.bias,
            up=spec.up,
            down=spec.down,
            padding=spec.padding,
            gain=gain,
            slope=slope,
            clamp=self.conv_clamp,
            impl=self.impl,
        )


def static_stack(
    static: dict[str, np.ndarray] | None, names: tuple[str, ...]
) -> torch.Tensor | None:
    """(1, S, H, W) standardised static fields in ``names`` order, or None."""
    if not static or not names:
        return None
    maps = []
    for n in names:
        a = np.asarray(static[n], dtype=np.float32)
        maps.append((a - a.mean()) / (a.std() + 1e-6))
    return torch.from_numpy(np.stack(maps))[None]

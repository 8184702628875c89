"""Building blocks of StyleGAN2 (Karras et al. 2020), written from the paper.

* equalised learning rate: weights are drawn from N(0, 1) and scaled at run time by
  1/sqrt(fan_in), so Adam sees every layer on the same scale;
* modulated convolution with demodulation: the style s scales the input channels, the
  output is divided by sqrt(sum (w s)^2) so that outputs have unit variance for unit-
  variance inputs.  Computed as scale-input -> shared convolution -> scale-output (the
  paper's section 2.2 shows the two are equivalent), which lets every sample of the batch
  go through one ordinary convolution instead of a grouped one: several times faster on
  CPU and GPU;
* FIR resampling with the [1, 3, 3, 1] filter.  Upsampling x2 by zero insertion and this
  filter puts weights 1/4, 3/4 on the neighbours, which is exactly bilinear interpolation
  with half-pixel centres, so it runs as ``F.interpolate`` (edges replicated);
  downsampling filters then keeps every second point.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

SQRT2 = math.sqrt(2.0)


def lrelu(x: torch.Tensor) -> torch.Tensor:
    """Leaky ReLU (0.2) with the gain sqrt(2) that keeps the variance at one."""
    return F.leaky_relu(x, 0.2) * SQRT2


class EqualLinear(nn.Module):
    def __init__(
        self,
        in_dim: int,
        out_dim: int,
        bias_init: float = 0.0,
        lr_mul: float = 1.0,
        activate: bool = False,
    ) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.randn(out_dim, in_dim) / lr_mul)
        self.bias = nn.Parameter(torch.full((out_dim,), float(bias_init)))
        self.scale = lr_mul / math.sqrt(in_dim)
        self.lr_mul = lr_mul
        self.activate = activate

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = F.linear(x, self.weight * self.scale, self.bias * self.lr_mul)
        return lrelu(y) if self.activate else y


class EqualConv2d(nn.Module):
    def __init__(self, in_ch: int, out_ch: int, kernel: int, bias: bool = True) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.randn(out_ch, in_ch, kernel, kernel))
        self.bias = nn.Parameter(torch.zeros(out_ch)) if bias else None
        self.scale = 1.0 / math.sqrt(in_ch * kernel * kernel)
        self.padding = kernel // 2

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.conv2d(x, self.weight * self.scale, self.bias, padding=self.padding)


def upsample2x(x: torch.Tensor) -> torch.Tensor:
    """x2 with the [1, 3, 3, 1] FIR filter (= bilinear, half-pixel centres)."""
    return F.interpolate(x, scale_factor=2.0, mode="bilinear", align_corners=False)


def _down_last(x: torch.Tensor) -> torch.Tensor:
    p = torch.cat([x[..., :1], x, x[..., -1:]], dim=-1)  # edges replicated
    n = x.shape[-1] // 2
    taps = [p[..., k : k + 2 * n : 2] for k in range(4)]
    return (taps[0] + taps[3] + 3.0 * (taps[1] + taps[2])) / 8.0


def downsample2x(x: torch.Tensor) -> torch.Tensor:
    """/2 with the [1, 3, 3, 1] FIR filter (even sizes)."""
    return _down_last(_down_last(x).transpose(-1, -2)).transpose(-1, -2)


class ModulatedConv2d(nn.Module):
    """Style-modulated convolution, optionally demodulated and preceded by x2 upsampling."""

    def __init__(
        self,
        in_ch: int,
        out_ch: int,
        kernel: int,
        w_dim: int,
        demodulate: bool = True,
        upsample: bool = False,
    ) -> None:
        super().__init__()
        self.affine = EqualLinear(w_dim, in_ch, bias_init=1.0)
        self.weight = nn.Parameter(torch.randn(out_ch, in_ch, kernel, kernel))
        self.scale = 1.0 / math.sqrt(in_ch * kernel * kernel)
        self.demodulate, self.upsample = demodulate, upsample
        self.padding = kernel // 2

    def forward(self, x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        style = self.affine(w)  # (B, in)
        weight = self.weight * self.scale
        x = x * style.to(x.dtype)[:, :, None, None]
        if self.upsample:
            x = upsample2x(x)
        x = F.conv2d(x, weight.to(x.dtype), padding=self.padding)
        if self.demodulate:
            wsq = weight.square().sum(dim=(2, 3))  # (out, in)
            d = torch.rsqrt(style.square() @ wsq.t() + 1e-8)  # (B, out)
            x = x * d.to(x.dtype)[:, :, None, None]
        return x

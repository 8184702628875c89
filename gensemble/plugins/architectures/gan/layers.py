"""Layers the style-based GANs share (Karras et al. 2019, 2020), written from the papers.

* equalised learning rate: weights are drawn from N(0, 1) and scaled at run time by
  1/sqrt(fan_in), so Adam sees every layer on the same scale;
* the [1, 3, 3, 1] FIR filter of StyleGAN's resampling: the blur before a strided
  convolution, and down-sampling by filtering then keeping every second point, with the
  field's edges replicated or zero-padded (the Météo-France prototype's choice).
"""

from __future__ import annotations

import logging
import math

import torch
import torch.nn.functional as F
from torch import nn

LOG = logging.getLogger(__name__)

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
    def __init__(
        self,
        in_ch: int,
        out_ch: int,
        kernel: int,
        bias: bool = True,
        stride: int = 1,
        padding: int | None = None,
    ) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.randn(out_ch, in_ch, kernel, kernel))
        self.bias = nn.Parameter(torch.zeros(out_ch)) if bias else None
        self.scale = 1.0 / math.sqrt(in_ch * kernel * kernel)
        self.padding = kernel // 2 if padding is None else padding
        self.stride = stride

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.conv2d(
            x, self.weight * self.scale, self.bias, stride=self.stride, padding=self.padding
        )


def fir_2d(gain: float = 1.0) -> torch.Tensor:
    """The 4x4 [1, 3, 3, 1] x [1, 3, 3, 1] filter with sum ``gain`` (4 where it follows
    zero insertion), as the prototype stores its resampling kernels."""
    g = torch.tensor([1.0, 3.0, 3.0, 1.0])
    return torch.outer(g, g) * (gain / 64.0)


def depthwise_kernel(k: torch.Tensor, channels: int, like: torch.Tensor) -> torch.Tensor:
    return k.to(device=like.device, dtype=like.dtype).expand(channels, 1, *k.shape).contiguous()


def fir_blur(
    x: torch.Tensor, pad0: int, pad1: int, kernel: torch.Tensor | None = None
) -> torch.Tensor:
    """Convolution with a 2-D FIR ``kernel`` (default the [1, 3, 3, 1] low-pass) on a
    zero-padded field: (H, W) -> (H + pad0 + pad1 - kh + 1, ...); the prototype's blur
    before a stride-2 convolution (a true convolution: the kernel is flipped)."""
    k = fir_2d() if kernel is None else kernel.flip(0, 1)
    c = x.shape[1]
    return F.conv2d(F.pad(x, (pad0, pad1, pad0, pad1)), depthwise_kernel(k, c, x), groups=c)


def _down_last(x: torch.Tensor, edges: str) -> torch.Tensor:
    if edges == "zero":
        p = F.pad(x, (1, 1))
    else:
        p = torch.cat([x[..., :1], x, x[..., -1:]], dim=-1)  # edges replicated
    n = x.shape[-1] // 2
    taps = [p[..., k : k + 2 * n : 2] for k in range(4)]
    return (taps[0] + taps[3] + 3.0 * (taps[1] + taps[2])) / 8.0


def downsample2x(x: torch.Tensor, edges: str = "replicate") -> torch.Tensor:
    """/2 with the [1, 3, 3, 1] FIR filter (even sizes), edges replicated or zero."""
    return _down_last(_down_last(x, edges).transpose(-1, -2), edges).transpose(-1, -2)


def gaussian_blur(x: torch.Tensor, sigma: float) -> torch.Tensor:
    """Separable Gaussian blur of standard deviation ``sigma`` pixels (taps to 3 sigma,
    normalised), edges replicated so a field's border keeps its level."""
    r = int(math.floor(3 * sigma))
    t = torch.arange(-r, r + 1, device=x.device, dtype=x.dtype)
    f = torch.exp(-0.5 * (t / sigma) ** 2)
    f = f / f.sum()
    c = x.shape[1]
    x = F.pad(x, (r, r, r, r), mode="replicate")
    x = F.conv2d(x, f.view(1, 1, 1, -1).expand(c, 1, 1, -1), groups=c)
    return F.conv2d(x, f.view(1, 1, -1, 1).expand(c, 1, -1, 1), groups=c)

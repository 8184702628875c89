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
* the up-sampling modulated convolution (``upsample="transposed"``, the default, as in the
  StyleGAN2 paper): a stride-2 transposed convolution at the input resolution followed by
  the FIR low-pass.  Zero insertion, the FIR filter and the 3x3 kernel are all linear and
  shift-invariant, so they commute: this computes the same function class as up-sampling
  then convolving at full resolution (both are zero insertion followed by one 6x6 kernel),
  with a quarter of the multiply-adds.  ``upsample="resample_conv"`` keeps the first
  release's order (bilinear up-sampling with replicated edges, then the convolution),
  which checkpoints written before this option load with.
* resampling at the edges of the field: gensemble replicates the edge values; the
  Météo-France prototype (rosinality's StyleGAN2 layout) pads with zeros, which
  ``edges="zero"`` reproduces so imported generators compute exactly what they did.
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


def upsample2x(x: torch.Tensor, edges: str = "replicate") -> torch.Tensor:
    """x2 with the [1, 3, 3, 1] FIR filter (= bilinear, half-pixel centres); outside the
    field the input is its edge value (``replicate``) or zero (``zero``)."""
    if edges == "zero":  # a zero border, then drop what it alone produced
        x = F.pad(x, (1, 1, 1, 1))
        y = F.interpolate(x, scale_factor=2.0, mode="bilinear", align_corners=False)
        return y[..., 2:-2, 2:-2]
    return F.interpolate(x, scale_factor=2.0, mode="bilinear", align_corners=False)


def fir_2d(gain: float = 1.0) -> torch.Tensor:
    """The 4x4 [1, 3, 3, 1] x [1, 3, 3, 1] filter with sum ``gain`` (4 where it follows
    zero insertion), as the prototype stores its resampling kernels."""
    g = torch.tensor([1.0, 3.0, 3.0, 1.0])
    return torch.outer(g, g) * (gain / 64.0)


def _depthwise(k: torch.Tensor, channels: int, like: torch.Tensor) -> torch.Tensor:
    return k.to(device=like.device, dtype=like.dtype).expand(channels, 1, *k.shape).contiguous()


def fir_blur(
    x: torch.Tensor, pad0: int, pad1: int, kernel: torch.Tensor | None = None
) -> torch.Tensor:
    """Convolution with a 2-D FIR ``kernel`` (default the [1, 3, 3, 1] low-pass) on a
    zero-padded field: (H, W) -> (H + pad0 + pad1 - kh + 1, ...); the prototype's blur
    before a stride-2 convolution (a true convolution: the kernel is flipped)."""
    k = fir_2d() if kernel is None else kernel.flip(0, 1)
    c = x.shape[1]
    return F.conv2d(F.pad(x, (pad0, pad1, pad0, pad1)), _depthwise(k, c, x), groups=c)


def upsample_fir(x: torch.Tensor, kernel: torch.Tensor) -> torch.Tensor:
    """x2 up-sampling by zero insertion and a 4x4 FIR ``kernel`` (stored with its gain),
    zero outside the field: the prototype's skip up-sampling, (H, W) -> (2H, 2W).

    Zero insertion then the kernel is a stride-2 transposed convolution with it; the
    prototype's padding (2, 1) keeps outputs 1 .. 2H of the transposed result."""
    c = x.shape[1]
    y = F.conv_transpose2d(x, _depthwise(kernel, c, x), stride=2, groups=c)
    return y[..., 1:-1, 1:-1]


def fir_up_kernel(channels: int, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    """Depthwise 4x4 [1, 3, 3, 1] x [1, 3, 3, 1] / 16 kernel (gain 4: zero insertion)."""
    g = torch.tensor([1.0, 3.0, 3.0, 1.0], dtype=torch.float64) / 4
    k = torch.outer(g, g).to(device=device, dtype=dtype)
    return k.expand(channels, 1, 4, 4).contiguous()


def upconv_transposed(
    x: torch.Tensor, weight: torch.Tensor, fir: torch.Tensor | None = None
) -> torch.Tensor:
    """x2 up-sampling convolution: stride-2 transposed conv with the flipped 3x3 kernel,
    then the FIR low-pass (or a stored 4x4 ``fir``, convolved as the prototype does);
    (B, in, H, W) -> (B, out, 2H, 2W), zero outside the field."""
    t = F.conv_transpose2d(x, weight.flip(2, 3).transpose(0, 1), stride=2)  # 2H+1 x 2W+1
    out = weight.shape[0]
    k = fir_up_kernel(out, t.dtype, t.device) if fir is None else _depthwise(fir.flip(0, 1), out, t)
    return F.conv2d(t, k, padding=1, groups=out)


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
        upsample_mode: str = "transposed",
        stored_fir: bool = False,
    ) -> None:
        super().__init__()
        self.affine = EqualLinear(w_dim, in_ch, bias_init=1.0)
        self.weight = nn.Parameter(torch.randn(out_ch, in_ch, kernel, kernel))
        self.scale = 1.0 / math.sqrt(in_ch * kernel * kernel)
        self.demodulate, self.upsample = demodulate, upsample
        if upsample_mode not in ("transposed", "resample_conv"):
            raise ValueError(f"unknown upsample mode {upsample_mode!r}")
        if upsample and upsample_mode == "transposed" and kernel != 3:
            raise ValueError("the transposed up-sampling convolution is written for 3x3 kernels")
        self.upsample_mode = upsample_mode
        self.padding = kernel // 2
        #: the low-pass after the transposed convolution kept as a buffer (imported
        #: prototype weights carry their own); None: the fixed [1, 3, 3, 1] filter
        if upsample and stored_fir and upsample_mode != "transposed":
            raise ValueError("stored FIR kernels need upsample: transposed")
        self.register_buffer("fir", fir_2d(4.0) if upsample and stored_fir else None)

    def convolve(
        self, x: torch.Tensor, w: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """The modulated convolution and the demodulation factors (B, out) not yet
        applied (None without demodulation), so a caller can fuse them with what follows."""
        style = self.affine(w)  # (B, in)
        weight = self.weight * self.scale
        x = x * style.to(x.dtype)[:, :, None, None]
        if self.upsample and self.upsample_mode == "transposed":
            x = upconv_transposed(x, weight.to(x.dtype), self.fir)
        else:
            if self.upsample:
                x = upsample2x(x)
            x = F.conv2d(x, weight.to(x.dtype), padding=self.padding)
        d = None
        if self.demodulate:
            wsq = weight.square().sum(dim=(2, 3))  # (out, in)
            d = torch.rsqrt(style.square() @ wsq.t() + 1e-8)  # (B, out)
        return x, d

    def forward(self, x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        x, d = self.convolve(x, w)
        return x if d is None else x * d.to(x.dtype)[:, :, None, None]

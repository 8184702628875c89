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

import logging
import math

import torch
import torch.nn.functional as F
from torch import nn

from gensemble.plugins.architectures.gan.layers import EqualLinear, depthwise_kernel, fir_2d

LOG = logging.getLogger(__name__)


def upsample2x(x: torch.Tensor, edges: str = "replicate") -> torch.Tensor:
    """x2 with the [1, 3, 3, 1] FIR filter (= bilinear, half-pixel centres); outside the
    field the input is its edge value (``replicate``) or zero (``zero``)."""
    if edges == "zero":  # a zero border, then drop what it alone produced
        x = F.pad(x, (1, 1, 1, 1))
        y = F.interpolate(x, scale_factor=2.0, mode="bilinear", align_corners=False)
        return y[..., 2:-2, 2:-2]
    return F.interpolate(x, scale_factor=2.0, mode="bilinear", align_corners=False)


def upsample_fir(x: torch.Tensor, kernel: torch.Tensor) -> torch.Tensor:
    """x2 up-sampling by zero insertion and a 4x4 FIR ``kernel`` (stored with its gain),
    zero outside the field: the prototype's skip up-sampling, (H, W) -> (2H, 2W).

    Zero insertion then the kernel is a stride-2 transposed convolution with it; the
    prototype's padding (2, 1) keeps outputs 1 .. 2H of the transposed result."""
    c = x.shape[1]
    y = F.conv_transpose2d(x, depthwise_kernel(kernel, c, x), stride=2, groups=c)
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
    k = (
        fir_up_kernel(out, t.dtype, t.device)
        if fir is None
        else depthwise_kernel(fir.flip(0, 1), out, t)
    )
    return F.conv2d(t, k, padding=1, groups=out)


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

"""StyleGAN2's residual discriminator with minibatch standard deviation (Karras et al.
2020), which the StyleGAN3 paper keeps: both architectures train against this one."""

from __future__ import annotations

import logging
import math

import torch
from torch import nn

from gensemble.plugins.architectures.gan.layers import (
    EqualConv2d,
    EqualLinear,
    downsample2x,
    fir_2d,
    fir_blur,
    lrelu,
)
from gensemble.plugins.architectures.gan.levels import channel_list, crop_box, layout

LOG = logging.getLogger(__name__)


class ResidualBlock(nn.Module):
    """Two 3x3 convolutions and a 1x1 skip, halving the resolution.

    ``downsample="before_conv"`` FIR-downsamples then convolves at half size;
    ``"strided_conv"`` (the prototype) blurs at full size with zero padding then
    convolves with stride 2 - the same parameters, another function.
    """

    def __init__(
        self,
        in_ch: int,
        out_ch: int,
        downsample: str = "before_conv",
        edges: str = "replicate",
        stored_fir: bool = False,
    ) -> None:
        super().__init__()
        strided = downsample == "strided_conv"
        if stored_fir and not strided:
            raise ValueError("stored FIR kernels need d_downsample: strided_conv")
        #: the blur kernels before the strided convolutions, if stored with the weights
        self.register_buffer("fir_conv", fir_2d() if stored_fir else None)
        self.register_buffer("fir_skip", fir_2d() if stored_fir else None)
        self.conv0 = EqualConv2d(in_ch, in_ch, 3)
        self.conv1 = EqualConv2d(
            in_ch, out_ch, 3, stride=2 if strided else 1, padding=0 if strided else None
        )
        self.skip = EqualConv2d(in_ch, out_ch, 1, bias=False, stride=2 if strided else 1)
        self.strided, self.edges = strided, edges

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.strided:
            skip = self.skip(fir_blur(x, 1, 1, self.fir_skip))
            x = lrelu(self.conv1(fir_blur(lrelu(self.conv0(x)), 2, 2, self.fir_conv)))
        else:
            skip = self.skip(downsample2x(x, self.edges))
            x = lrelu(self.conv0(x))
            # blur-downsample, then convolve at half size
            x = lrelu(self.conv1(downsample2x(x, self.edges)))
        return (x + skip) * (1.0 / math.sqrt(2.0))


class Discriminator(nn.Module):
    """Residual discriminator with minibatch standard deviation."""

    def __init__(
        self,
        channels: int,
        height: int,
        width: int,
        channel_base: int = 16384,
        channel_max: int = 512,
        mbstd_group: int = 4,
        channel_table: list[int] | None = None,
        downsample: str = "before_conv",
        edges: str = "replicate",
        mbstd_grouping: str = "consecutive",
        stored_fir: bool = False,
    ) -> None:
        super().__init__()
        self.height, self.width = height, width
        self.levels, self.h0, self.w0 = layout(height, width)
        ch = channel_list(self.levels, channel_base, channel_max, channel_table)
        self.from_fields = EqualConv2d(channels, ch[self.levels], 1)
        self.blocks = nn.ModuleList(
            ResidualBlock(ch[i], ch[i - 1], downsample, edges, stored_fir)
            for i in range(self.levels, 0, -1)
        )
        self.mbstd_group = mbstd_group
        self.mbstd_grouping = mbstd_grouping
        self.channels_last = True
        self.conv = EqualConv2d(ch[0] + 1, ch[0], 3)
        self.fc = EqualLinear(ch[0] * self.h0 * self.w0, ch[0], activate=True)
        self.out = EqualLinear(ch[0], 1)

    def pad(self, x: torch.Tensor) -> torch.Tensor:
        top, left, fh, fw = crop_box(self.height, self.width)
        if (fh, fw) == tuple(x.shape[-2:]):
            return x
        return torch.nn.functional.pad(
            x, (left, fw - self.width - left, top, fh - self.height - top)
        )

    def minibatch_std(self, x: torch.Tensor) -> torch.Tensor:
        """Append the mean standard deviation over groups of samples.

        Groups are consecutive samples (``consecutive``) or samples b/g apart
        (``strided``, the prototype's).  Groups never straddle ranks (each rank holds its
        own slice of the global batch), so with ``mbstd_group`` <= the per-rank batch a
        multi-process run computes exactly what one process computes on the whole batch.
        """
        b, c, h, w = x.shape
        g = min(self.mbstd_group, b)
        while b % g:
            g -= 1
        strided = self.mbstd_grouping == "strided"
        y = x.reshape(g, -1, c, h, w) if strided else x.reshape(-1, g, c, h, w)
        d = 0 if strided else 1  # the axis that runs within a group
        y = y.float()
        y = (y - y.mean(dim=d, keepdim=True)).square().mean(dim=d).add(1e-8).sqrt()
        y = y.mean(dim=(1, 2, 3)).to(x.dtype)  # (b/g,)
        y = y.repeat(g) if strided else y.repeat_interleave(g)
        y = y.reshape(-1, 1, 1, 1).expand(b, 1, h, w)
        return torch.cat([x, y], dim=1)

    def forward(self, img: torch.Tensor, extra: torch.Tensor | None = None) -> torch.Tensor:
        """Logits (B, 1); ``extra`` (B, ch, padded H, padded W), when given, is added to the
        first layer's reading of the field (a conditional D's reading of its condition)."""
        img = self.pad(img)
        if self.channels_last:
            img = img.contiguous(memory_format=torch.channels_last)
        x = self.from_fields(img)
        x = lrelu(x if extra is None else x + extra.to(x.dtype))
        for block in self.blocks:
            x = block(x)
        x = lrelu(self.conv(self.minibatch_std(x)))
        return self.out(self.fc(x.flatten(1)))

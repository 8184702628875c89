"""StyleGAN2 generator (mapping + skip synthesis) and residual discriminator.

Grids that are not square or not 4 * 2^k are handled with rectangular layers: the
constant input is h0 x w0 with h0 = ceil(H / 2^L), w0 = ceil(W / 2^L) (L chosen so the
shorter side of the input is at least 4), the generator renders h0 2^L x w0 2^L and its
output is centre-cropped to H x W; the discriminator pads its input back with zeros in the
same place.  Real and generated fields are padded identically, so the losses and every
metric only ever see the domain's H x W points.

Options that reproduce the Météo-France prototype (rosinality's StyleGAN2 layout, see
``prototype.py``): an explicit channel table, the mapping's learning-rate multiplier,
zero-padded resampling at the edges, constant noise maps stored with the generator, and
a discriminator that blurs then convolves with stride 2 and groups its minibatch standard
deviation with a stride.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from gensemble.api.model import BatchRandom
from gensemble.plugins.architectures.stylegan2.layers import (
    SQRT2,
    EqualConv2d,
    EqualLinear,
    ModulatedConv2d,
    downsample2x,
    fir_2d,
    fir_blur,
    lrelu,
    upsample2x,
    upsample_fir,
)


def layout(height: int, width: int) -> tuple[int, int, int]:
    """(levels L, h0, w0): the base grid is doubled L times to cover height x width."""
    levels = max(0, int(math.floor(math.log2(min(height, width) / 4))))
    return levels, math.ceil(height / 2**levels), math.ceil(width / 2**levels)


def crop_box(height: int, width: int) -> tuple[int, int, int, int]:
    """Offsets and full size (top, left, full_h, full_w) of the domain in the padded grid."""
    levels, h0, w0 = layout(height, width)
    fh, fw = h0 * 2**levels, w0 * 2**levels
    return (fh - height) // 2, (fw - width) // 2, fh, fw


def channels_at(level: int, base: int, cmax: int) -> int:
    return min(base // (4 * 2**level), cmax)


def channel_list(levels: int, base: int, cmax: int, table: list[int] | None = None) -> list[int]:
    """Feature channels of each level, coarsest first: ``min(base / res, max)``, or an
    explicit table - a grid with fewer levels uses its first entries, one with more
    repeats its last (so a 32x32 import can be transferred to a larger crop)."""
    if table is None:
        return [channels_at(i, base, cmax) for i in range(levels + 1)]
    if not table or min(table) < 1:
        raise ValueError(f"channel_table {table}: needs positive channel counts")
    return [table[min(i, len(table) - 1)] for i in range(levels + 1)]


class MappingNetwork(nn.Module):
    def __init__(self, z_dim: int, w_dim: int, depth: int, lr_mul: float = 0.01) -> None:
        super().__init__()
        dims = [z_dim] + [w_dim] * depth
        self.layers = nn.Sequential(
            *[
                EqualLinear(a, b, lr_mul=lr_mul, activate=True)
                for a, b in zip(dims, dims[1:], strict=False)
            ]
        )
        self.register_buffer("w_avg", torch.zeros(w_dim))

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        z = z * torch.rsqrt(z.square().mean(dim=1, keepdim=True) + 1e-8)
        return self.layers(z)


class StyledConv(nn.Module):
    def __init__(
        self,
        in_ch: int,
        out_ch: int,
        w_dim: int,
        upsample: bool,
        noise: bool,
        upsample_mode: str = "transposed",
        stored_fir: bool = False,
    ) -> None:
        super().__init__()
        self.conv = ModulatedConv2d(
            in_ch,
            out_ch,
            3,
            w_dim,
            upsample=upsample,
            upsample_mode=upsample_mode,
            stored_fir=stored_fir,
        )
        self.noise_strength = nn.Parameter(torch.zeros(())) if noise else None
        self.bias = nn.Parameter(torch.zeros(out_ch))
        #: activation bound under fp16/bf16 (the reference clamps at 256 likewise)
        self.conv_clamp: float | None = 256.0

    def forward(self, x: torch.Tensor, w: torch.Tensor, noise: torch.Tensor | None) -> torch.Tensor:
        """lrelu(demod * conv(x) + noise + bias) * sqrt(2), in three passes over the
        activations: leaky ReLU is positively homogeneous, so the gain sqrt(2) folds into
        the demodulation, noise strength and bias (the same function, fewer passes)."""
        x, d = self.conv.convolve(x, w)  # always demodulated here
        gain = SQRT2
        scale = (d * gain).to(x.dtype)
        x = torch.addcmul((self.bias * gain).to(x.dtype)[:, None, None], x, scale[:, :, None, None])
        if self.noise_strength is not None and noise is not None:
            x = x.add_(noise.to(x.dtype) * (self.noise_strength * gain).to(x.dtype))
        x = F.leaky_relu_(x, 0.2)
        if self.conv_clamp is not None and x.dtype in (torch.float16, torch.bfloat16):
            x = x.clamp_(-self.conv_clamp, self.conv_clamp)  # reduced precision: no overflow
        return x


class ToFields(nn.Module):
    """Modulated 1x1 convolution to the domain's variables (no demodulation)."""

    def __init__(self, in_ch: int, channels: int, w_dim: int) -> None:
        super().__init__()
        self.conv = ModulatedConv2d(in_ch, channels, 1, w_dim, demodulate=False)
        self.bias = nn.Parameter(torch.zeros(channels))

    def forward(self, x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        return self.conv(x, w) + self.bias.to(x.dtype)[:, None, None]


class SynthesisBlock(nn.Module):
    def __init__(
        self,
        in_ch: int,
        out_ch: int,
        channels: int,
        w_dim: int,
        first: bool,
        noise: bool,
        upsample_mode: str = "transposed",
        stored_fir: bool = False,
    ) -> None:
        super().__init__()
        self.first = first
        self.conv0 = (
            None
            if first
            else StyledConv(in_ch, out_ch, w_dim, True, noise, upsample_mode, stored_fir)
        )
        self.conv1 = StyledConv(out_ch, out_ch, w_dim, False, noise)
        self.to_fields = ToFields(out_ch, channels, w_dim)
        self.num_ws = 2 if first else 3  # convs + to_fields (the last one shared onward)
        #: the kernel that up-samples the skip output coming into this block, if stored
        self.register_buffer("skip_fir", fir_2d(4.0) if stored_fir and not first else None)

    def upsample_skip(self, img: torch.Tensor, edges: str) -> torch.Tensor:
        if self.skip_fir is not None:
            return upsample_fir(img, self.skip_fir)
        return upsample2x(img, edges)


class Generator(nn.Module):
    """Mapping network + synthesis network with skip connections to the output."""

    def __init__(
        self,
        channels: int,
        height: int,
        width: int,
        z_dim: int = 512,
        w_dim: int = 512,
        mapping_layers: int = 8,
        channel_base: int = 16384,
        channel_max: int = 512,
        noise: bool = True,
        output_activation: str = "linear",
        upsample_mode: str = "transposed",
        channel_table: list[int] | None = None,
        mapping_lr_mul: float = 0.01,
        edges: str = "replicate",
        stored_noise: bool = False,
        stored_fir: bool = False,
    ) -> None:
        super().__init__()
        if stored_fir and edges != "zero":
            raise ValueError("stored FIR kernels resample with zero edges (resample_edges: zero)")
        self.channels, self.height, self.width = channels, height, width
        self.z_dim, self.w_dim = z_dim, w_dim
        self.levels, self.h0, self.w0 = layout(height, width)
        self.mapping = MappingNetwork(z_dim, w_dim, mapping_layers, mapping_lr_mul)
        ch = channel_list(self.levels, channel_base, channel_max, channel_table)
        self.const = nn.Parameter(torch.randn(ch[0], self.h0, self.w0))
        self.blocks = nn.ModuleList(
            SynthesisBlock(
                ch[max(i - 1, 0)], ch[i], channels, w_dim, i == 0, noise, upsample_mode, stored_fir
            )
            for i in range(self.levels + 1)
        )
        self.noise = noise
        self.edges = edges
        self.output_activation = output_activation
        #: constant noise maps kept with the weights (``--noise const``), one per layer
        self.stored_noise = stored_noise
        if stored_noise:
            for i, (h, w) in enumerate(self.noise_shapes()):
                self.register_buffer(f"noise_const_{i}", torch.randn(1, 1, h, w))
        #: NHWC activations: oneDNN (CPU) and cuDNN (tensor cores) run these convolutions,
        #: the transposed one above all, 2-4x faster than in NCHW (benchmarks/stylegan2.py)
        self.channels_last = True
        # ws: one per conv, plus one for the last to_fields
        self.num_ws = sum(1 if b.first else 2 for b in self.blocks) + 1

    def noise_shapes(self) -> list[tuple[int, int]]:
        shapes = []
        for i, b in enumerate(self.blocks):
            hw = (self.h0 * 2**i, self.w0 * 2**i)
            shapes += [hw] if b.first else [hw, hw]
        return shapes

    def const_noise(self) -> list[torch.Tensor]:
        """The stored constant noise maps (1, 1, h, w), in synthesis order."""
        if not self.stored_noise:
            raise ValueError("this generator stores no constant noise maps")
        return [getattr(self, f"noise_const_{i}") for i in range(len(self.noise_shapes()))]

    def draw_noise(
        self,
        batch: int,
        rand: BatchRandom | None,
        gen: torch.Generator | None,
        device: torch.device,
    ) -> list[torch.Tensor | None]:
        if not self.noise:
            return [None] * len(self.noise_shapes())
        out = []
        for h, w in self.noise_shapes():
            if rand is not None:
                out.append(rand.randn(batch, 1, h, w))
            else:
                out.append(torch.randn(batch, 1, h, w, generator=gen).to(device))
        return out

    def synthesis(self, ws: torch.Tensor, noise: list[torch.Tensor | None]) -> torch.Tensor:
        x = self.const.unsqueeze(0).expand(ws.shape[0], -1, -1, -1)
        if self.channels_last:  # every later convolution keeps the layout
            x = x.contiguous(memory_format=torch.channels_last)
        img = None
        wi = ni = 0
        for block in self.blocks:
            if not block.first:
                x = block.conv0(x, ws[:, wi], noise[ni])
                wi, ni = wi + 1, ni + 1
            x = block.conv1(x, ws[:, wi], noise[ni])
            wi, ni = wi + 1, ni + 1
            y = block.to_fields(x, ws[:, wi])
            img = y if img is None else block.upsample_skip(img, self.edges) + y
        top, left, _, _ = crop_box(self.height, self.width)
        img = img[..., top : top + self.height, left : left + self.width]
        if self.output_activation == "tanh":
            img = torch.tanh(img)
        return img

    def ws_from_z(self, z: torch.Tensor, truncation: float = 1.0) -> torch.Tensor:
        w = self.mapping(z)
        if truncation != 1.0:
            w = self.mapping.w_avg.to(w) + truncation * (w - self.mapping.w_avg.to(w))
        return w.unsqueeze(1).expand(-1, self.num_ws, -1)


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

    def forward(self, img: torch.Tensor) -> torch.Tensor:
        img = self.pad(img)
        if self.channels_last:
            img = img.contiguous(memory_format=torch.channels_last)
        x = lrelu(self.from_fields(img))
        for block in self.blocks:
            x = block(x)
        x = lrelu(self.conv(self.minibatch_std(x)))
        return self.out(self.fc(x.flatten(1)))

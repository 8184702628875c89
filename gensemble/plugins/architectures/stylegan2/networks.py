"""StyleGAN2 generator (mapping + skip synthesis); the residual discriminator and the
mapping network are the GANs' shared ones (:mod:`..gan`).

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

import logging

import torch
import torch.nn.functional as F
from torch import nn

from gensemble.api.model import BatchRandom
from gensemble.plugins.architectures.gan.layers import SQRT2, fir_2d
from gensemble.plugins.architectures.gan.levels import channel_list, crop_box, layout
from gensemble.plugins.architectures.gan.mapping import MappingNetwork
from gensemble.plugins.architectures.stylegan2.layers import (
    ModulatedConv2d,
    upsample2x,
    upsample_fir,
)

LOG = logging.getLogger(__name__)


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
            # out of place: leaky_relu_ saved its output for the backward pass
            x = x.clamp(-self.conv_clamp, self.conv_clamp)  # reduced precision: no overflow
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

    def synthesis(
        self,
        ws: torch.Tensor,
        noise: list[torch.Tensor | None],
        features: list[torch.Tensor] | None = None,
    ) -> torch.Tensor:
        """Fields from W+ codes; ``features[i]`` (a condition's encoding at block i's
        resolution and width), when given, is added after that block's convolutions."""
        x = self.const.unsqueeze(0).expand(ws.shape[0], -1, -1, -1)
        if self.channels_last:  # every later convolution keeps the layout
            x = x.contiguous(memory_format=torch.channels_last)
        img = None
        wi = ni = 0
        for i, block in enumerate(self.blocks):
            if not block.first:
                x = block.conv0(x, ws[:, wi], noise[ni])
                wi, ni = wi + 1, ni + 1
            x = block.conv1(x, ws[:, wi], noise[ni])
            wi, ni = wi + 1, ni + 1
            if features is not None:
                x = x + features[i].to(x.dtype)
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

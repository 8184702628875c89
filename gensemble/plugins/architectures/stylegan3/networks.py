"""The alias-free generator: mapping network, Fourier input, L alias-free layers and the
layer to the fields, on any (H, W) (see :mod:`.schedule`).

W+ has L + 2 rows: the input's transform, then one per layer (the last: to the fields).
No noise inputs (they are absolute-position cues the paper removes).
"""

from __future__ import annotations

import logging

import torch
from torch import nn

from gensemble.plugins.architectures.gan.mapping import MappingNetwork
from gensemble.plugins.architectures.stylegan3.layers import AliasFreeLayer, FourierInput
from gensemble.plugins.architectures.stylegan3.schedule import build_schedule

LOG = logging.getLogger(__name__)


class Generator3(nn.Module):
    def __init__(self, channels: int, height: int, width: int, o) -> None:  # noqa: ANN001
        super().__init__()
        self.height, self.width = height, width
        self.z_dim, self.w_dim = o.z_dim, o.w_dim
        self.schedule = build_schedule(
            height,
            width,
            channels,
            num_layers=o.num_layers,
            num_critical=o.num_critical,
            margin=o.margin,
            channel_base=o.channel_base,
            channel_max=o.channel_max,
            filter_size=o.filter_size,
            config=o.config,
            first_cutoff=o.first_cutoff,
        )
        s = self.schedule
        self.mapping = MappingNetwork(o.z_dim, o.w_dim, o.mapping_layers, o.mapping_lr_mul)
        self.input = FourierInput(
            o.w_dim, s.input_channels, s.input_size, s.input_rate, s.input_cutoff
        )
        extent = (width / s.output_rate, height / s.output_rate)
        n_static = len(o.static_fields)
        self.layers = nn.ModuleList(
            AliasFreeLayer(spec, o.w_dim, o.kernels, o.conv_clamp, n_static, extent)
            for spec in s.layers
        )
        self.output_scale = o.output_scale
        self.num_ws = len(s.layers) + 1
        self.register_buffer("static", torch.zeros(1, n_static, height, width))

    def ws_from_z(self, z: torch.Tensor, truncation: float = 1.0) -> torch.Tensor:
        w = self.mapping(z)
        if truncation != 1.0:
            w = self.mapping.w_avg.to(w) + truncation * (w - self.mapping.w_avg.to(w))
        return w.unsqueeze(1).expand(-1, self.num_ws, -1)

    def synthesis(
        self, ws: torch.Tensor, track_magnitudes: bool = False, magnitude_beta: float = 0.999
    ) -> torch.Tensor:
        """Fields from W+ codes; ``track_magnitudes`` moves each layer's input-magnitude EMA
        towards this batch's by 1 - ``magnitude_beta`` (training passes of G only)."""
        x = self.input(ws[:, 0])
        static = self.static.expand(ws.shape[0], -1, -1, -1) if self.static.shape[1] else None
        beta = magnitude_beta if track_magnitudes else None
        for i, layer in enumerate(self.layers):
            x = layer(x, ws[:, i + 1], static, magnitude_beta=beta)
        return (x * self.output_scale).contiguous()  # the layers may leave channels-last

    def set_shift(self, dx_px: float = 0.0, dy_px: float = 0.0) -> None:
        """Translate the input by (dx, dy) output pixels (the equivariance metric)."""
        rate = self.schedule.output_rate
        self.input.shift.copy_(torch.tensor([dx_px / rate, dy_px / rate]))

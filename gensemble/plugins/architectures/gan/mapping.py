"""StyleGAN's mapping network z -> w (Karras et al. 2019): normalised z through equalised
fully connected layers, with ``w_avg``, the running mean of w that truncation aims at."""

from __future__ import annotations

import logging

import torch
from torch import nn

from gensemble.plugins.architectures.gan.layers import EqualLinear

LOG = logging.getLogger(__name__)


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

"""How a conditional StyleGAN2 sees the seed members of a forecast.

The K seeds become two maps per variable, their mean and their spread (standard deviation
over the seeds, 0 for one seed): a summary that does not depend on the seeds' order, the
set encoder of the SEEDS idea in its simplest form.  A row whose condition is dropped in
training (or left out when sampling unconditionally) replaces the maps' encoding by a
learnt "no condition" feature, so the same network also draws climatological members.

* :class:`ConditionEncoder` (in G): a convolutional pyramid from the maps to every
  synthesis resolution - added to that block's activations (spatial injection) - and a
  pooled vector added to every W+ row (the style offset);
* :class:`ConditionInput` (in D): the same maps read by D's first layer beside the field,
  so D judges a member *as a member of that forecast*.
"""

from __future__ import annotations

import logging
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import nn

from gensemble.plugins.architectures.gan.layers import EqualConv2d, EqualLinear, downsample2x, lrelu
from gensemble.plugins.architectures.gan.levels import crop_box

LOG = logging.getLogger(__name__)


class ConditionMaps(NamedTuple):
    """A batch's condition: mean and spread maps (B, C, H, W), and ``present`` (B,) 1 for
    a row that has a condition, 0 for one that has none."""

    mean: torch.Tensor
    spread: torch.Tensor
    present: torch.Tensor

    def head(self, n: int) -> ConditionMaps:
        return ConditionMaps(self.mean[:n], self.spread[:n], self.present[:n])


def condition_maps(seeds: torch.Tensor, present: torch.Tensor | None = None) -> ConditionMaps:
    """The order-invariant maps of seeds (B, K, C, H, W); ``present`` default all 1."""
    mean = seeds.mean(dim=1)
    spread = seeds.std(dim=1, unbiased=False) if seeds.shape[1] > 1 else torch.zeros_like(mean)
    if present is None:
        present = torch.ones(seeds.shape[0], device=seeds.device, dtype=seeds.dtype)
    keep = present.to(mean.dtype)[:, None, None, None]
    return ConditionMaps(mean * keep, spread * keep, present.to(mean.dtype))


def no_condition(n: int, shape: tuple[int, ...], like: torch.Tensor) -> ConditionMaps:
    zeros = torch.zeros((n, *shape), device=like.device, dtype=like.dtype)
    return ConditionMaps(zeros, zeros, torch.zeros(n, device=like.device, dtype=like.dtype))


def pad_to_render(x: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """Zero-pad (B, C, H, W) into the generator's full render grid, where it crops from."""
    top, left, fh, fw = crop_box(height, width)
    if (fh, fw) == (height, width):
        return x
    return F.pad(x, (left, fw - width - left, top, fh - height - top))


class _MapsInput(nn.Module):
    """The maps' 1x1 reading, or the learnt no-condition feature."""

    def __init__(self, channels: int, out_ch: int) -> None:
        super().__init__()
        self.from_mean = EqualConv2d(channels, out_ch, 1)
        self.from_spread = EqualConv2d(channels, out_ch, 1, bias=False)
        self.null = nn.Parameter(torch.zeros(out_ch))

    def forward(self, cond: ConditionMaps, height: int, width: int) -> torch.Tensor:
        mean = pad_to_render(cond.mean, height, width)
        spread = pad_to_render(cond.spread, height, width)
        h = self.from_mean(mean) + self.from_spread(spread)
        p = cond.present.to(h.dtype)[:, None, None, None]
        return p * h + (1 - p) * self.null.to(h.dtype)[None, :, None, None]


class ConditionEncoder(nn.Module):
    """Maps -> (features per synthesis block, coarsest first; W offset (B, w_dim))."""

    def __init__(
        self, channels: int, height: int, width: int, enc_ch: list[int], gen_ch: list[int],
        w_dim: int,
    ) -> None:  # fmt: skip
        super().__init__()
        self.height, self.width = height, width
        levels = len(enc_ch) - 1
        self.input = _MapsInput(channels, enc_ch[levels])
        self.refine = nn.ModuleList(EqualConv2d(c, c, 3) for c in enc_ch)
        self.inject = nn.ModuleList(
            EqualConv2d(c, g, 1) for c, g in zip(enc_ch, gen_ch, strict=True)
        )
        # down[i] takes level i + 1 to level i
        self.down = nn.ModuleList(EqualConv2d(enc_ch[i + 1], enc_ch[i], 3) for i in range(levels))
        self.style = EqualLinear(enc_ch[0], w_dim)

    def forward(self, cond: ConditionMaps) -> tuple[list[torch.Tensor], torch.Tensor]:
        h = lrelu(self.input(cond, self.height, self.width))
        levels = len(self.refine) - 1
        feats: list[torch.Tensor] = [None] * (levels + 1)  # type: ignore[list-item]
        for i in range(levels, -1, -1):
            if i < levels:
                h = downsample2x(lrelu(self.down[i](h)))
            feats[i] = self.inject[i](lrelu(self.refine[i](h)))
        return feats, self.style(h.mean(dim=(2, 3)))


class ConditionInput(nn.Module):
    """D's reading of the condition, added to its reading of the field."""

    def __init__(self, channels: int, height: int, width: int, out_ch: int) -> None:
        super().__init__()
        self.height, self.width = height, width
        self.input = _MapsInput(channels, out_ch)

    def forward(self, cond: ConditionMaps) -> torch.Tensor:
        return self.input(cond, self.height, self.width)

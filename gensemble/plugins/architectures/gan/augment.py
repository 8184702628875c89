"""Differentiable augmentation with an adaptive probability (after Karras et al. 2020, ADA).

Only transformations that keep a weather field physically valid are used: integer
translation (reflect padding), additive offset and multiplicative contrast per sample,
and cutout.  Flips and rotations are left out on purpose: they would turn westerlies into
easterlies and mountains upside down.  Each transformation is applied to each sample with
probability p; p is raised when the discriminator is over-confident on reals
(r_t = E[sign D(real)] above ``target``) and lowered otherwise, as in the ADA paper.
"""

from __future__ import annotations

import logging

import torch

from gensemble.api.model import BatchRandom

LOG = logging.getLogger(__name__)


def augment(x: torch.Tensor, p: float, rand: BatchRandom) -> torch.Tensor:
    """Apply each transformation with probability p to each sample (differentiably)."""
    b, _, h, w = x.shape
    u = rand.rand(b, 8)
    if p <= 0:
        return x
    apply = (u[:, :4] < p).to(x.dtype)
    # translation by up to 1/8 of the size, reflect padding
    shift = ((u[:, 4:6] * 2 - 1) * torch.tensor([h / 8, w / 8], device=x.device)).round().long()
    shift = shift * apply[:, :1].long()
    py, px = max(1, h // 8), max(1, w // 8)
    padded = torch.nn.functional.pad(x, (px, px, py, py), mode="reflect")
    rows = torch.arange(h, device=x.device)[None, :] + py - shift[:, :1]
    cols = torch.arange(w, device=x.device)[None, :] + px - shift[:, 1:2]
    idx_b = torch.arange(b, device=x.device)[:, None, None]
    x = padded.permute(0, 2, 3, 1)[idx_b, rows[:, :, None], cols[:, None, :]].permute(0, 3, 1, 2)
    # additive offset (std 0.2) and contrast (log-normal, std 0.5 in log2)
    offset = (u[:, 6:7] * 2 - 1) * 0.2 * apply[:, 1:2]
    contrast = torch.exp2((u[:, 7:8] * 2 - 1) * 0.5 * apply[:, 2:3])
    x = (
        (x - x.mean(dim=(2, 3), keepdim=True)) * contrast[:, :, None, None]
        + x.mean(dim=(2, 3), keepdim=True)
        + offset[:, :, None, None]
    )
    # cutout of a quarter-size box at a random place
    centre = rand.rand(b, 2)
    yy = torch.arange(h, device=x.device)[None, :, None] / h
    xx = torch.arange(w, device=x.device)[None, None, :] / w
    box = ((yy - centre[:, 0, None, None]).abs() < 0.25) & (
        (xx - centre[:, 1, None, None]).abs() < 0.25
    )
    keep = 1 - box.to(x.dtype) * apply[:, 3, None, None]
    return x * keep[:, None]


def adapt_probability(
    p: float, real_sign_mean: float, images: int, target: float = 0.6, speed_kimg: float = 100.0
) -> float:
    """ADA's controller: p moves by images / (speed_kimg * 1000) towards sign(r_t - target),
    where r_t = E[sign D(real)] measures how over-confident the discriminator is."""
    adjust = (1 if real_sign_mean > target else -1) * images / (speed_kimg * 1000)
    return float(min(max(p + adjust, 0.0), 1.0))

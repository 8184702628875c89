"""The EMA generator (Karras et al. 2019, 2020): G_ema follows G with a half-life counted
in images, ramped up with the images seen so far, and carries the truncation centre."""

from __future__ import annotations

import logging

import torch

LOG = logging.getLogger(__name__)


def ema_beta(ema_kimg: float, rampup: float | None, global_batch: int, step: int) -> float:
    """Decay of the EMA generator for one step: half-life ``ema_kimg`` thousand images,
    ramped up with the images seen in this run when ``rampup`` is set."""
    half_life = ema_kimg * 1000
    if rampup is not None:
        half_life = min(half_life, (step + 1) * global_batch * rampup)
    return 0.5 ** (global_batch / max(half_life, 1e-8))


@torch.no_grad()
def update_ema(
    g_ema: torch.nn.Module,
    g: torch.nn.Module,
    beta: float,
    w_mean: torch.Tensor,
    w_avg_beta: float = 0.995,
) -> None:
    """G_ema's parameters move toward G's by 1 - beta, its buffers are copied (magnitude
    EMAs too), and the truncation centre ``mapping.w_avg`` follows the mean w of the batch
    with decay ``w_avg_beta`` per step (StyleGAN2's 0.995, StyleGAN3's 0.998)."""
    for p_ema, p in zip(g_ema.parameters(), g.parameters(), strict=True):
        p_ema.lerp_(p.detach(), 1 - beta)
    for b_ema, b in zip(g_ema.buffers(), g.buffers(), strict=True):
        b_ema.copy_(b)
    g.mapping.w_avg.lerp_(w_mean.to(g.mapping.w_avg), 1 - w_avg_beta)
    g_ema.mapping.w_avg.copy_(g.mapping.w_avg)

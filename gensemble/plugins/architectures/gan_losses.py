"""What the GAN architectures share: the non-saturating logistic losses, the R1 penalty,
Adam settings under lazy regularisation and the EMA generator's update (Karras et al. 2019,
2020), so stylegan2 and stylegan3 train with one definition of each."""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F

from gensemble.api.model import OptimizerSpec


def g_nonsaturating(d_fake: torch.Tensor) -> torch.Tensor:
    return F.softplus(-d_fake).mean()


def d_logistic(d_real: torch.Tensor, d_fake: torch.Tensor) -> torch.Tensor:
    return F.softplus(d_fake).mean() + F.softplus(-d_real).mean()


def r1_penalty(d: Callable[[torch.Tensor], torch.Tensor], real: torch.Tensor) -> torch.Tensor:
    """Mean over the batch of |grad_x D(x)|^2 at the real samples."""
    real = real.detach().requires_grad_(True)
    (grad,) = torch.autograd.grad(d(real).sum(), real, create_graph=True)
    return grad.square().sum(dim=(1, 2, 3)).mean()


def lazy_adam(
    params: list[torch.nn.Parameter], lr: float, betas: tuple[float, float], interval: int
) -> OptimizerSpec:
    """Adam for a network regularised every ``interval`` steps: lr and betas rescaled by
    k / (k + 1) (Karras et al. 2020, appendix B)."""
    ratio = interval / (interval + 1) if interval > 0 else 1.0
    return OptimizerSpec(params, lr * ratio, (betas[0] ** ratio, betas[1] ** ratio), 1e-8)


def ema_beta(ema_kimg: float, rampup: float | None, global_batch: int, step: int) -> float:
    """Decay of the EMA generator for one step: half-life ``ema_kimg`` thousand images,
    ramped up with the images seen in this run when ``rampup`` is set."""
    half_life = ema_kimg * 1000
    if rampup is not None:
        half_life = min(half_life, (step + 1) * global_batch * rampup)
    return 0.5 ** (global_batch / max(half_life, 1e-8))


@torch.no_grad()
def update_ema(
    g_ema: torch.nn.Module, g: torch.nn.Module, beta: float, w_mean: torch.Tensor
) -> None:
    """G_ema's parameters move toward G's by 1 - beta, its buffers are copied (magnitude
    EMAs too), and the truncation centre ``mapping.w_avg`` follows the mean w of the batch
    (StyleGAN's decay 0.995)."""
    for p_ema, p in zip(g_ema.parameters(), g.parameters(), strict=True):
        p_ema.lerp_(p.detach(), 1 - beta)
    for b_ema, b in zip(g_ema.buffers(), g.buffers(), strict=True):
        b_ema.copy_(b)
    g.mapping.w_avg.lerp_(w_mean.to(g.mapping.w_avg), 0.005)
    g_ema.mapping.w_avg.copy_(g.mapping.w_avg)

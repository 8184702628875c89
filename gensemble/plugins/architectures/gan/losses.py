"""The GAN losses the architectures share: non-saturating logistic losses, the R1 penalty
and Adam's settings under lazy regularisation (Karras et al. 2019, 2020)."""

from __future__ import annotations

import logging
from collections.abc import Callable

import torch
import torch.nn.functional as F

from gensemble.api.model import OptimizerSpec

LOG = logging.getLogger(__name__)


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

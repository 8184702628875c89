"""One training step for every GAN architecture: phases, AMP, gradient sync, lazy
regularisation, clipping and the EMA generator live here once.

An iteration runs four phases in NVIDIA's order (Karras et al. 2020, appendix B):

* ``G_main`` - the generator's non-saturating loss on its fakes;
* ``G_reg`` - its regulariser (path length for stylegan2), every ``g_reg_interval`` steps;
* ``D_main`` - the discriminator's logistic loss on fakes and reals;
* ``D_reg`` - R1 on reals, every ``r1_interval`` steps.

A lazy regulariser's gradient is added to its network's main gradient, weighted by its
interval, and each network takes one optimiser step per iteration (the order and numbers
gensemble always had; Adam's lr and betas are rescaled by k/(k+1) as the paper does).

The architecture supplies the networks and what only it knows (:class:`GANParts`): how
latents become fakes (noise inputs, magnitude tracking), how D sees a batch (augmentation,
compiled modules), its G regulariser and what follows an iteration (ADA).  The step never
reads a value back to the host: statistics are returned as device tensors.
"""

from __future__ import annotations

import logging
from abc import abstractmethod
from dataclasses import dataclass

import torch

from gensemble.api.model import GenerativeModel, StepContext, StepStats
from gensemble.plugins.architectures.gan.ema import ema_beta, update_ema
from gensemble.plugins.architectures.gan.losses import d_logistic, g_nonsaturating, r1_penalty

LOG = logging.getLogger(__name__)


@dataclass(frozen=True)
class Phase:
    """One phase of an iteration: the network it updates and how often it runs."""

    name: str
    network: str
    interval: int  # every k-th step (1: always, 0: never)

    def due(self, step: int) -> bool:
        return self.interval > 0 and step % self.interval == 0


@dataclass(frozen=True)
class GANSettings:
    """The numbers the shared step needs from an architecture's options."""

    g_reg_interval: int
    r1_gamma: float
    r1_interval: int
    ema_kimg: float
    ema_rampup: float | None
    w_avg_beta: float = 0.995  # StyleGAN2's decay of the truncation centre per step

    def phases(self) -> tuple[Phase, ...]:
        r1 = self.r1_interval if self.r1_gamma > 0 else 0
        return (
            Phase("G_main", "G", 1),
            Phase("G_reg", "G", self.g_reg_interval),
            Phase("D_main", "D", 1),
            Phase("D_reg", "D", r1),
        )


class GANParts(GenerativeModel):
    """What a GAN architecture supplies to the shared step (see the module docstring);
    its ``train_step`` is the shared one."""

    G: torch.nn.Module
    G_ema: torch.nn.Module
    D: torch.nn.Module

    @abstractmethod
    def gan_settings(self) -> GANSettings: ...

    @abstractmethod
    def draw_ws(self, batch: int, ctx: StepContext) -> torch.Tensor:
        """Latent codes (batch, num_ws, w_dim) of the training generator ``G``."""

    @abstractmethod
    def generate(self, ws: torch.Tensor, ctx: StepContext, phase: str) -> torch.Tensor:
        """Fakes from ``G`` for ``phase`` (``G_main``, ``D_main``)."""

    @abstractmethod
    def discriminate(self, x: torch.Tensor, ctx: StepContext, plain: bool = False) -> torch.Tensor:
        """D's logits; ``plain`` for R1, which needs the uncompiled modules (double
        backward)."""

    def g_regularizer(self, batch: int, ctx: StepContext) -> tuple[torch.Tensor, StepStats]:
        """The G regulariser's loss, weight included (not the interval), and what to log;
        only called when ``gan_settings().g_reg_interval`` > 0."""
        raise NotImplementedError(f"{type(self).__name__} declares a G regulariser interval")

    def after_iteration(self, ctx: StepContext, d_real: torch.Tensor, stats: StepStats) -> None:
        """Anything that follows an iteration before the EMA (e.g. ADA's probability)."""

    def train_step(
        self, real: torch.Tensor, ctx: StepContext, optimizers: dict[str, torch.optim.Optimizer]
    ) -> StepStats:
        return gan_step(self, real, ctx, optimizers)


def _apply(
    model: GANParts, net: torch.nn.Module, name: str, ctx: StepContext, opt, stats: StepStats
) -> None:  # noqa: ANN001
    """Gradient sync, clipping and the optimiser step of one network."""
    ctx.sync(net)
    if ctx.grad_clip is not None:
        params = [p for p in model.trainable(net) if p.grad is not None]
        stats[f"grad_norm_{name}"] = torch.nn.utils.clip_grad_norm_(params, ctx.grad_clip)
    opt.step()


def gan_step(
    model: GANParts,
    real: torch.Tensor,
    ctx: StepContext,
    optimizers: dict[str, torch.optim.Optimizer],
) -> StepStats:
    """One iteration: the generator's phases, then the discriminator's, then the EMA."""
    s = model.gan_settings()
    g_main, g_reg, d_main, d_reg = s.phases()
    b, dev = real.shape[0], real.device
    stats: StepStats = {}

    # generator: main loss (+ lazy regularisation)
    model.enable_grad(model.D, False)
    model.enable_grad(model.G, True)
    opt = optimizers[g_main.network]
    opt.zero_grad(set_to_none=True)
    with ctx.autocast(dev):
        ws = model.draw_ws(b, ctx)
        loss_g = g_nonsaturating(model.discriminate(model.generate(ws, ctx, g_main.name), ctx))
    loss_g.backward()
    stats["loss_G"] = loss_g.detach()
    w_mean = ctx.reduce(ws[:, 0].detach().float().mean(0)) / ctx.rand.world
    if g_reg.due(ctx.step):
        reg, reg_stats = model.g_regularizer(b, ctx)
        (reg * g_reg.interval).backward()
        stats.update(reg_stats)
    _apply(model, model.G, g_main.network, ctx, opt, stats)

    # discriminator: main loss (+ lazy R1)
    model.enable_grad(model.G, False)
    model.enable_grad(model.D, True)
    opt = optimizers[d_main.network]
    opt.zero_grad(set_to_none=True)
    with ctx.autocast(dev):
        with torch.no_grad():
            fake = model.generate(model.draw_ws(b, ctx), ctx, d_main.name)
        d_fake = model.discriminate(fake, ctx)
        d_real = model.discriminate(real, ctx)
        loss_d = d_logistic(d_real, d_fake)
    loss_d.backward()
    stats["loss_D"] = loss_d.detach()
    stats["D_real"] = d_real.detach().float().mean()
    stats["D_fake"] = d_fake.detach().float().mean()
    if d_reg.due(ctx.step):
        r1 = r1_penalty(lambda x: model.discriminate(x, ctx, plain=True), real)
        (r1 * (s.r1_gamma / 2) * d_reg.interval).backward()
        stats["reg_r1"] = r1.detach()
    _apply(model, model.D, d_main.network, ctx, opt, stats)
    model.enable_grad(model.G, True)

    model.after_iteration(ctx, d_real, stats)
    beta = ema_beta(s.ema_kimg, s.ema_rampup, ctx.global_batch, ctx.step)
    update_ema(model.G_ema, model.G, beta, w_mean, s.w_avg_beta)
    return stats

"""What the style-based GAN models (stylegan2, stylegan3) do the same way, given a
generator ``G`` with its EMA copy ``G_ema`` (each with a mapping network holding
``w_avg``, ``ws_from_z`` and ``num_ws``) and the shared residual discriminator ``D``:
optimisers, style mixing, truncated sampling, the level keys of D's blocks for transfer,
and the W-space accessors of ``LatentAccess``."""

from __future__ import annotations

import logging

import torch

from gensemble.api.capabilities import LatentAccess, Transferable, Truncatable
from gensemble.api.model import OptimizerSpec, StepContext
from gensemble.plugins.architectures.gan.losses import lazy_adam
from gensemble.plugins.architectures.gan.step import GANParts

LOG = logging.getLogger(__name__)


def mixed_ws(g: torch.nn.Module, batch: int, ctx: StepContext, mixing_prob: float) -> torch.Tensor:
    """W+ codes of ``batch`` latent draws; with probability ``mixing_prob`` the rows from a
    random cut-off on come from a second draw (style mixing regularisation).

    The draws never depend on whether mixing happens (z2, the coin and the cut-off are
    always drawn when ``mixing_prob`` > 0), so the random stream is the same either way."""
    dtype = g.mapping.w_avg.dtype  # the networks' precision (float64 runs too)
    ws = g.ws_from_z(ctx.rand.randn(batch, g.z_dim).to(dtype))
    if mixing_prob > 0:
        z2 = ctx.rand.randn(batch, g.z_dim).to(dtype)
        mix = ctx.rand.uniform() < mixing_prob
        cutoff = 1 + int(ctx.rand.uniform() * (g.num_ws - 1))
        if mix:
            ws = ws.clone()
            ws[:, cutoff:] = g.ws_from_z(z2)[:, cutoff:]
    return ws


class StyleGANModel(GANParts, Transferable, LatentAccess, Truncatable):
    """The style-based GAN base: an architecture adds its networks and synthesis."""

    options: object
    #: the G regulariser's interval option (0 or None: the architecture has none)
    g_reg_option: str | None = None

    # -- what the shared step and the loop need --------------------------------------------
    def optimizer_specs(self) -> dict[str, OptimizerSpec]:
        o = self.options
        g_interval = getattr(o, self.g_reg_option) if self.g_reg_option else 0
        return {
            "G": lazy_adam(list(self.G.parameters()), o.lr_g, o.betas, g_interval),
            "D": lazy_adam(list(self.D.parameters()), o.lr_d, o.betas, o.r1_interval),
        }

    def progress_keys(self) -> tuple[str, ...]:
        return ("loss_G", "loss_D")

    def divergence_hint(self) -> str:
        return "lower architecture.options.lr_g/lr_d or raise architecture.options.r1_gamma"

    def draw_ws(self, batch: int, ctx: StepContext) -> torch.Tensor:
        return mixed_ws(self.G, batch, ctx, self.options.mixing_prob)

    # -- sampling -------------------------------------------------------------------------------
    @torch.no_grad()
    def sample(
        self, n: int, generator: torch.Generator, device: torch.device | str = "cpu"
    ) -> torch.Tensor:
        return self.sample_truncated(n, generator, device, 1.0)

    # -- transfer ---------------------------------------------------------------------------
    def transfer_key(self, name: str) -> str:
        # D.blocks are numbered from the finest level; key them by the level they read
        # (generator layers are already numbered from the coarse end)
        prefix = "D.blocks."
        if name.startswith(prefix):
            index, rest = name[len(prefix) :].split(".", 1)
            return f"D.level{self.D.levels - int(index)}.{rest}"
        return name

    # -- W space ------------------------------------------------------------------------------
    @property
    def z_dim(self) -> int:
        return self.G.z_dim

    @property
    def w_dim(self) -> int:
        return self.G.w_dim

    def num_styles(self) -> int:
        return self.G.num_ws

    def map_z(self, z: torch.Tensor, truncation: float = 1.0) -> torch.Tensor:
        return self.G_ema.ws_from_z(z, truncation)

    def w_center(self) -> torch.Tensor:
        return self.G_ema.mapping.w_avg.detach().clone()  # what map_z truncates towards

    @torch.no_grad()
    def set_w_center(self, w: torch.Tensor) -> None:
        for g in (self.G, self.G_ema):
            g.mapping.w_avg.copy_(w.to(g.mapping.w_avg))

"""StyleGAN2 (Karras et al. 2020) in the shared GAN step: its generator with noise
inputs, path-length regularisation every ``pl_interval`` G steps, optional ADA-style
augmentation in front of the discriminator, compiled networks, and latent access.

The losses, R1, lazy regularisation, AMP, gradient sync and the EMA generator are the
shared step's (:mod:`..gan.step`).
"""

from __future__ import annotations

import copy
import logging
import math
from collections.abc import Sequence

import torch

from gensemble.api.capabilities import ChannelLayer, NoiseMode
from gensemble.api.model import StepContext, StepStats
from gensemble.core.errors import UserError
from gensemble.plugins.architectures.gan.augment import adapt_probability, augment
from gensemble.plugins.architectures.gan.discriminator import Discriminator
from gensemble.plugins.architectures.gan.step import GANSettings
from gensemble.plugins.architectures.gan.style_model import StyleGANModel
from gensemble.plugins.architectures.stylegan2.networks import Generator

LOG = logging.getLogger(__name__)


class StyleGAN2Model(StyleGANModel):
    architecture = "stylegan2"
    #: the networks' classes (a variant, e.g. the conditional one, swaps its own in)
    generator_cls: type[Generator] = Generator
    discriminator_cls: type[Discriminator] = Discriminator

    def __init__(self, channels: int, height: int, width: int, options) -> None:  # noqa: ANN001
        super().__init__()
        o = self.options = options
        self.G = self.generator_cls(
            channels,
            height,
            width,
            z_dim=o.z_dim,
            w_dim=o.w_dim,
            mapping_layers=o.mapping_layers,
            channel_base=o.channel_base,
            channel_max=o.channel_max,
            noise=o.noise,
            output_activation=o.output_activation,
            upsample_mode=o.upsample,
            channel_table=o.channel_table,
            mapping_lr_mul=o.mapping_lr_mul,
            edges=o.resample_edges,
            stored_noise=o.stored_noise,
            stored_fir=o.stored_fir,
        )
        self.D = self.discriminator_cls(
            channels,
            height,
            width,
            o.channel_base,
            o.channel_max,
            o.mbstd_group,
            channel_table=o.channel_table,
            downsample=o.d_downsample,
            edges=o.resample_edges,
            mbstd_grouping=o.mbstd_grouping,
            stored_fir=o.stored_fir,
        )
        self.G.channels_last = self.D.channels_last = o.channels_last
        self.extend_networks(channels)
        self.G_ema = copy.deepcopy(self.G).requires_grad_(False).eval()
        self.register_buffer("pl_mean", torch.zeros(()))
        self.register_buffer("ada_p", torch.tensor(float(o.augment_p)))

    def extend_networks(self, channels: int) -> None:
        """Add what a variant's networks need before G_ema is copied (default nothing)."""

    # -- what the shared GAN step asks of stylegan2 ---------------------------------------
    g_reg_option = "pl_interval"

    def gan_settings(self) -> GANSettings:
        o = self.options
        pl = o.pl_interval if o.pl_weight > 0 else 0
        return GANSettings(pl, o.r1_gamma, o.r1_interval, o.ema_kimg, o.ema_rampup)

    def channel_layers(self) -> dict[str, ChannelLayer]:
        out = {}
        for i in range(len(self.G.blocks)):
            for net in ("G", "G_ema"):
                base = f"{net}.blocks.{i}.to_fields"
                out[f"{base}.conv.weight"] = ChannelLayer(0)
                out[f"{base}.bias"] = ChannelLayer(0)
        out["D.from_fields.weight"] = ChannelLayer(1, fan_in=True)
        return out

    def size_dependent(self) -> list[str]:
        # the constant input is h0 x w0; the discriminator's dense layer sees h0 x w0 x ch;
        # its input layer's width is that of the finest level, which moves with the size
        # stored constant noise maps have each level's size
        return [
            "G.const",
            "G_ema.const",
            "D.fc.weight",
            "D.from_fields.",
            "G.noise_const_",
            "G_ema.noise_const_",
        ]

    def layer_groups(self) -> dict[str, list[str]]:
        groups = {"mapping": ["G.mapping."]}
        for i in range(len(self.G.blocks)):
            groups[f"g_block{i}"] = [f"G.blocks.{i}."] + (["G.const"] if i == 0 else [])
        # FreezeD counts the discriminator's layers from its input (high resolution) side
        groups["d_block0"] = ["D.from_fields."]
        for i in range(len(self.D.blocks)):
            groups[f"d_block{i + 1}"] = [f"D.blocks.{i}."]
        return groups

    # -- sampling ---------------------------------------------------------------------------
    def generate(self, ws: torch.Tensor, ctx: StepContext, phase: str) -> torch.Tensor:
        noise = self.G.draw_noise(ws.shape[0], ctx.rand, None, ws.device)
        return self.G.synthesis(ws, noise)

    def discriminate(self, x: torch.Tensor, ctx: StepContext, plain: bool = False) -> torch.Tensor:
        """D's logits; ``plain`` for the R1 penalty, whose double backward compiled graphs
        do not support."""
        if self.options.augment:
            x = augment(x, float(self.ada_p), ctx.rand)
        fast = self.__dict__.get("_compiled_d")
        return fast(x) if fast is not None and not plain else self.D(x)

    def compile_networks(
        self, backend: str = "inductor", mode: str | None = None, training: bool = True
    ) -> bool:
        """torch.compile G_ema's synthesis (generation, enrichment) and, for training, G's
        synthesis and D - the regularisation passes keep the plain modules (R1 and path
        length differentiate through gradients).  Parameters and state dicts are unchanged."""
        opts = {"backend": backend, "mode": mode, "dynamic": False}
        # instance attributes shadow the methods; kept out of the module registry
        object.__setattr__(self.G_ema, "synthesis", torch.compile(self.G_ema.synthesis, **opts))
        if training:
            object.__setattr__(self.G, "synthesis", torch.compile(self.G.synthesis, **opts))
            object.__setattr__(self, "_compiled_d", torch.compile(self.D, **opts))
        return True

    # -- regularisation and ADA -----------------------------------------------------------
    def g_regularizer(self, batch: int, ctx: StepContext) -> tuple[torch.Tensor, StepStats]:
        pl = self._path_length(batch, ctx)
        return pl * self.options.pl_weight, {"reg_pl": pl.detach()}

    def after_iteration(self, ctx: StepContext, d_real: torch.Tensor, stats: StepStats) -> None:
        o = self.options
        if not (o.augment and o.augment_target > 0):
            return
        # ADA's feedback reads r_t on the host: one synchronisation per step, only with
        # adaptive augmentation on
        signs = ctx.reduce(d_real.detach().float().sign().sum().reshape(1))
        rt = float(signs) / ctx.global_batch
        self.ada_p.fill_(
            adapt_probability(
                float(self.ada_p), rt, ctx.global_batch, o.augment_target, o.augment_speed_kimg
            )
        )
        stats["augment_p"] = self.ada_p.detach().clone()

    def plain_synthesis(self, ws: torch.Tensor, noise: list) -> torch.Tensor:
        """G's synthesis never compiled (the path length differentiates through its
        gradient)."""
        return type(self.G).synthesis(self.G, ws, noise)

    def _path_length(self, batch: int, ctx: StepContext) -> torch.Tensor:
        """(|J_w^T y| - a)^2 with y ~ N(0, I)/sqrt(HW), a the running mean (decay 0.01)."""
        n = max(1, batch // self.options.pl_batch_shrink)
        ws = self.draw_ws(n, ctx)
        if not ws.requires_grad:  # frozen mapping network (transfer): differentiate at w
            ws = ws.detach().requires_grad_(True)
        noise = self.G.draw_noise(n, ctx.rand, None, ws.device)
        img = self.plain_synthesis(ws, noise)
        h, w = img.shape[-2:]
        y = ctx.rand.randn(n, *img.shape[1:]) / math.sqrt(h * w)
        (grad,) = torch.autograd.grad((img * y).sum(), ws, create_graph=True)
        lengths = grad.square().sum(dim=2).mean(dim=1).sqrt()
        mean_len = ctx.reduce(lengths.detach().mean().reshape(1)) / ctx.rand.world
        self.pl_mean.copy_(self.pl_mean + 0.01 * (mean_len[0] - self.pl_mean))
        return (lengths - self.pl_mean).square().mean()

    @torch.no_grad()
    def sample_truncated(
        self,
        n: int,
        generator: torch.Generator,
        device: torch.device | str = "cpu",
        truncation: float = 1.0,
    ) -> torch.Tensor:
        g = self.G_ema
        z = torch.randn(n, g.z_dim, generator=generator).to(device)
        ws = g.ws_from_z(z, truncation)
        noise = g.draw_noise(n, None, generator, torch.device(device))
        return g.synthesis(ws, noise).float()

    # -- latent access (inversion, enrichment) ---------------------------------------------
    def style_levels(self) -> list[tuple[int, int]]:
        # each block's convolutions take one row, its output layer the next; the last
        # output layer's row is the extra final one, at the finest level
        g, levels = self.G, []
        for i, block in enumerate(g.blocks):
            hw = (g.h0 * 2**i, g.w0 * 2**i)
            levels += [hw] if block.first else [hw, hw]
        return levels + [levels[-1]]

    def noise_shapes(self) -> list[tuple[int, int]]:
        return self.G_ema.noise_shapes()

    def synthesize(
        self,
        ws: torch.Tensor,
        noise: Sequence[torch.Tensor] | NoiseMode = "zero",
        generator: torch.Generator | None = None,
    ) -> torch.Tensor:
        g = self.G_ema
        if noise == "random":
            maps = g.draw_noise(ws.shape[0], None, generator, ws.device)
        elif noise == "zero":
            maps = [None] * len(g.noise_shapes())
        elif noise == "const":
            if not g.stored_noise:
                raise UserError(
                    "this stylegan2 model stores no constant noise maps "
                    "(architecture.options.stored_noise: true when it is trained)"
                )
            maps = g.const_noise()
        else:
            maps = list(noise)
            if len(maps) != len(g.noise_shapes()):
                raise ValueError(f"{len(maps)} noise maps given, {len(g.noise_shapes())} needed")
        return g.synthesis(ws, maps)

"""StyleGAN2 training: losses, lazy regularisation, EMA, style mixing, generation.

Losses (Karras et al. 2020): non-saturating logistic for G and D; R1 on reals every
``r1_interval`` D steps and path-length regularisation every ``pl_interval`` G steps, each
multiplied by its interval (lazy regularisation), with Adam's learning rate and betas
rescaled by interval / (interval + 1) as in the paper's appendix B.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Sequence

import torch

from gensemble.api.capabilities import ChannelLayer, LatentAccess, NoiseMode, Transferable
from gensemble.api.model import GenerativeModel, OptimizerSpec, StepContext
from gensemble.core.errors import UserError
from gensemble.plugins.architectures.gan_losses import (
    d_logistic,
    g_nonsaturating,
    lazy_adam,
    r1_penalty,
)
from gensemble.plugins.architectures.style_shared import StyleGANShared
from gensemble.plugins.architectures.stylegan2.augment import adapt_probability, augment
from gensemble.plugins.architectures.stylegan2.networks import Discriminator, Generator


class StyleGAN2Model(StyleGANShared, GenerativeModel, Transferable, LatentAccess):
    architecture = "stylegan2"

    def __init__(self, channels: int, height: int, width: int, options) -> None:  # noqa: ANN001
        super().__init__()
        o = self.options = options
        self.G = Generator(
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
        self.D = Discriminator(
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
        self.G_ema = copy.deepcopy(self.G).requires_grad_(False).eval()
        self.register_buffer("pl_mean", torch.zeros(()))
        self.register_buffer("ada_p", torch.tensor(float(o.augment_p)))

    # -- interface -------------------------------------------------------------------------
    def optimizer_specs(self) -> dict[str, OptimizerSpec]:
        o = self.options
        return {
            "G": lazy_adam(list(self.G.parameters()), o.lr_g, o.betas, o.pl_interval),
            "D": lazy_adam(list(self.D.parameters()), o.lr_d, o.betas, o.r1_interval),
        }

    def progress_keys(self) -> tuple[str, ...]:
        return ("loss_G", "loss_D")

    def divergence_hint(self) -> str:
        return "lower architecture.options.lr_g/lr_d or raise architecture.options.r1_gamma"

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
    def _ws(self, batch: int, ctx: StepContext) -> torch.Tensor:
        z = ctx.rand.randn(batch, self.G.z_dim)
        ws = self.G.ws_from_z(z)
        if self.options.mixing_prob > 0:
            z2 = ctx.rand.randn(batch, self.G.z_dim)
            mix = ctx.rand.uniform() < self.options.mixing_prob
            cutoff = 1 + int(ctx.rand.uniform() * (self.G.num_ws - 1))
            if mix:
                ws = ws.clone()
                ws[:, cutoff:] = self.G.ws_from_z(z2)[:, cutoff:]
        return ws

    def _fake(self, batch: int, ctx: StepContext) -> tuple[torch.Tensor, torch.Tensor]:
        ws = self._ws(batch, ctx)
        noise = self.G.draw_noise(batch, ctx.rand, None, ws.device)
        return self.G.synthesis(ws, noise), ws

    def _d(self, x: torch.Tensor, ctx: StepContext, plain: bool = False) -> torch.Tensor:
        """D's logits; ``plain`` for the R1 penalty, whose double backward compiled graphs
        do not support."""
        p = float(self.ada_p)
        if self.options.augment:
            x = augment(x, p, ctx.rand)
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

    def _autocast(self, ctx: StepContext, device: torch.device):  # noqa: ANN202
        enabled = ctx.amp and device.type == "cuda"
        return torch.autocast(device.type, dtype=torch.bfloat16, enabled=enabled)

    # -- one step ---------------------------------------------------------------------------
    def train_step(
        self, real: torch.Tensor, ctx: StepContext, optimizers: dict[str, torch.optim.Optimizer]
    ) -> dict[str, float]:
        o = self.options
        b = real.shape[0]
        dev = real.device
        logs: dict[str, float] = {}

        # generator: main loss (+ lazy path-length regularisation)
        self.enable_grad(self.D, False)
        self.enable_grad(self.G, True)
        opt_g = optimizers["G"]
        opt_g.zero_grad(set_to_none=True)
        with self._autocast(ctx, dev):
            fake, ws = self._fake(b, ctx)
            loss_g = g_nonsaturating(self._d(fake, ctx))
        loss_g.backward()
        logs["loss_G"] = float(loss_g.detach())
        w_mean = ctx.reduce(ws[:, 0].detach().float().mean(0)) / ctx.rand.world
        if o.pl_interval > 0 and o.pl_weight > 0 and ctx.step % o.pl_interval == 0:
            pl = self._path_length(b, ctx)
            (pl * o.pl_weight * o.pl_interval).backward()
            logs["reg_pl"] = float(pl.detach())
        ctx.sync(self.G)
        opt_g.step()

        # discriminator: main loss (+ lazy R1)
        self.enable_grad(self.G, False)
        self.enable_grad(self.D, True)
        opt_d = optimizers["D"]
        opt_d.zero_grad(set_to_none=True)
        with self._autocast(ctx, dev):
            with torch.no_grad():
                fake, _ = self._fake(b, ctx)
            d_fake = self._d(fake, ctx)
            d_real = self._d(real, ctx)
            loss_d = d_logistic(d_real, d_fake)
        loss_d.backward()
        logs["loss_D"] = float(loss_d.detach())
        logs["D_real"] = float(d_real.detach().float().mean())
        logs["D_fake"] = float(d_fake.detach().float().mean())
        if o.r1_interval > 0 and o.r1_gamma > 0 and ctx.step % o.r1_interval == 0:
            r1 = r1_penalty(lambda x: self._d(x, ctx, plain=True), real)
            (r1 * (o.r1_gamma / 2) * o.r1_interval).backward()
            logs["reg_r1"] = float(r1.detach())
        ctx.sync(self.D)
        opt_d.step()
        self.enable_grad(self.G, True)

        if o.augment and o.augment_target > 0:
            signs = ctx.reduce(d_real.detach().float().sign().sum().reshape(1))
            rt = float(signs) / ctx.global_batch
            self.ada_p.fill_(
                adapt_probability(
                    float(self.ada_p), rt, ctx.global_batch, o.augment_target, o.augment_speed_kimg
                )
            )
            logs["augment_p"] = float(self.ada_p)
        self._update_ema(ctx.global_batch, ctx.step, w_mean)
        return logs

    def _path_length(self, batch: int, ctx: StepContext) -> torch.Tensor:
        """(|J_w^T y| - a)^2 with y ~ N(0, I)/sqrt(HW), a the running mean (decay 0.01)."""
        n = max(1, batch // self.options.pl_batch_shrink)
        ws = self._ws(n, ctx)
        if not ws.requires_grad:  # frozen mapping network (transfer): differentiate at w
            ws = ws.detach().requires_grad_(True)
        noise = self.G.draw_noise(n, ctx.rand, None, ws.device)
        img = type(self.G).synthesis(self.G, ws, noise)  # never the compiled one
        h, w = img.shape[-2:]
        y = ctx.rand.randn(n, *img.shape[1:]) / math.sqrt(h * w)
        (grad,) = torch.autograd.grad((img * y).sum(), ws, create_graph=True)
        lengths = grad.square().sum(dim=2).mean(dim=1).sqrt()
        mean_len = ctx.reduce(lengths.detach().mean().reshape(1)) / ctx.rand.world
        self.pl_mean.copy_(self.pl_mean + 0.01 * (mean_len[0] - self.pl_mean))
        return (lengths - self.pl_mean).square().mean()

    @torch.no_grad()
    def sample(
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
    def num_styles(self) -> int:
        return self.G.num_ws

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

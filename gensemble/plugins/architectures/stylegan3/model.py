"""StyleGAN3 training: the alias-free generator against StyleGAN2's residual discriminator
(the paper keeps it), non-saturating logistic losses and lazy R1 (no path length, no
style mixing by default), the EMA generator with its magnitude EMAs.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence

import torch

from gensemble.api.capabilities import (
    ChannelLayer,
    InputTransform,
    LatentAccess,
    NoiseMode,
    StaticConditioned,
    Transferable,
)
from gensemble.api.model import GenerativeModel, OptimizerSpec, StepContext
from gensemble.plugins.architectures.gan_losses import (
    d_logistic,
    g_nonsaturating,
    lazy_adam,
    r1_penalty,
)
from gensemble.plugins.architectures.style_shared import StyleGANShared
from gensemble.plugins.architectures.stylegan2.networks import Discriminator
from gensemble.plugins.architectures.stylegan3.layers import static_stack
from gensemble.plugins.architectures.stylegan3.networks import Generator3


class StyleGAN3Model(
    StyleGANShared, GenerativeModel, Transferable, LatentAccess, InputTransform, StaticConditioned
):
    architecture = "stylegan3"

    def __init__(self, channels: int, height: int, width: int, options) -> None:  # noqa: ANN001
        super().__init__()
        o = self.options = options
        self.G = Generator3(channels, height, width, o)
        self.D = Discriminator(
            channels, height, width, o.d_channel_base, o.d_channel_max, o.mbstd_group
        )
        self.G_ema = copy.deepcopy(self.G).requires_grad_(False).eval()

    # -- interface -------------------------------------------------------------------------
    def optimizer_specs(self) -> dict[str, OptimizerSpec]:
        o = self.options
        return {
            "G": lazy_adam(list(self.G.parameters()), o.lr_g, o.betas, 0),
            "D": lazy_adam(list(self.D.parameters()), o.lr_d, o.betas, o.r1_interval),
        }

    def progress_keys(self) -> tuple[str, ...]:
        return ("loss_G", "loss_D")

    def divergence_hint(self) -> str:
        return "lower architecture.options.lr_g/lr_d or raise architecture.options.r1_gamma"

    def _ws(self, batch: int, ctx: StepContext) -> torch.Tensor:
        ws = self.G.ws_from_z(ctx.rand.randn(batch, self.G.z_dim))
        if self.options.mixing_prob > 0 and ctx.rand.uniform() < self.options.mixing_prob:
            cutoff = 1 + int(ctx.rand.uniform() * (self.G.num_ws - 1))
            ws = ws.clone()
            ws[:, cutoff:] = self.G.ws_from_z(ctx.rand.randn(batch, self.G.z_dim))[:, cutoff:]
        return ws

    def train_step(
        self, real: torch.Tensor, ctx: StepContext, optimizers: dict[str, torch.optim.Optimizer]
    ) -> dict[str, float]:
        o = self.options
        b = real.shape[0]
        logs: dict[str, float] = {}
        self.enable_grad(self.D, False)
        self.enable_grad(self.G, True)
        optimizers["G"].zero_grad(set_to_none=True)
        ws = self._ws(b, ctx)
        fake = self.G.synthesis(ws, track_magnitudes=True)
        loss_g = g_nonsaturating(self.D(fake))
        loss_g.backward()
        logs["loss_G"] = float(loss_g.detach())
        w_mean = ctx.reduce(ws[:, 0].detach().float().mean(0)) / ctx.rand.world
        ctx.sync(self.G)
        optimizers["G"].step()

        self.enable_grad(self.G, False)
        self.enable_grad(self.D, True)
        optimizers["D"].zero_grad(set_to_none=True)
        with torch.no_grad():
            fake = self.G.synthesis(self._ws(b, ctx))
        d_fake, d_real = self.D(fake), self.D(real)
        loss_d = d_logistic(d_real, d_fake)
        loss_d.backward()
        logs["loss_D"] = float(loss_d.detach())
        logs["D_real"] = float(d_real.detach().mean())
        logs["D_fake"] = float(d_fake.detach().mean())
        if o.r1_interval > 0 and o.r1_gamma > 0 and ctx.step % o.r1_interval == 0:
            r1 = r1_penalty(self.D, real)
            (r1 * (o.r1_gamma / 2) * o.r1_interval).backward()
            logs["reg_r1"] = float(r1.detach())
        ctx.sync(self.D)
        optimizers["D"].step()
        self.enable_grad(self.G, True)
        self._update_ema(ctx.global_batch, ctx.step, w_mean)
        return logs

    @torch.no_grad()
    def sample(
        self,
        n: int,
        generator: torch.Generator,
        device: torch.device | str = "cpu",
        truncation: float = 1.0,
    ) -> torch.Tensor:
        z = torch.randn(n, self.G_ema.z_dim, generator=generator).to(device)
        return self.G_ema.synthesis(self.G_ema.ws_from_z(z, truncation)).float()

    def compile_networks(
        self, backend: str = "inductor", mode: str | None = None, training: bool = True
    ) -> bool:
        opts = {"backend": backend, "mode": mode, "dynamic": False}
        object.__setattr__(self.G_ema, "synthesis", torch.compile(self.G_ema.synthesis, **opts))
        if training:
            object.__setattr__(self.G, "synthesis", torch.compile(self.G.synthesis, **opts))
        return True

    # -- transfer ---------------------------------------------------------------------------
    def channel_layers(self) -> dict[str, ChannelLayer]:
        last = len(self.G.layers) - 1
        out = {}
        for net in ("G", "G_ema"):
            out[f"{net}.layers.{last}.weight"] = ChannelLayer(0)
            out[f"{net}.layers.{last}.bias"] = ChannelLayer(0)
        out["D.from_fields.weight"] = ChannelLayer(1, fan_in=True)
        return out

    def size_dependent(self) -> list[str]:
        # the grids the layers sample (their sizes follow H, W), the static fields, and
        # the discriminator's size-dependent layers (as in stylegan2)
        return ["G.static", "G_ema.static", "D.fc.weight", "D.from_fields."]

    def layer_groups(self) -> dict[str, list[str]]:
        groups = {"mapping": ["G.mapping."], "g_block0": ["G.input."]}
        for i in range(len(self.G.layers)):
            groups[f"g_block{i + 1}"] = [f"G.layers.{i}."]
        groups["d_block0"] = ["D.from_fields."]
        for i in range(len(self.D.blocks)):
            groups[f"d_block{i + 1}"] = [f"D.blocks.{i}."]
        return groups

    # -- latent access ------------------------------------------------------------------------
    def num_styles(self) -> int:
        return self.G.num_ws

    def style_levels(self) -> list[tuple[int, int]]:
        return [tuple(self.G.schedule.input_size)] + [
            tuple(spec.in_size) for spec in self.G.schedule.layers
        ]

    def noise_shapes(self) -> list[tuple[int, int]]:
        return []  # no noise inputs

    def synthesize(
        self,
        ws: torch.Tensor,
        noise: Sequence[torch.Tensor] | NoiseMode = "zero",
        generator: torch.Generator | None = None,
    ) -> torch.Tensor:
        if not isinstance(noise, str) and len(list(noise)):
            raise ValueError("stylegan3 takes no noise maps")
        return self.G_ema.synthesis(ws)

    # -- input transform (equivariance), static conditioning ---------------------------------------
    def synthesize_shifted(self, ws: torch.Tensor, dx_px: float, dy_px: float) -> torch.Tensor:
        g = self.G_ema
        try:
            g.set_shift(dx_px, dy_px)
            return g.synthesis(ws)
        finally:
            g.set_shift(0.0, 0.0)

    def static_fields_used(self) -> tuple[str, ...]:
        return tuple(self.options.static_fields)

    @torch.no_grad()
    def set_static_fields(self, fields: dict) -> None:
        stack = static_stack(fields, self.static_fields_used())
        if stack is not None:
            for g in (self.G, self.G_ema):
                g.static.copy_(stack.to(g.static))

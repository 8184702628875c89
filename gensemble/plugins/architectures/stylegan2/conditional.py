"""Conditional StyleGAN2 (``stylegan2_cond``): members of a forecast drawn from K seeds.

The SEEDS idea (Li et al., Science Advances 2024) in a StyleGAN2: trained on an archive
of ensemble forecasts, G learns how the members of one forecast spread around each
other, given K of them - a sample is one forward pass, with no inversion.  Trained with
the verifying truth as the target (``truth_fraction`` > 0), it does generative
post-processing: its members are drawn towards what verifies, not only what the
physical ensemble would have made.

* the seeds are summarised without order (mean and spread maps, :mod:`.conditioning`),
  encoded at every synthesis resolution and as a W offset, and shown to D;
* ``condition_dropout`` of the rows in training see no condition, so the same generator
  also draws unconditional members (``sample``, evaluation, inversion);
* everything else - losses, R1, path length, EMA, AMP - is StyleGAN2's.
"""

from __future__ import annotations

import logging

import torch
from pydantic import Field, model_validator

from gensemble.api.capabilities import ChannelLayer
from gensemble.api.conditional import (
    ConditionalSampling,
    ConditionSpec,
    ForecastBatch,
    check_condition,
)
from gensemble.api.model import StepContext, StepStats
from gensemble.core.errors import UserError
from gensemble.plugins.architectures.gan.discriminator import Discriminator
from gensemble.plugins.architectures.gan.levels import channel_list
from gensemble.plugins.architectures.gan.step import gan_step
from gensemble.plugins.architectures.stylegan2.conditioning import (
    ConditionEncoder,
    ConditionInput,
    ConditionMaps,
    condition_maps,
    no_condition,
)
from gensemble.plugins.architectures.stylegan2.model import StyleGAN2Model
from gensemble.plugins.architectures.stylegan2.networks import Generator
from gensemble.plugins.architectures.stylegan2.plugin import StyleGAN2, StyleGAN2Options

LOG = logging.getLogger(__name__)


class ConditionalGenerator(Generator):
    """StyleGAN2's generator with a condition encoder; no condition: the learnt null."""

    def attach_encoder(self, condition_channels: int, channel_base: int, channel_max: int,
                       table: list[int] | None) -> None:  # fmt: skip
        gen_ch = channel_list(self.levels, channel_base, channel_max, table)
        enc_ch = [min(c, condition_channels) for c in gen_ch]
        self.condition = ConditionEncoder(self.channels, self.height, self.width, enc_ch,
                                          gen_ch, self.w_dim)  # fmt: skip

    def synthesis(  # type: ignore[override]
        self,
        ws: torch.Tensor,
        noise: list,
        cond: ConditionMaps | None = None,
        encoded: tuple[list[torch.Tensor], torch.Tensor] | None = None,
    ) -> torch.Tensor:
        """Fields under ``cond`` (None: no condition), or under its ``encoded`` form
        (features, W offset) with a batch of 1, made once for many draws."""
        if encoded is None:
            if cond is None:  # every row the same: encoded once (inversion's hot loop)
                cond = no_condition(1, (self.channels, self.height, self.width), ws)
            encoded = self.condition(cond)
        feats, offset = encoded
        b = ws.shape[0]
        feats = [f.expand(b, *f.shape[1:]) for f in feats]
        return super().synthesis(ws + offset.expand(b, -1)[:, None].to(ws.dtype), noise, feats)


class ConditionalDiscriminator(Discriminator):
    """StyleGAN2's discriminator reading the condition beside the field."""

    def attach_condition(self, channels: int, first_ch: int) -> None:
        self.condition = ConditionInput(channels, self.height, self.width, first_ch)

    def forward(self, img: torch.Tensor, cond: ConditionMaps | None = None) -> torch.Tensor:  # type: ignore[override]
        if cond is None:
            cond = no_condition(img.shape[0], tuple(img.shape[1:]), img)
        return super().forward(img, self.condition(cond))


class ConditionalStyleGAN2Model(StyleGAN2Model, ConditionalSampling):
    architecture = "stylegan2_cond"
    generator_cls = ConditionalGenerator
    discriminator_cls = ConditionalDiscriminator
    #: the condition of the batch being trained on (None outside a training step)
    _cond: ConditionMaps | None = None

    def extend_networks(self, channels: int) -> None:
        o = self.options
        self.G.attach_encoder(o.condition_channels, o.channel_base, o.channel_max,
                              o.channel_table)  # fmt: skip
        self.D.attach_condition(channels, self.D.from_fields.weight.shape[0])

    # -- the contract -------------------------------------------------------------------
    def condition_spec(self) -> ConditionSpec:
        return ConditionSpec(self.options.seeds, self.options.truth_fraction)

    @torch.no_grad()
    def sample_conditional(
        self,
        n: int,
        condition: torch.Tensor,
        generator: torch.Generator,
        device: torch.device | str = "cpu",
    ) -> torch.Tensor:
        g = self.G_ema
        seeds = check_condition(condition, (g.channels, g.height, g.width))
        dtype = g.const.dtype
        encoded = g.condition(condition_maps(seeds.to(device=device, dtype=dtype)[None]))
        out = []
        for start in range(0, n, 16):  # the condition encoded once, for every draw
            k = min(16, n - start)
            z = torch.randn(k, g.z_dim, generator=generator).to(device=device, dtype=dtype)
            noise = g.draw_noise(k, None, generator, torch.device(device))
            out.append(g.synthesis(g.ws_from_z(z), noise, encoded=encoded).float())
        return torch.cat(out) if out else torch.empty(0, g.channels, g.height, g.width)

    @torch.no_grad()
    def sample(  # type: ignore[override]
        self,
        n: int,
        generator: torch.Generator,
        device: torch.device | str = "cpu",
        condition: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Unconditional draws (the learnt no-condition), or with ``condition`` (K, C, H, W)
        the same as :meth:`sample_conditional`."""
        if condition is not None:
            return self.sample_conditional(n, condition, generator, device)
        return self.sample_truncated(n, generator, device, 1.0)

    # -- training: the shared GAN step on the target, under the batch's condition -----------
    def train_step(
        self, real: ForecastBatch, ctx: StepContext, optimizers: dict[str, torch.optim.Optimizer]
    ) -> StepStats:
        if not isinstance(real, ForecastBatch):
            raise TypeError(f"{self.architecture} trains on ForecastBatch, got {type(real)}")
        b = real.target.shape[0]
        present = (ctx.rand.rand(b) >= self.options.condition_dropout).to(real.seeds.dtype)
        self._cond = condition_maps(real.seeds, present)
        try:
            stats = gan_step(self, real.target, ctx, optimizers)
        finally:
            self._cond = None
        stats["truth_share"] = real.truth.float().mean().detach()
        return stats

    def _batch_condition(self, n: int) -> ConditionMaps | None:
        return None if self._cond is None else self._cond.head(n)

    def generate(self, ws: torch.Tensor, ctx: StepContext, phase: str) -> torch.Tensor:
        noise = self.G.draw_noise(ws.shape[0], ctx.rand, None, ws.device)
        return self.G.synthesis(ws, noise, self._batch_condition(ws.shape[0]))

    def discriminate(self, x: torch.Tensor, ctx: StepContext, plain: bool = False) -> torch.Tensor:
        fast = self.__dict__.get("_compiled_d")
        cond = self._batch_condition(x.shape[0])
        return fast(x, cond) if fast is not None and not plain else self.D(x, cond)

    def plain_synthesis(self, ws: torch.Tensor, noise: list) -> torch.Tensor:
        return type(self.G).synthesis(self.G, ws, noise, self._batch_condition(ws.shape[0]))

    # -- transfer: the condition's readings are per variable ---------------------------------
    def channel_layers(self) -> dict[str, ChannelLayer]:
        out = super().channel_layers()
        for prefix in ("G.condition.input", "G_ema.condition.input", "D.condition.input"):
            for name in ("from_mean", "from_spread"):
                out[f"{prefix}.{name}.weight"] = ChannelLayer(1, fan_in=True)
        return out

    def size_dependent(self) -> list[str]:
        # the encoder's input level is the finest, whose width moves with the grid size
        return [*super().size_dependent(), "G.condition.input.", "G_ema.condition.input.",
                "D.condition.input."]  # fmt: skip

    def layer_groups(self) -> dict[str, list[str]]:
        return super().layer_groups() | {
            "g_condition": ["G.condition."],
            "d_condition": ["D.condition."],
        }


class ConditionalStyleGAN2Options(StyleGAN2Options):
    seeds: int = Field(2, ge=1, description="seed members K of a forecast in the condition")
    truth_fraction: float = Field(
        0.0, ge=0, le=1,
        description="share of targets that are the verifying truth (0: emulate the "
        "ensemble; 1: generative post-processing)",
    )  # fmt: skip
    condition_dropout: float = Field(
        0.1, ge=0, lt=1, description="share of training rows without a condition"
    )
    condition_channels: int = Field(128, ge=1, description="condition encoder width, at most")

    @model_validator(mode="after")
    def _no_augment(self) -> ConditionalStyleGAN2Options:
        if self.augment:
            raise ValueError("augment: geometric augmentation would move a member away from "
                             "its condition; the conditional model trains without it")  # fmt: skip
        return self


class ConditionalStyleGAN2(StyleGAN2):
    name = "stylegan2_cond"
    description = (
        "conditional StyleGAN2: members of a forecast from K seed members (SEEDS-style "
        "emulation, or generative post-processing against the truth)"
    )
    Options = ConditionalStyleGAN2Options
    tiny_options = {**StyleGAN2.tiny_options, "condition_channels": 8}
    foreign_formats = ()

    def build(self, channels: int, height: int, width: int) -> ConditionalStyleGAN2Model:
        try:
            return ConditionalStyleGAN2Model(channels, height, width, self.options)
        except ValueError as exc:
            raise UserError(f"stylegan2_cond on a {height}x{width} grid: {exc}") from None

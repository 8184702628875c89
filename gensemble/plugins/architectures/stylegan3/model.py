"""StyleGAN3 (Karras et al. 2021) in the shared GAN step: the alias-free generator against
the shared residual discriminator (the paper keeps StyleGAN2's), lazy R1 and no path
length, no style mixing by default, input-magnitude EMAs with a batch-size-tied decay, and
for config R the paper's blur of D's inputs, faded out over the first images.
"""

from __future__ import annotations

import copy
import logging
from collections.abc import Sequence

import torch

from gensemble.api.capabilities import ChannelLayer, InputTransform, NoiseMode, StaticConditioned
from gensemble.api.model import StepContext
from gensemble.plugins.architectures.gan.discriminator import Discriminator
from gensemble.plugins.architectures.gan.layers import gaussian_blur
from gensemble.plugins.architectures.gan.step import GANSettings
from gensemble.plugins.architectures.gan.style_model import StyleGANModel
from gensemble.plugins.architectures.stylegan3.layers import static_stack
from gensemble.plugins.architectures.stylegan3.networks import Generator3

LOG = logging.getLogger(__name__)


class StyleGAN3Model(StyleGANModel, InputTransform, StaticConditioned):
    architecture = "stylegan3"

    def __init__(self, channels: int, height: int, width: int, options) -> None:  # noqa: ANN001
        super().__init__()
        o = self.options = options
        self.G = Generator3(channels, height, width, o)
        self.D = Discriminator(
            channels, height, width, o.d_channel_base, o.d_channel_max, o.mbstd_group
        )
        self.G_ema = copy.deepcopy(self.G).requires_grad_(False).eval()

    # -- what the shared GAN step asks of stylegan3 ----------------------------------------
    def gan_settings(self) -> GANSettings:
        o = self.options
        return GANSettings(0, o.r1_gamma, o.r1_interval, o.ema_kimg, o.ema_rampup, o.w_avg_beta)

    def generate(self, ws: torch.Tensor, ctx: StepContext, phase: str) -> torch.Tensor:
        # the input gains follow the G pass's magnitudes, with a decay per step tied to the
        # batch size (half-life magnitude_ema_kimg thousand images) where it is set
        kimg = self.options.magnitude_ema_kimg
        beta = 0.999 if kimg is None else 0.5 ** (ctx.global_batch / (kimg * 1000))
        return self.G.synthesis(ws, track_magnitudes=phase == "G_main", magnitude_beta=beta)

    def d_blur_sigma(self, ctx: StepContext) -> float:
        """The blur of what D sees at this step: sigma_0 (1 - images / fade), at least 0
        (the paper's ramp for config R, which keeps D from locking onto early aliasing)."""
        o = self.options
        sigma0 = o.d_blur_sigma if o.d_blur_sigma is not None else (10.0 if o.config == "R" else 0)
        fade_kimg = o.d_blur_fade_kimg or 200 * ctx.global_batch / 32
        images = ctx.step * ctx.global_batch
        return sigma0 * max(0.0, 1.0 - images / (fade_kimg * 1000))

    def discriminate(self, x: torch.Tensor, ctx: StepContext, plain: bool = False) -> torch.Tensor:
        sigma = self.d_blur_sigma(ctx)
        if sigma * 3 >= 1:  # at least one tap either side
            x = gaussian_blur(x, sigma)
        return self.D(x)

    @torch.no_grad()
    def sample_truncated(
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

"""The ``stylegan3`` architecture plugin: options and model construction."""

from __future__ import annotations

import logging
from typing import Literal

from pydantic import Field

from gensemble.api.plugins import ArchitecturePlugin, PluginOptions
from gensemble.core.errors import UserError
from gensemble.plugins.architectures.stylegan3.model import StyleGAN3Model

LOG = logging.getLogger(__name__)


class StyleGAN3Options(PluginOptions):
    config: Literal["T", "R"] = Field(
        "T", description="T: translation equivariant (3x3); R: also rotation (1x1, radial)"
    )
    lr_g: float = Field(0.0025, gt=0, description="generator learning rate")
    lr_d: float = Field(0.002, gt=0, description="discriminator learning rate")
    betas: tuple[float, float] = Field((0.0, 0.99), description="Adam betas of G and D")
    z_dim: int = Field(512, ge=1)
    w_dim: int = Field(512, ge=1)
    mapping_layers: int = Field(2, ge=1)
    mapping_lr_mul: float = Field(0.01, gt=0)
    num_layers: int = Field(14, ge=2, description="alias-free layers before the output layer")
    num_critical: int = Field(2, ge=1, description="critically sampled layers at the end")
    first_cutoff: float = Field(2.0, gt=0, description="cutoff of the first layer (cycles/unit)")
    margin: int = Field(10, ge=0, description="samples kept around every feature map")
    filter_size: int = Field(6, ge=2, description="FIR taps per sampling-rate ratio")
    channel_base: int = Field(32768, ge=8, description="channels = min(base / 2 / cutoff, max)")
    channel_max: int = Field(512, ge=1)
    output_scale: float = Field(0.25, gt=0)
    conv_clamp: float = Field(256.0, gt=0, description="activation bound (fp16/bf16 safety)")
    kernels: Literal["auto", "triton", "fast", "reference"] = Field(
        "auto", description="filtered-lrelu path: auto = Triton on CUDA, polyphase on CPU"
    )
    static_fields: list[str] = Field(
        default_factory=list,
        description="condition every layer on these static fields of the store (orog, lsm)",
    )
    d_channel_base: int = Field(16384, ge=16, description="discriminator channels (stylegan2)")
    d_channel_max: int = Field(512, ge=1)
    mbstd_group: int = Field(4, ge=1)
    mixing_prob: float = Field(0.0, ge=0, le=1, description="style mixing (off in the paper)")
    r1_gamma: float = Field(2.0, ge=0)
    r1_interval: int = Field(16, ge=0, description="lazy R1 every k D steps (0: never)")
    ema_kimg: float = Field(10.0, gt=0)
    ema_rampup: float | None = Field(0.05, gt=0)
    magnitude_ema_kimg: float | None = Field(
        20.0,
        gt=0,
        description="half-life in thousands of images of the layers' input-magnitude EMAs "
        "(NVIDIA's recipe ties the decay to the batch size); None: a fixed decay of 0.999 per "
        "step, as gensemble's StyleGAN3 before it",
    )
    w_avg_beta: float = Field(
        0.998, gt=0, lt=1, description="decay per step of the truncation centre (mean w)"
    )
    d_blur_sigma: float | None = Field(
        None,
        ge=0,
        description="Gaussian blur (pixels) of what D sees at the start, faded to 0; None: "
        "10 for config R and 0 for T, as in the paper",
    )
    d_blur_fade_kimg: float | None = Field(
        None,
        gt=0,
        description="thousands of images over which the blur fades (None: 200 x batch / 32)",
    )


class StyleGAN3(ArchitecturePlugin):
    name = "stylegan3"
    description = "Alias-free StyleGAN (T/R): Fourier input, filtered lrelu, rectangular grids"
    Options = StyleGAN3Options
    tiny_options = {
        "z_dim": 8,
        "w_dim": 8,
        "num_layers": 4,
        "num_critical": 1,
        "margin": 2,
        "filter_size": 4,
        "channel_base": 64,
        "channel_max": 8,
        "d_channel_base": 64,
        "d_channel_max": 8,
        "r1_interval": 2,
    }
    #: change what the network computes but no persistent tensor's shape
    functional_options = (
        "config",
        "num_critical",
        "first_cutoff",
        "margin",
        "filter_size",
        "output_scale",
        "mapping_lr_mul",
        "static_fields",
    )

    def build(self, channels: int, height: int, width: int) -> StyleGAN3Model:
        try:
            return StyleGAN3Model(channels, height, width, self.options)
        except ValueError as exc:
            raise UserError(f"stylegan3 on a {height}x{width} grid: {exc}") from None

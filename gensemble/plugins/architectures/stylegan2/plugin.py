"""The ``stylegan2`` architecture plugin: options and model construction."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from gensemble.api.plugins import ArchitecturePlugin, PluginOptions
from gensemble.plugins.architectures.stylegan2.model import StyleGAN2Model


class StyleGAN2Options(PluginOptions):
    lr_g: float = Field(0.0025, gt=0, description="generator learning rate")
    lr_d: float = Field(0.0025, gt=0, description="discriminator learning rate")
    betas: tuple[float, float] = Field((0.0, 0.99), description="Adam betas of G and D")
    z_dim: int = Field(512, ge=1)
    w_dim: int = Field(512, ge=1)
    mapping_layers: int = Field(8, ge=1)
    channel_base: int = Field(16384, ge=16, description="channels = min(base / res, max)")
    channel_max: int = Field(512, ge=1)
    noise: bool = Field(True, description="per-layer noise inputs")
    output_activation: Literal["linear", "tanh"] = "linear"
    channels_last: bool = Field(
        True, description="NHWC activations (faster convolutions on CPU and GPU)"
    )
    upsample: Literal["transposed", "resample_conv"] = Field(
        "transposed",
        description="up-sampling convolutions: stride-2 transposed conv + FIR (1/4 of the "
        "FLOPs) or the first release's up-sample then convolve (checkpoints before format 4)",
    )
    mbstd_group: int = Field(4, ge=1)
    mixing_prob: float = Field(0.9, ge=0, le=1, description="style-mixing probability")
    r1_gamma: float = Field(10.0, ge=0)
    r1_interval: int = Field(16, ge=0, description="lazy R1 every k D steps (0: never)")
    pl_weight: float = Field(2.0, ge=0)
    pl_interval: int = Field(4, ge=0, description="lazy path length every k G steps")
    pl_batch_shrink: int = Field(2, ge=1)
    ema_kimg: float = Field(10.0, gt=0, description="EMA half-life of G in thousands of images")
    ema_rampup: float | None = Field(
        0.05,
        gt=0,
        description="half-life at most this fraction of the images seen (None: no ramp-up)",
    )
    augment: bool = Field(False, description="ADA-style differentiable augmentation")
    augment_p: float = Field(0.0, ge=0, le=1, description="initial augmentation probability")
    augment_target: float = Field(0.6, ge=0, le=1, description="ADA target r_t (0: fixed p)")
    augment_speed_kimg: float = Field(100.0, gt=0)


class StyleGAN2(ArchitecturePlugin):
    name = "stylegan2"
    description = "StyleGAN2: mapping net, modulated convs, skip G, residual D, lazy R1 + PL"
    Options = StyleGAN2Options
    tiny_options = {
        "z_dim": 8,
        "w_dim": 8,
        "mapping_layers": 2,
        "channel_base": 64,
        "channel_max": 8,
        "r1_interval": 2,
        "pl_interval": 2,
    }

    #: options that change what the network computes without changing any tensor shape:
    #: a checkpoint is only resumed or transferred with the same values
    functional_options = ("upsample",)

    @classmethod
    def migrate_options(cls, options: dict, format_version: int) -> dict:
        """Checkpoints before format 4 up-sampled then convolved."""
        if format_version < 4 and "upsample" not in options:
            return {**options, "upsample": "resample_conv"}
        return options

    def build(self, channels: int, height: int, width: int) -> StyleGAN2Model:
        return StyleGAN2Model(channels, height, width, self.options)

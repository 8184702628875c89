"""The ``stylegan2`` architecture plugin: options and model construction."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Literal

import torch
from pydantic import Field

from gensemble.api.plugins import ArchitecturePlugin, ForeignWeights, PluginOptions
from gensemble.core.errors import UserError
from gensemble.plugins.architectures.stylegan2 import prototype
from gensemble.plugins.architectures.stylegan2.model import StyleGAN2Model

LOG = logging.getLogger(__name__)


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
    channel_table: list[int] | None = Field(
        None,
        description="feature channels per level from the coarsest (4x4) up; overrides "
        "channel_base/channel_max (a smaller grid uses the first entries, a larger one "
        "repeats the last)",
    )
    mapping_lr_mul: float = Field(
        0.01, gt=0, description="learning-rate multiplier of the mapping network (lr_mlp)"
    )
    resample_edges: Literal["replicate", "zero"] = Field(
        "replicate",
        description="values outside the field when the skip outputs are up-sampled and D "
        "down-samples: edge values, or zeros (the Météo-France prototype)",
    )
    d_downsample: Literal["before_conv", "strided_conv"] = Field(
        "before_conv",
        description="D halves the resolution before its second convolution, or blurs and "
        "convolves with stride 2 (the prototype)",
    )
    mbstd_grouping: Literal["consecutive", "strided"] = Field(
        "consecutive",
        description="minibatch-stddev groups of consecutive samples, or samples batch/group "
        "apart (the prototype)",
    )
    stored_fir: bool = Field(
        False,
        description="resampling kernels kept with the weights (4x4, any values), as the "
        "prototype stores them; needs resample_edges: zero and d_downsample: strided_conv",
    )
    stored_noise: bool = Field(
        False, description="keep constant noise maps with the weights (generate --noise const)"
    )
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
    functional_options = (
        "upsample",
        "mapping_lr_mul",
        "resample_edges",
        "d_downsample",
        "mbstd_grouping",
    )

    @classmethod
    def migrate_options(cls, options: dict, format_version: int) -> dict:
        """Checkpoints before format 4 up-sampled then convolved."""
        if format_version < 4 and "upsample" not in options:
            return {**options, "upsample": "resample_conv"}
        return options

    foreign_formats = (prototype.FORMAT,)

    @classmethod
    def import_weights(cls, fmt: str, path: Path, settings: dict[str, Any]) -> ForeignWeights:
        """The Météo-France prototype's G, G_ema and D (see ``prototype.py``); ``w_avg``
        (the truncation centre, not stored there) is the mean w of 10,000 seeded draws."""
        if fmt != prototype.FORMAT:
            return super().import_weights(fmt, path, settings)
        ckpt = prototype.read_prototype(path)
        options, shape = prototype.infer_options(ckpt["g_ema"], settings.get("lr_mlp", 0.01))
        model = cls(options).build(*shape)
        notes = prototype.fill_state(model, ckpt)
        w_avg = model.mean_w(10_000, torch.Generator().manual_seed(0))
        for g in (model.G, model.G_ema):
            g.mapping.w_avg.copy_(w_avg)
        provenance = {
            "format": fmt,
            "file": Path(path).name,
            "sha256": prototype.sha256_of(Path(path)),
            "w_avg": "mean of 10000 seeded draws (seed 0)",
            "notes": notes,
        }
        return ForeignWeights(options, shape, model, provenance, prototype.training_step(ckpt))

    def build(self, channels: int, height: int, width: int) -> StyleGAN2Model:
        try:
            return StyleGAN2Model(channels, height, width, self.options)
        except ValueError as exc:  # options that do not fit this grid
            raise UserError(f"stylegan2 on a {height}x{width} grid: {exc}") from None

"""What one study compares, read from YAML or TOML (``gensemble study CONFIG``).

A study answers one question - does an enriched ensemble estimate the forecast
distribution, and the risk of high-impact weather, better than the members it came from,
and better than controls that need no generator? - on one source of forecasts:

* ``system``: a synthetic system whose law is known (:mod:`gensemble.data.synth_system`):
  the truth is an independent draw of each date, and an oracle ensemble can be drawn;
* ``store``: a real prepared store with at least ``inputs`` + 1 members per forecast: the
  truth is a held-out member (the raw ensemble is then reliable by construction), and
  there is no oracle.

Unknown keys are errors naming the key, as for experiments.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from gensemble.core.config import apply_overrides, format_validation_error, read_mapping
from gensemble.core.errors import ConfigError
from gensemble.enrichment.calibrate import CalibrationConfig
from gensemble.enrichment.invert import InversionConfig

LOG = logging.getLogger(__name__)


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", protected_namespaces=())


class SystemSource(Strict):
    """A synthetic system drawn on a square crop of a domain's grid."""

    name: str = "mesoscale"
    size: int = Field(32, ge=8, description="grid points per side")
    width: int | None = Field(None, ge=8, description="grid points west-east (default: size)")
    domain: str = "se_france"
    dates: int = Field(96, ge=3, description="forecast dates drawn (all splits)")
    members: int = Field(8, ge=2, description="members per forecast")
    seed: int = 0


class StoreSource(Strict):
    """A real prepared store; each forecast's member ``truth_member`` is its truth."""

    path: Path
    lead: float | None = Field(None, description="the lead time (hours) studied; default all")
    truth_member: int = Field(-1, description="index of the member held out as truth")
    block_hours: float = Field(24.0, gt=0, description="bootstrap blocks of valid times")


class Splits(Strict):
    """Disjoint train / calibrate / test forecast dates: counts taken in time order
    (train first) or explicit lists of forecast reference times."""

    train: int | list[str] = 60
    calibrate: int | list[str] = 12
    test: int | list[str] = 24


class Method(Strict):
    """One enrichment variant.

    ``kind: inversion`` (the default): its inversion noise, how perturbations are drawn,
    and the calibration objective its (a, b) are fitted by.  ``kind: conditional``: a
    conditional generator (``conditional_model``, with this method's ``truth_fraction``:
    0 emulates the ensemble, > 0 post-processes against the truth) trained on the train
    dates draws the N members from K of the M inputs; nothing is inverted or calibrated.
    """

    name: str = Field(pattern=r"^[A-Za-z0-9_.\-]+$")
    kind: Literal["inversion", "conditional"] = "inversion"
    truth_fraction: float = Field(
        0.0, ge=0, le=1, description="conditional: share of training targets that are the truth"
    )
    ref: str | None = Field(
        None, description="conditional: an existing conditional run or checkpoint to use"
    )
    noise: Literal["const", "fixed", "random", "optimize"] = "random"
    sampling: Literal["ensemble", "per_row"] = "ensemble"
    objective: Literal["crps", "reference", "truth", "none"] = "crps"
    hybrid: bool = Field(True, description="also score the inputs + N - M generated")


#: the reference study's methods: the candidate default (fresh random noise per member,
#: ensemble-space perturbations, leave-half-out calibration) and one change each
REFERENCE_METHODS = (
    Method(name="enriched"),
    Method(name="const-noise", noise="const", hybrid=False),
    Method(name="per-row", sampling="per_row", hybrid=False),
    Method(name="truth-calibrated", objective="truth", hybrid=False),
)


class ModelSpec(Strict):
    """The generator: trained by the study on the train dates, or an existing one."""

    ref: str | None = Field(None, description="run id or checkpoint; default: train one")
    architecture: dict[str, Any] = Field(
        default_factory=lambda: {
            "name": "stylegan2",
            "options": {
                "z_dim": 64,
                "w_dim": 64,
                "mapping_layers": 2,
                "channel_base": 2048,
                "channel_max": 64,
            },
        }
    )
    training: dict[str, Any] = Field(
        default_factory=lambda: {"steps": 2000, "batch_size": 16, "log_every": 100}
    )


def _conditional_architecture() -> dict[str, Any]:
    options = {**ModelSpec().architecture["options"], "seeds": 2, "condition_channels": 64}
    return {"name": "stylegan2_cond", "options": options}


class ConditionalModelSpec(ModelSpec):
    """The conditional methods' generator: by default the study's network as a
    conditional StyleGAN2 with 2 seeds."""

    architecture: dict[str, Any] = Field(default_factory=_conditional_architecture)


class StudyConfig(Strict):
    name: str = Field("reference", pattern=r"^[A-Za-z0-9_.\-]+$")
    system: SystemSource | None = None
    store: StoreSource | None = None
    splits: Splits = Field(default_factory=Splits)
    inputs: int = Field(8, ge=2, description="members M of the raw ensemble that is enriched")
    n: int = Field(120, ge=3, description="members N of every enlarged ensemble")
    methods: list[Method] = Field(default_factory=lambda: list(REFERENCE_METHODS))
    model: ModelSpec = Field(default_factory=ModelSpec)
    conditional_model: ConditionalModelSpec = Field(
        default_factory=ConditionalModelSpec,
        description="the conditional methods' generator (each trained with its method's "
        "truth_fraction); ref: an existing conditional run or checkpoint",
    )
    inversion: InversionConfig = Field(default_factory=lambda: InversionConfig(steps=200))
    calibration: CalibrationConfig = Field(
        default_factory=lambda: CalibrationConfig(n=32, evals=20)
    )
    levels: list[int] | None = Field(None, description="style levels perturbed (default all)")
    fss_scale: int = Field(5, ge=1, description="FSS neighbourhood, grid points")
    bootstrap: int = Field(1000, ge=0)
    quality_samples: int = Field(
        256, ge=8, description="fields per set for the generator's quality and noise floor"
    )
    seed: int = 0
    output: Path = Path("study")
    tracking: dict[str, Any] = Field(default_factory=dict)
    device: str = "cpu"

    @model_validator(mode="after")
    def _one_source(self) -> StudyConfig:
        if (self.system is None) == (self.store is None):
            raise ValueError("give exactly one source of forecasts: system or store")
        names = [m.name for m in self.methods]
        if len(set(names)) != len(names):
            raise ValueError(f"method names repeat: {names}")
        for m in self.methods:
            if m.kind == "inversion" and (m.truth_fraction or m.ref):
                raise ValueError(f"method {m.name}: truth_fraction and ref are for conditional "
                                 "methods")  # fmt: skip
        if self.n <= self.inputs:
            raise ValueError(f"n ({self.n}) must exceed the inputs ({self.inputs})")
        if self.system is not None and self.system.members < self.inputs:
            raise ValueError(
                f"the system has {self.system.members} members per date, fewer than the "
                f"{self.inputs} inputs"
            )
        return self


def load_study(path: Path | None, overrides: list[str] | None = None) -> StudyConfig:
    """Read, override and validate a study (``path=None``: the built-in reference study
    on the ``mesoscale`` system)."""
    data = read_mapping(path) if path is not None else {"system": {}}
    data = apply_overrides(data, list(overrides or []))
    try:
        return StudyConfig.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(format_validation_error(exc, str(path or "<study>"))) from None

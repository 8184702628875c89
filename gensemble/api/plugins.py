"""Base classes of the plugin kinds.

The core knows these interfaces only; concrete domains, architectures, metrics and
readers live in plugin packages (built-in ones under ``gensemble.plugins``) and reach the
core through the entry-point registry.  Each plugin declares a pydantic ``Options`` model
that is validated as part of the experiment config (unknown keys are errors).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import torch
from pydantic import BaseModel, ConfigDict

from gensemble.api.metric_checks import checked_compute
from gensemble.api.metric_context import EvalContext
from gensemble.api.metric_result import MetricResult
from gensemble.api.model import GenerativeModel
from gensemble.api.variables import Variable

if TYPE_CHECKING:  # the data layer builds on these contracts, not the reverse
    from gensemble.data.grid import Grid
    from gensemble.data.readers.base import RawSource

LOG = logging.getLogger(__name__)


class PluginOptions(BaseModel):
    """Base of every plugin's options model: unknown keys are errors."""

    model_config = ConfigDict(extra="forbid", protected_namespaces=())


class Plugin:
    """Common part of every plugin: a name, a one-line description and an options model."""

    kind: ClassVar[str] = "?"
    name: ClassVar[str] = "?"
    description: ClassVar[str] = ""
    Options: ClassVar[type[PluginOptions]] = PluginOptions

    def __init__(self, options: PluginOptions | dict[str, Any] | None = None) -> None:
        if isinstance(options, PluginOptions):
            self.options = options
        else:
            self.options = self.Options.model_validate(options or {})

    def __repr__(self) -> str:
        return f"<{self.kind} {self.name} {self.options.model_dump()}>"


class DomainPlugin(Plugin):
    """A geographic domain: CRS, grid, variables, static fields and how raw data reaches it.

    Subclasses implement :meth:`grid` and :meth:`variables`; the generic machinery
    (regridding, normalisation, synthetic data) lives in :mod:`gensemble.data` and only
    uses this interface.
    """

    kind: ClassVar[str] = "domain"

    def grid(self) -> Grid:
        """The training grid of this domain (after any configured crop)."""
        raise NotImplementedError

    def variables(self) -> list[Variable]:
        """The variables of the domain, in channel order."""
        raise NotImplementedError

    def static_fields(self) -> dict[str, Any]:
        """Static fields on the training grid (orography in m, land-sea mask); may be empty."""
        return {}

    def variable_names(self) -> list[str]:
        return [v.name for v in self.variables()]


class ArchitecturePlugin(Plugin):
    """A generative architecture: builds a :class:`~gensemble.api.model.GenerativeModel`."""

    kind: ClassVar[str] = "architecture"

    #: options giving a tiny network, used by the contract test every architecture runs
    tiny_options: ClassVar[dict[str, Any]] = {}
    #: options that change what the network computes without changing a tensor's shape;
    #: a checkpoint is resumed or transferred only with the same values
    functional_options: ClassVar[tuple[str, ...]] = ()

    @classmethod
    def migrate_options(cls, options: dict[str, Any], format_version: int) -> dict[str, Any]:
        """Options of a checkpoint written in an older format, as this version reads them
        (e.g. naming a behaviour that used to be implicit); default: unchanged."""
        return options

    #: checkpoint formats written by other code that :meth:`import_weights` reads
    #: (``gensemble import-prototype`` asks for ``meteofrance-prototype``)
    foreign_formats: ClassVar[tuple[str, ...]] = ()

    def build(self, channels: int, height: int, width: int) -> GenerativeModel:
        """Return the model (networks, losses, optimiser specs) for fields of this shape."""
        raise NotImplementedError

    @classmethod
    def import_weights(cls, fmt: str, path: Path, settings: dict[str, Any]) -> ForeignWeights:
        """A model built and filled from a checkpoint of format ``fmt`` written by other
        code; ``settings`` are what the weights cannot tell (e.g. a learning-rate
        multiplier applied at run time)."""
        raise NotImplementedError(f"architecture {cls.name!r} imports no {fmt} checkpoints")


@dataclass
class ForeignWeights:
    """What an architecture made of a foreign checkpoint."""

    #: the architecture options that reproduce the foreign network
    options: dict[str, Any]
    #: (C, H, W) of the fields it generates
    shape: list[int]
    #: the model, weights in place
    model: GenerativeModel
    #: where it came from: file name, sha256, format, notes
    provenance: dict[str, Any] = field(default_factory=dict)
    #: optimiser steps the foreign training had done, where the file says so
    step: int = 0


class MetricPlugin(Plugin):
    """A score comparing real and generated (or ensemble and observed) fields.

    Every subclass's ``compute`` is wrapped so that its inputs are validated and its
    degenerate results follow one policy (:mod:`gensemble.api.metric_checks`), even
    when a partner's code calls it directly.
    """

    kind: ClassVar[str] = "metric"
    #: ``fake`` may also be one ensemble per observation, (K, M, C, H, W)
    accepts_ensembles: ClassVar[bool] = False

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "compute" in cls.__dict__:
            cls.compute = checked_compute(cls.__dict__["compute"])  # type: ignore[method-assign]

    def compute(self, real: torch.Tensor, fake: torch.Tensor, context: EvalContext) -> MetricResult:
        """The scores of ``fake`` against ``real`` (physical units, (N, C, H, W))."""
        raise NotImplementedError


class ReaderPlugin(Plugin):
    """A raw-file format: says whether it can open a path, and opens it.

    Readers are tried in decreasing ``priority``; the first whose :meth:`can_open` is true
    opens the file (a format can also be named).  ``open`` returns a
    :class:`gensemble.data.readers.base.RawSource`.
    """

    kind: ClassVar[str] = "reader"
    priority: ClassVar[int] = 0

    def can_open(self, path: Path) -> bool:
        raise NotImplementedError

    def open(self, path: Path, **kwargs: Any) -> RawSource:
        raise NotImplementedError

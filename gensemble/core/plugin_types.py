"""Base classes of the three plugin kinds.

The core knows these interfaces only; concrete domains, architectures and metrics live
in plugin packages (built-in ones under ``gensemble.plugins``) and reach the core through
the entry-point registry.  Each plugin declares a pydantic ``Options`` model that is
validated as part of the experiment config (unknown keys are errors).
"""

from __future__ import annotations

from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict


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

    def grid(self) -> Any:  # -> gensemble.data.grid.Grid
        """The training grid of this domain (after any configured crop)."""
        raise NotImplementedError

    def full_grid(self) -> Any:
        """The whole native grid from which the training grid is cropped."""
        return self.grid()

    def variables(self) -> list[Any]:  # -> list[gensemble.data.variables.Variable]
        """The variables of the domain, in channel order."""
        raise NotImplementedError

    def static_fields(self) -> dict[str, Any]:
        """Static fields on the training grid (orography in m, land-sea mask); may be empty."""
        return {}

    def variable_names(self) -> list[str]:
        return [v.name for v in self.variables()]


class ArchitecturePlugin(Plugin):
    """A generative architecture: builds generator/discriminator and its training losses."""

    kind: ClassVar[str] = "architecture"

    def build(self, channels: int, height: int, width: int) -> Any:
        """Return the model bundle (networks + loss) for images of this shape."""
        raise NotImplementedError


class MetricPlugin(Plugin):
    """A score comparing real and generated (or ensemble and observed) fields."""

    kind: ClassVar[str] = "metric"

    def compute(self, real: Any, fake: Any, context: Any) -> Any:
        """Return a :class:`gensemble.evaluation.result.MetricResult`."""
        raise NotImplementedError


BASE_FOR_KIND: dict[str, type[Plugin]] = {
    "domain": DomainPlugin,
    "architecture": ArchitecturePlugin,
    "metric": MetricPlugin,
}

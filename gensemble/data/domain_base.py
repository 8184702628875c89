"""Reusable base for domains that are a crop of a regular native grid.

Concrete domains (built-in or a partner's) subclass :class:`CroppedGridDomain`, give the
native grid and a default crop, and get variables selection, orography from a file, and a
description for free.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import Field, field_validator

from gensemble.api.plugins import DomainPlugin, PluginOptions
from gensemble.core.errors import UserError
from gensemble.data.grid import Grid
from gensemble.data.variables import Variable, known_variables

LOG = logging.getLogger(__name__)

DEFAULT_VARIABLES = ["rr", "u10", "v10", "t2m"]


class CropOptions(PluginOptions):
    """Options shared by cropped-grid domains."""

    variables: list[str] = Field(
        default_factory=lambda: list(DEFAULT_VARIABLES),
        description="channels, in order (rr, u10, v10, t2m)",
    )
    orography_file: Path | None = Field(None, description="file with surface altitude (m)")

    @field_validator("variables")
    @classmethod
    def _known(cls, value: list[str]) -> list[str]:
        known = known_variables()
        unknown = [v for v in value if v not in known]
        if unknown:
            raise ValueError(f"unknown variables {unknown}; known: {sorted(known)}")
        if not value or len(set(value)) != len(value):
            raise ValueError("variables must be a non-empty list without repeats")
        return value


class CroppedGridDomain(DomainPlugin):
    """A domain that is a (row0, col0, ny, nx) window of a native regular grid."""

    Options = CropOptions

    def native_grid(self) -> Grid:
        raise NotImplementedError

    def crop_window(self) -> tuple[int, int, int, int]:
        raise NotImplementedError

    def grid(self) -> Grid:
        if not hasattr(self, "_grid"):
            row0, col0, ny, nx = self.crop_window()
            try:
                self._grid = self.native_grid().crop(row0, col0, ny, nx, name=self.name)
            except ValueError as exc:
                raise UserError(f"domain {self.name}: {exc}") from None
        return self._grid

    def variables(self) -> list[Variable]:
        known = known_variables()
        return [known[v] for v in self.options.variables]

    def static_fields(self) -> dict[str, np.ndarray]:
        path = getattr(self.options, "orography_file", None)
        if path is None:
            return {}
        from gensemble.data.readers import open_source
        from gensemble.data.regrid import make_regridder

        src = open_source(Path(path))
        if "orog" not in src.variables:
            raise UserError(f"{path}: no surface altitude variable (altitude/orog) found")
        batch = next(src.batches(["orog"]))
        field = batch.fields[0, 0]
        if src.grid is not None:
            field = make_regridder(src.grid, self.grid(), "bilinear")(field)
        return {"orog": field.astype(np.float32)}

    def describe(self) -> dict[str, Any]:
        d = self.grid().describe()
        d.update(
            domain=self.name,
            variables=self.options.variables,
            native_shape=list(self.native_grid().shape),
            crop=list(self.crop_window()),
        )
        return d

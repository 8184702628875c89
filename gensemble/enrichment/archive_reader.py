"""A season archive opened for reading: lazily (xarray over dask), a case's members a
block at a time.

The archive's verification (``gensemble verify``) and the event verification of an
archive's members (``evaluate --event --archive``) both read archives through
:class:`ArchiveReader`, so an archive is recognised, and its fields are read, one way.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr
import zarr

from gensemble.core.errors import DataError, UserError
from gensemble.enrichment.archive import FORMAT

LOG = logging.getLogger(__name__)


@dataclass
class ArchiveReader:
    path: Path
    ds: xr.Dataset

    @classmethod
    def open(cls, path: Path) -> ArchiveReader:
        """The archive at ``path``, or a one-line refusal of what is not one."""
        path = Path(path)
        if not path.exists():
            raise UserError(f"{path} does not exist", "archive")
        try:
            ds = xr.open_zarr(path, consolidated=False, chunks={})
        except Exception as exc:  # noqa: BLE001 - whatever zarr says, it is not an archive
            raise UserError(f"{path} is not a gensemble archive ({exc})", "archive") from None
        if ds.attrs.get("gensemble_archive") != FORMAT:
            raise UserError(f"{path} is not a gensemble archive (no {FORMAT} format mark)",
                            "archive")  # fmt: skip
        return cls(path, ds)

    @cached_property
    def reference(self) -> np.ndarray:
        """(F,) forecast reference times, datetime64[s]."""
        return self.ds["forecast_reference_time"].values.astype("datetime64[s]")

    @cached_property
    def leads(self) -> np.ndarray:
        """(L,) lead times in hours."""
        return self.ds["lead_time"].values.astype(np.float64)

    @cached_property
    def done(self) -> np.ndarray:
        """(F, L) each case's state (``archive.DONE``, ``PENDING``, ``ABSENT``)."""
        return self.ds["case_done"].values

    @property
    def members(self) -> int:
        return int(self.ds.sizes["member"])

    @cached_property
    def provenance(self) -> dict[str, Any]:
        return json.loads(self.ds.attrs.get("provenance", "{}"))

    def grid_shape(self, variable: str) -> tuple[int, int]:
        return tuple(self.ds[variable].shape[-2:])  # type: ignore[return-value]

    def member_chunk(self, variable: str) -> int:
        """Members per chunk of the archive's fields."""
        return int(zarr.open_array(str(self.path / variable), mode="r").chunks[2])

    def fields(
        self, f: int, k: int, variables: list[str], members: np.ndarray | None = None
    ) -> np.ndarray:
        """(m, C, H, W) physical: case (f, k)'s ``members`` (default all), one dask read
        per variable (a run of consecutive members as one slice)."""
        pick: Any = slice(None)
        if members is not None:
            contiguous = members.size and np.all(np.diff(members) == 1)
            pick = slice(int(members[0]), int(members[-1]) + 1) if contiguous else members
        return np.stack([self._read(v, f, k, pick) for v in variables], axis=1)

    def generated(self, f: int, k: int) -> np.ndarray:
        """(N,) whether each member of case (f, k) was generated (not an input)."""
        return self._read("generated", f, k, slice(None)) == 1

    def _read(self, name: str, f: int, k: int, pick: Any) -> np.ndarray:
        """One array's part of a case; a chunk that cannot be decoded (a damaged or
        truncated file) is the archive's fault, said in one line."""
        try:
            return np.asarray(self.ds[name].data[f, k, pick].compute())
        except (OSError, ValueError, RuntimeError) as exc:
            when = f"{self.reference[f]} + {self.leads[k]:g} h"
            raise DataError(f"{self.path}: {name} of the case {when} cannot be read ({exc}): "
                            "the archive is damaged", "archive") from None  # fmt: skip

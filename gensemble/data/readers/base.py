"""What readers return (:class:`RawSource` of :class:`SampleBatch`) and the dispatch to the
registered reader plugins (like xarray's backends: each says whether it can open a path)."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from gensemble.core.errors import DataError, UserError
from gensemble.data.grid import Grid
from gensemble.data.regrid import PointSource

LOG = logging.getLogger(__name__)


@dataclass
class SampleBatch:
    """Samples on the source grid: ``fields`` is (n, variable, y, x), float32."""

    fields: np.ndarray
    variables: list[str]
    time: np.ndarray  # datetime64[s], valid time of each sample
    lead_time_h: np.ndarray  # float hours
    member: np.ndarray  # int


@dataclass
class RawSource:
    """An opened raw file: its grid, the canonical variables it holds, and a batch iterator.

    ``grid`` is ``None`` when the data are already on the target domain's grid (prototype
    format).
    """

    path: Path
    grid: Grid | PointSource | None
    variables: list[str]
    n_samples: int
    iter_batches: object  # Callable[[list[str]], Iterator[SampleBatch]]
    notes: list[str] = field(default_factory=list)
    #: name of each field in the file, units as the file states them, valid times
    origins: dict[str, str] = field(default_factory=dict)
    units: dict[str, str] = field(default_factory=dict)
    times: object = None
    #: the CRS the file declares (grid mapping), even when its x/y could not be used
    file_crs: str | None = None
    #: the file says it was synthesised (gensemble data synth), not observed or forecast
    synthetic: bool = False

    def batches(self, variables: list[str]) -> Iterator[SampleBatch]:
        missing = [v for v in variables if v not in self.variables]
        if missing:
            raise UserError(
                f"{self.path}: variables {', '.join(missing)} not found "
                f"(file has: {', '.join(self.variables) or 'none usable'})"
            )
        return self.iter_batches(variables)  # type: ignore[operator]


def has_magic(path: Path, *magics: bytes) -> bool:
    """True when a file starts with one of ``magics`` (readers' ``can_open`` helper)."""
    if not path.is_file():
        return False
    with path.open("rb") as fh:
        head = fh.read(8)
    return any(head.startswith(m) for m in magics)


def open_source(path: Path, fmt: str = "auto", **kwargs: object) -> RawSource:
    """Open a raw file with the reader named ``fmt``, or the first registered reader (by
    priority) that says it can open it."""
    from gensemble.core.registry import get_registry

    path = Path(path)
    if not path.exists():
        raise UserError(f"input not found: {path}")
    registry = get_registry()
    if fmt != "auto":
        reader = registry.get("reader", fmt)()
    else:
        readers = sorted(
            (cls() for cls in registry.all("reader")), key=lambda r: (-r.priority, r.name)
        )
        reader = next((r for r in readers if r.can_open(path)), None)
        if reader is None:
            names = ", ".join(r.name for r in readers)
            raise DataError(f"{path}: cannot tell the file format (name one of: {names})", "format")
    return reader.open(path, **kwargs)

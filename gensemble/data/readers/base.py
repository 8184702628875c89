"""Common reader interface and format dispatch."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from gensemble.core.errors import UserError
from gensemble.data.grid import Grid
from gensemble.data.regrid import PointSource


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

    def batches(self, variables: list[str]) -> Iterator[SampleBatch]:
        missing = [v for v in variables if v not in self.variables]
        if missing:
            raise UserError(
                f"{self.path}: variables {', '.join(missing)} not found "
                f"(file has: {', '.join(self.variables) or 'none usable'})"
            )
        return self.iter_batches(variables)  # type: ignore[operator]


FORMATS = ("auto", "netcdf", "grib", "npy")


def detect_format(path: Path) -> str:
    suffix = path.suffix.lower()
    if suffix in (".grib", ".grb", ".grib2", ".grb2"):
        return "grib"
    if suffix in (".nc", ".nc4", ".netcdf"):
        return "netcdf"
    if suffix == ".csv" or path.is_dir():
        return "npy"
    with path.open("rb") as fh:
        magic = fh.read(8)
    if magic.startswith(b"GRIB"):
        return "grib"
    if magic.startswith((b"CDF", b"\x89HDF")):
        return "netcdf"
    raise UserError(f"{path}: cannot tell the file format (use --format netcdf|grib|npy)")


def open_source(path: Path, fmt: str = "auto", **kwargs: object) -> RawSource:
    """Open a raw file in any supported format."""
    path = Path(path)
    if not path.exists():
        raise UserError(f"input not found: {path}")
    if fmt not in FORMATS:
        raise UserError(f"unknown format {fmt!r} (available: {', '.join(FORMATS)})")
    fmt = detect_format(path) if fmt == "auto" else fmt
    if fmt == "grib":
        from gensemble.data.readers.grib import open_grib

        return open_grib(path)
    if fmt == "netcdf":
        from gensemble.data.readers.netcdf_cf import open_netcdf

        return open_netcdf(path)
    from gensemble.data.readers.prototype_npy import open_prototype

    return open_prototype(path, **kwargs)  # type: ignore[arg-type]

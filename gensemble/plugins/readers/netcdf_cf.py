"""CF netCDF reader (met.no MEPS style and generic CF files)."""

from __future__ import annotations

import logging
from pathlib import Path

import xarray as xr

from gensemble.api import ReaderPlugin, hookimpl
from gensemble.core.errors import UserError, one_line
from gensemble.data.readers.base import RawSource, has_magic
from gensemble.data.readers.xarray_fields import dataset_to_source

LOG = logging.getLogger(__name__)


def open_netcdf(path: Path) -> RawSource:
    try:
        ds = xr.open_dataset(path, engine="netcdf4")
    except (OSError, ValueError) as exc:
        raise UserError(f"{path}: not a readable netCDF file: {one_line(exc)}") from None
    try:
        return dataset_to_source(ds, path)
    except UserError as exc:
        raise UserError(f"{path}: {exc}") from None


class NetCDFReader(ReaderPlugin):
    name = "netcdf"
    description = "CF netCDF 3/4 (MEPS, AROME, ERA5 and generic CF files)"
    priority = 10

    def can_open(self, path: Path) -> bool:
        return path.suffix.lower() in (".nc", ".nc4", ".netcdf") or has_magic(
            path, b"CDF", b"\x89HDF"
        )

    def open(self, path: Path, **kwargs: object) -> RawSource:
        return open_netcdf(path)


@hookimpl
def gensemble_readers() -> list[type]:
    return [NetCDFReader]

"""CF netCDF reader (met.no MEPS style and generic CF files)."""

from __future__ import annotations

from pathlib import Path

import xarray as xr

from gensemble.core.errors import UserError, one_line
from gensemble.data.readers.base import RawSource
from gensemble.data.readers.xarray_fields import dataset_to_source


def open_netcdf(path: Path) -> RawSource:
    try:
        ds = xr.open_dataset(path, engine="netcdf4")
    except (OSError, ValueError) as exc:
        raise UserError(f"{path}: not a readable netCDF file: {one_line(exc)}") from None
    try:
        return dataset_to_source(ds, path)
    except UserError as exc:
        raise UserError(f"{path}: {exc}") from None

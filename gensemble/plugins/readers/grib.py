"""GRIB reader through cfgrib/eccodes.

cfgrib logs damaged messages and silently returns the readable part; a forecaster must
not train on half a file, so every message is first decoded with eccodes and the first
failure is reported as one line naming the file and the message number.
"""

from __future__ import annotations

import logging
from pathlib import Path

import xarray as xr

from gensemble.api import ReaderPlugin, hookimpl
from gensemble.core.errors import UserError, one_line
from gensemble.data.readers.base import RawSource, has_magic
from gensemble.data.readers.xarray_fields import dataset_to_source

LOG = logging.getLogger(__name__)


def validate_grib(path: Path) -> int:
    """Decode every message; return the count or raise ``UserError`` at the first bad one."""
    import eccodes

    count = 0
    with path.open("rb") as fh:
        while True:
            try:
                gid = eccodes.codes_grib_new_from_file(fh)
            except Exception as exc:
                raise UserError(
                    f"{path}: corrupted GRIB file: message {count + 1} is damaged ({one_line(exc)})"
                ) from None
            if gid is None:
                break
            try:
                eccodes.codes_get_values(gid)
            except Exception as exc:
                raise UserError(
                    f"{path}: corrupted GRIB file: message {count + 1} cannot be "
                    f"decoded ({one_line(exc)})"
                ) from None
            finally:
                eccodes.codes_release(gid)
            count += 1
    if count == 0:
        raise UserError(f"{path}: no GRIB messages found")
    return count


def open_grib(path: Path) -> RawSource:
    validate_grib(path)
    logging.getLogger("cfgrib").setLevel(logging.ERROR)
    try:
        ds = xr.open_dataset(path, engine="cfgrib", backend_kwargs={"indexpath": ""})
    except Exception as exc:
        raise UserError(f"{path}: cannot read GRIB with cfgrib: {one_line(exc)}") from None
    try:
        return dataset_to_source(ds, path)
    except UserError as exc:
        raise UserError(f"{path}: {exc}") from None


class GribReader(ReaderPlugin):
    name = "grib"
    description = "GRIB 1/2 through eccodes/cfgrib; every message decoded first"
    priority = 10

    def can_open(self, path: Path) -> bool:
        return path.suffix.lower() in (".grib", ".grb", ".grib2", ".grb2") or has_magic(
            path, b"GRIB"
        )

    def open(self, path: Path, **kwargs: object) -> RawSource:
        return open_grib(path)


@hookimpl
def gensemble_readers() -> list[type]:
    return [GribReader]

"""The one CF-netCDF writer: synthetic ensembles, regridded files and generated members.

Every file gensemble writes on a domain grid has the same shape of metadata: CF-1.8
global attributes, the grid's projected and geographic coordinates, a ``crs`` grid-mapping
variable, each field's CF attributes from its variable definition, and (for forecasts) the
valid time, forecast reference time and lead time.  Files appear atomically.
"""

from __future__ import annotations

import contextlib
import logging
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr

from gensemble import __version__
from gensemble.core.atomic import atomic_path
from gensemble.data.grid import Grid
from gensemble.data.variables import cf_attrs

LOG = logging.getLogger(__name__)

#: global attribute (value 1) of the files gensemble synthesised: invented, not weather
SYNTHETIC_ATTR = "gensemble_synthetic"


def global_attrs(title: str, domain: str, **extra: Any) -> dict[str, Any]:
    """CF global attributes shared by every file gensemble writes."""
    return {
        "Conventions": "CF-1.8",
        "title": title,
        "institution": "gensemble",
        "history": f"written by gensemble {__version__}",
        "gensemble_domain": domain,
        **extra,
    }


def to_cf_dataset(
    grid: Grid,
    fields: dict[str, np.ndarray],
    valid: np.ndarray,
    members: np.ndarray,
    domain: str,
    ref: np.ndarray | None = None,
    lead_h: np.ndarray | None = None,
    orog: np.ndarray | None = None,
    title: str | None = None,
) -> xr.Dataset:
    """CF dataset (time, member, y, x) on the domain grid with its grid mapping.

    ``valid`` is the valid time of each time step; the forecast reference time is ``ref``
    or ``valid - lead_h`` (steps whose lead time is unknown get none), and the lead time
    is written as CF ``forecast_period`` when known.
    """
    valid = np.asarray(valid).astype("datetime64[ns]")
    if ref is None and lead_h is not None:
        lead_ns = np.where(np.isfinite(lead_h), np.asarray(lead_h, float) * 3.6e12, np.nan)
        ref = np.array(
            [
                v - np.timedelta64(int(x), "ns") if np.isfinite(x) else np.datetime64("NaT")
                for v, x in zip(valid, lead_ns, strict=True)
            ],
            dtype="datetime64[ns]",
        )
    coords = {
        "time": ("time", valid, {"standard_name": "time"}),
        "member": (
            "member",
            np.asarray(members).astype(np.int32),
            {"long_name": "ensemble member"},
        ),
        **grid.cf_coordinates(),
    }
    data_vars: dict[str, tuple] = {
        name: (("time", "member", "y", "x"), arr, cf_attrs(name)) for name, arr in fields.items()
    }
    data_vars["crs"] = ((), np.int32(0), grid.cf_grid_mapping())
    if ref is not None and not np.isnat(np.asarray(ref)).all():
        data_vars["forecast_reference_time"] = (
            "time",
            np.asarray(ref).astype("datetime64[ns]"),
            {"standard_name": "forecast_reference_time"},
        )
        lead = (valid - np.asarray(ref).astype("datetime64[ns]")) / np.timedelta64(1, "h")
        data_vars["leadtime"] = (
            "time",
            lead.astype(np.float64),
            {"standard_name": "forecast_period", "units": "hours", "long_name": "lead time"},
        )
    if orog is not None:
        data_vars["altitude"] = (
            ("y", "x"),
            orog.astype(np.float32),
            {"units": "m", "standard_name": "surface_altitude", "grid_mapping": "crs"},
        )
    attrs = global_attrs(title or f"gensemble ensemble on {domain}", domain)
    return xr.Dataset(data_vars, coords, attrs)


def field_chunks(da: xr.DataArray) -> tuple[int, ...]:
    """One chunk per time step holding all members and the whole field: how fields are
    read (a time step at a time).  netCDF's default chunking of (time, member, y, x)
    spans dozens of time steps, so each step read would decompress them all (cost
    quadratic in the number of time steps)."""
    return tuple(1 if d == "time" else int(n) for d, n in zip(da.dims, da.shape, strict=True))


def netcdf_encoding(ds: xr.Dataset) -> dict[str, dict[str, Any]]:
    """Light compression, chunked by time step, for every field of two or more dimensions."""
    return {
        v: {"zlib": True, "complevel": 1, "chunksizes": field_chunks(ds[v])}
        for v in ds.data_vars
        if ds[v].ndim >= 2
    }


def write_netcdf(ds: xr.Dataset, path: Path) -> None:
    """Write atomically (temp file + rename) with light compression, chunked by time step."""
    with atomic_path(Path(path)) as tmp:
        ds.to_netcdf(tmp, engine="netcdf4", encoding=netcdf_encoding(ds))


#: dimensions of a forecast field in the files gensemble writes
FIELD_DIMS = ("time", "member", "y", "x")


class TimeStepWriter:
    """Writes (time, member, y, x) fields one time step at a time, atomically, so memory
    holds one step whatever the number of steps (``data synth`` of thousands of samples).

    ``skeleton`` is the file's dataset without the fields (coordinates, grid mapping,
    times, attributes): xarray writes it, then each field is created with the attributes
    and encoding xarray would give it (float32, NaN fill, grid mapping, 2-D coordinates,
    zlib level 1, one chunk per time step) and filled step by step.
    """

    def __init__(self, path: Path, skeleton: xr.Dataset, names: list[str]) -> None:
        import netCDF4

        self._atomic = atomic_path(Path(path))
        self.tmp = self._atomic.__enter__()
        self._nc: Any = None
        try:
            skeleton.to_netcdf(self.tmp, engine="netcdf4", encoding=netcdf_encoding(skeleton))
            self._nc = netCDF4.Dataset(self.tmp, "a")
            coords = " ".join(
                str(n)
                for n, c in skeleton.coords.items()
                if n not in skeleton.dims and set(c.dims) <= set(FIELD_DIMS)
            )
            step = tuple(skeleton.sizes[d] for d in FIELD_DIMS[1:])
            for name in names:
                v = self._nc.createVariable(
                    name, "f4", FIELD_DIMS, zlib=True, complevel=1, chunksizes=(1, *step),
                    fill_value=np.float32(np.nan),
                )  # fmt: skip
                v.setncatts({"grid_mapping": "crs", "coordinates": coords, **cf_attrs(name)})
                # each step is written whole, once: a cache of one chunk, not netCDF's
                # default of tens of MB per field, keeps memory flat
                v.set_var_chunk_cache(size=4 * int(np.prod(step)) + 1024, preemption=1.0)
        except BaseException as exc:
            self.__exit__(type(exc), exc, exc.__traceback__)
            raise

    def write(self, t: int, fields: dict[str, np.ndarray]) -> None:
        """Time step ``t`` of every field: arrays (member, y, x)."""
        for name, values in fields.items():
            self._nc[name][t] = values

    def __enter__(self) -> TimeStepWriter:
        return self

    def __exit__(self, exc_type: Any, exc: BaseException | None, tb: Any) -> None:
        if self._nc is not None:
            self._nc.close()
            self._nc = None
        if exc is None:
            self._atomic.__exit__(None, None, None)
        else:  # removes the temporary file; the caller's error goes on
            with contextlib.suppress(BaseException):
                self._atomic.__exit__(exc_type, exc, tb)


class MemberWriter:
    """Streams batches of members (n, C, H, W) into CF netCDF or zarr, atomically.

    Memory stays bounded for thousands of members; the file appears under its name only
    when :meth:`close` succeeds (use it as a context manager).
    """

    def __init__(
        self,
        path: Path,
        grid: Grid,
        variables: list[str],
        units: list[str],
        attrs: dict[str, Any],
        n: int,
        definitions: list[Any] | None = None,
    ) -> None:
        self.path, self.grid, self.variables, self.units = Path(path), grid, variables, units
        #: CF attributes of each field: from its definition when given, else by name
        self.described = list(definitions) if definitions else list(variables)
        self.attrs, self.n = attrs, n
        self._atomic = atomic_path(self.path)
        self.tmp = self._atomic.__enter__()
        self._nc: Any = None
        self._zarr_started = False
        if self.path.suffix == ".nc":
            self._open_netcdf()

    def _open_netcdf(self) -> None:
        import netCDF4

        self._nc = ds = netCDF4.Dataset(self.tmp, "w", format="NETCDF4")
        grid = self.grid
        ds.setncatts(self.attrs)
        ds.createDimension("member", self.n)
        ds.createDimension("y", grid.ny)
        ds.createDimension("x", grid.nx)
        m = ds.createVariable("member", "i4", ("member",))
        m.long_name = "ensemble member"
        m[:] = np.arange(self.n)
        for name, (dims, values, a) in grid.cf_coordinates().items():
            v = ds.createVariable(name, "f8", (dims,) if isinstance(dims, str) else dims)
            v.setncatts(a)
            v[:] = values
        crs = ds.createVariable("crs", "i4", ())
        crs.setncatts(grid.cf_grid_mapping())
        self._vars = []
        for name, desc, unit in zip(self.variables, self.described, self.units, strict=True):
            v = ds.createVariable(
                name,
                "f4",
                ("member", "y", "x"),
                zlib=True,
                complevel=1,
                chunksizes=(1, grid.ny, grid.nx),
            )
            v.setncatts(cf_attrs(desc, unit))
            self._vars.append(v)

    def write(self, start: int, fields: np.ndarray) -> None:
        if self._nc is not None:
            for c, v in enumerate(self._vars):
                v[start : start + len(fields)] = fields[:, c]
            return
        coords: dict[str, Any] = {"member": ("member", np.arange(start, start + len(fields)))}
        data: dict[str, Any] = {
            name: (("member", "y", "x"), fields[:, c], cf_attrs(self.described[c], self.units[c]))
            for c, name in enumerate(self.variables)
        }
        if not self._zarr_started:  # grid coordinates and grid mapping once
            coords.update(self.grid.cf_coordinates())
            data["crs"] = ((), np.int32(0), self.grid.cf_grid_mapping())
            xr.Dataset(data, coords=coords, attrs=self.attrs).to_zarr(self.tmp, mode="w")
            self._zarr_started = True
        else:
            xr.Dataset(data, coords=coords).to_zarr(self.tmp, append_dim="member")

    def close(self) -> None:
        if self._nc is not None:
            self._nc.close()
        self._atomic.__exit__(None, None, None)

    def abort(self, exc: BaseException) -> None:
        if self._nc is not None:
            self._nc.close()
        # removes the temporary file; the caller re-raises the original error
        with contextlib.suppress(BaseException):
            self._atomic.__exit__(type(exc), exc, exc.__traceback__)

    def __enter__(self) -> MemberWriter:
        return self

    def __exit__(self, exc_type: Any, exc: BaseException | None, tb: Any) -> None:
        if exc is None:
            self.close()
        else:
            self.abort(exc)

"""Turn an xarray Dataset (CF netCDF or cfgrib) into a :class:`RawSource`.

Canonical variables are found through their producer aliases (``x_wind_10m`` → ``u10``...).
Other horizontal fields are exposed under their own name, with a level suffix when they
have a vertical dimension (ERA5 ``t`` at 850 hPa → ``t850``).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pyproj
import xarray as xr

from gensemble.core.errors import UserError
from gensemble.data.cf import SYNTHETIC_ATTR
from gensemble.data.grid import Grid
from gensemble.data.readers.base import RawSource, SampleBatch
from gensemble.data.regrid import PointSource
from gensemble.data.variables import Variable, known_variables
from gensemble.data.wind import grid_x_axis_angle, rotate_to_earth

LOG = logging.getLogger(__name__)

TIME_DIMS = ("time", "valid_time", "step")
MEMBER_DIMS = ("number", "ensemble_member", "member", "realization")
LAT_NAMES = ("latitude", "lat")
LON_NAMES = ("longitude", "lon")


def _alias_map(known: dict[str, Variable]) -> dict[str, str]:
    """Producer name (lower case) -> canonical name, from every registered variable."""
    out = {}
    for var in known.values():
        for alias in (var.name, *var.aliases):
            out.setdefault(alias.lower(), var.name)
    return out


def _regular(values: np.ndarray) -> float | None:
    if values.size < 2:
        return None
    d = np.diff(values.astype(np.float64))
    if np.allclose(d, d[0], rtol=1e-5, atol=1e-9 * max(1.0, abs(d[0]))):
        return float(d[0])
    return None


def _crs_from_grid_mapping(ds: xr.Dataset) -> pyproj.CRS | None:
    for var in ds.data_vars.values():
        gm = var.attrs.get("grid_mapping")
        if gm and gm in ds.variables and ds[gm].attrs.get("grid_mapping_name"):
            try:
                return pyproj.CRS.from_cf(dict(ds[gm].attrs))
            except pyproj.exceptions.CRSError:
                return None
    return None


def _horizontal(ds: xr.Dataset) -> tuple[str, str, Grid | PointSource, list[str]]:
    """Name of the y and x dims and the source grid."""
    notes: list[str] = []
    crs = _crs_from_grid_mapping(ds)
    if crs is not None and "x" in ds.dims and "y" in ds.dims:
        x, y = ds["x"].values, ds["y"].values
        scale = 1000.0 if ds["x"].attrs.get("units", "m") in ("km", "kilometre") else 1.0
        dx, dy = _regular(x), _regular(y)
        if dx and dy:
            grid = Grid.from_crs(
                crs, x[0] * scale, y[0] * scale, dx * scale, dy * scale, x.size, y.size
            )
            notes.append("projection from the grid-mapping variable")
            return "y", "x", grid, notes
    lat = next((n for n in LAT_NAMES if n in ds.variables), None)
    lon = next((n for n in LON_NAMES if n in ds.variables), None)
    if lat is None or lon is None:
        raise UserError(
            "no horizontal coordinates (x/y with a grid mapping, or latitude/longitude)"
        )
    la, lo = ds[lat], ds[lon]
    if la.ndim == 1 and lo.ndim == 1:
        dlat, dlon = _regular(la.values), _regular(lo.values)
        if dlat and dlon:
            grid = Grid.from_crs(
                "EPSG:4326", float(lo.values[0]), float(la.values[0]), dlon, dlat, lo.size, la.size
            )
            return la.dims[0], lo.dims[0], grid, notes
        la2, lo2 = np.meshgrid(la.values, lo.values, indexing="ij")
        return la.dims[0], lo.dims[0], PointSource(lo2, la2), notes
    if la.ndim == 2:
        notes.append("no usable projection: using 2-D latitude/longitude")
        return (
            la.dims[0],
            la.dims[1],
            PointSource(np.asarray(lo.values, float), np.asarray(la.values, float)),
            notes,
        )
    raise UserError("latitude/longitude must be 1-D or 2-D")


def dataset_to_source(ds: xr.Dataset, path: Path) -> RawSource:
    ydim, xdim, grid, notes = _horizontal(ds)
    known = known_variables()  # looked up once, not per batch
    aliases = _alias_map(known)
    tdim = next((d for d in TIME_DIMS if d in ds.dims), None)
    mdim = next((d for d in MEMBER_DIMS if d in ds.dims), None)
    fields: dict[str, xr.DataArray] = {}
    origins: dict[str, str] = {}  # name in the file of each field found
    grid_relative = set()
    for name, var in ds.data_vars.items():
        if ydim not in var.dims or xdim not in var.dims:
            continue
        other = [d for d in var.dims if d not in (ydim, xdim, tdim, mdim)]
        var = var.squeeze([d for d in other if ds.sizes[d] == 1])
        other = [d for d in var.dims if d not in (ydim, xdim, tdim, mdim)]
        canon = aliases.get(str(name).lower())
        if canon and not other:
            if var.attrs.get("standard_name") in ("x_wind", "y_wind"):
                grid_relative.add(canon)
            fields[canon] = var
            origins[canon] = str(name)
        elif len(other) == 1:
            for level in var[other[0]].values:
                lv = float(level)
                key = f"{name}{int(lv) if lv.is_integer() else lv}"
                fields[key], origins[key] = var.sel({other[0]: level}), str(name)
        elif not other:
            fields[str(name)], origins[str(name)] = var, str(name)
    if not fields:
        raise UserError("no horizontal fields found")
    angle = None
    if grid_relative & {"u10", "v10"}:
        lon2, lat2 = grid.lonlat() if isinstance(grid, Grid) else (grid.lon, grid.lat)
        angle = grid_x_axis_angle(lon2, lat2)
        notes.append("x/y wind rotated from grid axes to east/north")

    nt = ds.sizes[tdim] if tdim else 1
    nm = ds.sizes[mdim] if mdim else 1
    members = ds[mdim].values.astype(int) if mdim else np.zeros(1, int)
    times, lead = valid_and_lead(ds, tdim, nt)

    def read_block(v: str, t0: int, t1: int) -> np.ndarray:
        """Steps t0..t1 of field v as (steps, member, y, x), in the variable's units."""
        da = fields[v]
        timed = bool(tdim and tdim in da.dims)
        if timed:
            da = da.isel({tdim: slice(t0, t1)})
        lead_dims = ([tdim] if timed else []) + ([mdim] if mdim and mdim in da.dims else [])
        a = np.asarray(da.transpose(*lead_dims, ydim, xdim).values, dtype=np.float32)
        if not timed:
            a = a[None]
        if a.ndim == 3:  # no member dimension: the same field for every member
            a = a[:, None]
        a = np.broadcast_to(a, (t1 - t0 if timed else 1, nm, *a.shape[-2:]))
        return _to_units(known.get(v), a, da.attrs)

    def iter_batches(variables: list[str]) -> Iterator[SampleBatch]:
        step = time_block([fields[v] for v in variables], tdim, nt)
        for t0 in range(0, nt, step):
            t1 = min(nt, t0 + step)
            blocks = [read_block(v, t0, t1) for v in variables]
            for t in range(t0, t1):
                arrs = [b[t - t0] if b.shape[0] > 1 else b[0] for b in blocks]
                yield _batch(t, arrs, variables)
            del blocks, arrs  # released before the next block is read: one block at a time

    def _batch(t: int, arrs: list[np.ndarray], variables: list[str]) -> SampleBatch:
        block = np.stack(arrs, axis=1)  # (member, var, y, x)
        if angle is not None and "u10" in variables and "v10" in variables:
            iu, iv = variables.index("u10"), variables.index("v10")
            block[:, iu], block[:, iv] = rotate_to_earth(block[:, iu], block[:, iv], angle)
        tt = np.asarray(times[t]).astype("datetime64[s]")
        return SampleBatch(
            np.ascontiguousarray(block, dtype=np.float32),
            list(variables),
            np.full(nm, tt),
            np.full(nm, float(lead[t])),
            members.copy(),
        )

    source = RawSource(path, grid, list(fields), nt * nm, iter_batches, notes)
    source.origins = origins
    source.units = {k: str(v.attrs.get("units", "")) for k, v in fields.items()}
    source.times = np.asarray(times)
    crs = _crs_from_grid_mapping(ds)
    source.file_crs = crs.name if crs is not None else None
    source.synthetic = bool(int(ds.attrs.get(SYNTHETIC_ATTR, 0) or 0))
    return source


#: bytes per variable a block read from a file may hold (more when one chunk is larger):
#: enough for reads of whole chunks at full speed, small beside a process's memory
BLOCK_BYTES = 16 * 2**20


def time_block(arrays: list[xr.DataArray], tdim: str | None, nt: int) -> int:
    """Time steps to read at once: whole chunks of the file along time (a chunk is
    decompressed whole, so reading it step by step would decompress it once per step),
    as many as fit in :data:`BLOCK_BYTES`, at least one chunk."""
    import math

    chunk, step_bytes = 1, 1
    for da in arrays:
        if tdim is None or tdim not in da.dims:
            continue
        axis = da.dims.index(tdim)
        sizes = da.encoding.get("chunksizes") or (da.chunks and [c[0] for c in da.chunks])
        c = int(sizes[axis]) if sizes else 1
        chunk = math.lcm(chunk, c) if math.lcm(chunk, c) <= nt else max(chunk, c)
        step_bytes = max(step_bytes, da.dtype.itemsize * da.size // max(da.sizes[tdim], 1))
    fit = max(1, BLOCK_BYTES // step_bytes // chunk)
    return max(1, min(nt, chunk * fit))


def _along(ds: xr.Dataset, name: str, tdim: str | None, nt: int) -> np.ndarray | None:
    """Values of coordinate/variable ``name`` for each of the nt time steps, if it is a
    scalar or runs along the time dimension only."""
    if name not in ds.variables:
        return None
    da = ds[name]
    if da.ndim == 0:
        return np.full(nt, da.values)
    if tdim is not None and da.dims == (tdim,):
        return np.asarray(da.values)
    return None


def valid_and_lead(ds: xr.Dataset, tdim: str | None, nt: int) -> tuple[np.ndarray, np.ndarray]:
    """Valid time and lead time (hours) of each time step.

    CF files give ``time`` (valid) and ``forecast_reference_time``; cfgrib gives
    ``time`` (reference), ``step`` and ``valid_time``, as dimensions or, for a single
    message, as scalar coordinates.  Unknown lead times are NaN; an unknown valid time
    is NaT.
    """
    is_timedelta = lambda a: a is not None and np.issubdtype(a.dtype, np.timedelta64)  # noqa: E731
    is_datetime = lambda a: a is not None and np.issubdtype(a.dtype, np.datetime64)  # noqa: E731
    step = _along(ds, "step", tdim, nt)
    valid = _along(ds, "valid_time", tdim, nt)
    cfgrib = is_timedelta(step) or is_datetime(valid)
    if not is_datetime(valid):
        valid = _along(ds, "time", tdim, nt)
        if is_datetime(valid) and is_timedelta(step):
            valid = valid + step  # cfgrib's time is the reference time
    if not is_datetime(valid):
        valid = np.full(nt, np.datetime64("NaT"))
    ref = _along(ds, "forecast_reference_time", tdim, nt)
    if not is_datetime(ref) and cfgrib:
        ref = _along(ds, "time", tdim, nt)
    if is_datetime(ref):
        lead = (valid - ref) / np.timedelta64(1, "h")
    elif is_timedelta(step):
        lead = step / np.timedelta64(1, "h")
    else:
        lead = np.full(nt, np.nan)
    return np.asarray(valid).astype("datetime64[ns]"), np.asarray(lead, dtype=np.float64)


def _to_units(var: Variable | None, a: np.ndarray, attrs: dict) -> np.ndarray:
    """Values in the variable's units, by the conversions its definition lists."""
    units = str(attrs.get("units", ""))
    if var is None or not units or units == var.units:
        return a
    for source, factor, offset in var.conversions:
        if units == source:
            return a * np.float32(factor) + np.float32(offset)
    return a

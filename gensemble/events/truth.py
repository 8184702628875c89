"""What an event's ensembles are scored against.

* Observations, in either form weather services exchange them:
  - a station CSV with columns ``station, lat, lon, time, variable, value`` (the layout
    of the field's verification code);
  - CF discrete-sampling-geometry netCDF (``featureType = timeSeries``): orthogonal or
    incomplete multidimensional arrays, or contiguous ragged arrays (``sample_dimension``),
    stations named by the ``cf_role = timeseries_id`` variable, variables matched to the
    model's by name, alias or standard name, converted to its units.

  Each station is matched to its nearest grid point.  Stations off the grid or outside
  the event's region are left out with a note naming them; each station is scored with
  the values it has (a missing hour is left out of that hour only).  A file with nothing
  usable - no station in the region, no observation at the forecasts' valid times, a
  variable the model does not make, non-finite coordinates - is refused in one line.
* Without observations, a held-out member is the truth and the others the raw ensemble,
  rotated over members (pseudo-truth), so every ensemble is scored on the same footing.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from gensemble.core.errors import DataError, UserError

LOG = logging.getLogger(__name__)

COLUMNS = ("station", "lat", "lon", "time", "variable", "value")


@dataclass
class Stations:
    """Observations matched to the grid: values (K, S) per variable at (row, col)."""

    names: list[str]
    rows: np.ndarray
    cols: np.ndarray
    values: dict[str, np.ndarray]  # variable -> (K, S), NaN where a station has no value
    notes: list[str] = field(default_factory=list)


def read_stations(path: Path, grid, mask: np.ndarray, valid: np.ndarray, variables: list[str]):  # noqa: ANN001, ANN201
    """Observations at the cases' valid times, matched to the nearest grid points."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: file not found", "obs")
    with open(path, "rb") as fh:
        magic = fh.read(4)
    if magic[:3] == b"CDF" or magic == b"\x89HDF":
        table = _read_dsg(path, variables)
    else:
        table = _read_csv(path, variables)
    return _match(path, table, grid, mask, valid)


def _read_csv(path: Path, variables: list[str]) -> Any:
    import pandas as pd

    try:
        df = pd.read_csv(path)
    except (ValueError, OSError) as exc:
        raise DataError(f"{path}: not a readable CSV ({exc})", "obs") from None
    missing = [c for c in COLUMNS if c not in df.columns]
    if missing:
        raise DataError(f"{path}: missing columns {', '.join(missing)}", "obs")
    unknown = sorted(set(df["variable"].astype(str)) - set(variables))
    if unknown:
        raise UserError(
            f"{path}: variables {', '.join(unknown)} are not made by the model "
            f"({', '.join(variables)})",
            "obs",
        )
    for col in ("lat", "lon"):
        values = pd.to_numeric(df[col], errors="coerce")
        if not np.all(np.isfinite(values)):
            bad = df.loc[~np.isfinite(values), "station"].astype(str).unique()[:5]
            raise DataError(f"{path}: missing or non-finite {col} at {', '.join(bad)}", "obs")
    try:
        df["time"] = pd.to_datetime(df["time"], utc=True).dt.tz_localize(None)
    except (ValueError, TypeError) as exc:
        raise DataError(f"{path}: unreadable times ({exc})", "obs") from None
    df["value"] = pd.to_numeric(df["value"], errors="coerce")  # missing: NaN, left out
    df["station"] = df["station"].astype(str)
    return df[list(COLUMNS)]


def _read_dsg(path: Path, variables: list[str]) -> Any:
    """A CF timeSeries file as the CSV's long table."""
    import pandas as pd
    import xarray as xr

    from gensemble.data.readers.xarray_fields import _to_units
    from gensemble.data.variables import get_variable

    try:
        ds = xr.open_dataset(path)
    except (OSError, ValueError) as exc:
        raise DataError(f"{path}: not a readable netCDF file ({exc})", "obs") from None
    with ds:
        if str(ds.attrs.get("featureType", "")).lower() != "timeseries":
            raise DataError(f"{path}: not a CF timeSeries file (featureType)", "obs")
        ids = [v for v in ds.variables if ds[v].attrs.get("cf_role") == "timeseries_id"]
        lat = _by_standard_name(ds, "latitude", path)
        lon = _by_standard_name(ds, "longitude", path)
        station_dim = lat.dims[0]
        names = (
            [_text(x) for x in ds[ids[0]].values]
            if ids
            else [str(i) for i in range(ds.sizes[station_dim])]
        )
        defs = {v: get_variable(v) for v in variables}
        found = {}
        for name, da in ds.data_vars.items():
            for v, d in defs.items():
                std = da.attrs.get("standard_name")
                if name == v or name in d.aliases or (std and std == d.standard_name):
                    found[v] = da
        if not found:
            raise UserError(
                f"{path}: no variable the model makes ({', '.join(variables)}) by name, "
                "alias or standard name",
                "obs",
            )
        time = _by_standard_name(ds, "time", path)
        rows = []
        ragged = [v for v in ds.variables if "sample_dimension" in ds[v].attrs]
        for v, da in found.items():
            if ragged:  # contiguous ragged array: row_size per station
                sizes = np.asarray(ds[ragged[0]].values, dtype=int)
                station = np.repeat(np.arange(len(sizes)), sizes)
                values = np.asarray(da.values, dtype=float)
                t = np.asarray(time.values)
            else:
                order = [station_dim] + [d for d in da.dims if d != station_dim]
                values = np.asarray(da.transpose(*order).values, dtype=float)
                if time.ndim == 1:
                    t = np.broadcast_to(np.asarray(time.values), values.shape)
                else:  # incomplete multidimensional: time (station, obs)
                    t = np.asarray(time.transpose(*order).values)
                station = np.broadcast_to(np.arange(values.shape[0])[:, None], values.shape)
                values, t, station = values.ravel(), t.ravel(), station.ravel()
            values = _to_units(defs[v], values, da.attrs)
            ok = ~pd.isnull(t)
            rows.append(
                pd.DataFrame(
                    {
                        "station": np.asarray(names)[station[ok]],
                        "lat": np.asarray(lat.values, float)[station[ok]],
                        "lon": np.asarray(lon.values, float)[station[ok]],
                        "time": pd.to_datetime(t[ok]),
                        "variable": v,
                        "value": values[ok],
                    }
                )
            )
    df = pd.concat(rows, ignore_index=True)
    if not np.all(np.isfinite(df[["lat", "lon"]].to_numpy(float))):
        raise DataError(f"{path}: missing or non-finite station coordinates", "obs")
    return df


def _by_standard_name(ds: Any, name: str, path: Path) -> Any:
    for v in ds.variables:
        if ds[v].attrs.get("standard_name") == name or (name == "time" and v == "time"):
            return ds[v]
    raise DataError(f"{path}: no {name} variable (standard_name {name})", "obs")


def _text(x: Any) -> str:
    return x.decode().strip() if isinstance(x, bytes) else str(x).strip()


def _match(path: Path, df: Any, grid: Any, mask: np.ndarray, valid: np.ndarray) -> Stations:
    """Stations on the grid and in the region, their values at the cases' valid times."""
    stations = df.groupby("station")[["lat", "lon"]].first()
    x, y = grid.to_crs_xy(stations["lon"].to_numpy(float), stations["lat"].to_numpy(float))
    rows, cols = grid.index_of(x, y)
    rows, cols = np.round(rows).astype(int), np.round(cols).astype(int)
    ny, nx = mask.shape
    off = (rows < 0) | (rows >= ny) | (cols < 0) | (cols >= nx)
    inside = ~off
    inside[inside] = mask[rows[inside], cols[inside]]
    notes = []
    for what, which in (
        ("off the domain's grid", off),
        ("outside the event's region", ~off & ~inside),
    ):
        if which.any():
            some = ", ".join(map(str, stations.index[which][:8]))
            more = f" and {which.sum() - 8} more" if which.sum() > 8 else ""
            notes.append(f"{which.sum()} station(s) {what} left out: {some}{more}")
    if not inside.any():
        raise DataError(f"{path}: no station lies in the event's region on the grid", "obs")
    names = [str(s) for s in stations.index[inside]]
    index = {n: i for i, n in enumerate(names)}
    valid = valid.astype("datetime64[s]")
    out = {v: np.full((len(valid), len(names)), np.nan) for v in set(df["variable"])}
    # every case valid at a time gets its observation: overlapping forecasts (two runs
    # covering one hour) and held-out rotations share a valid time
    t_index: dict[np.datetime64, list[int]] = {}
    for k, t in enumerate(valid):
        t_index.setdefault(t, []).append(k)
    times = df["time"].to_numpy().astype("datetime64[s]")
    matched = 0
    for st, var, t, val in zip(df["station"], df["variable"], times, df["value"], strict=True):
        ks = t_index.get(t)
        if ks and st in index and np.isfinite(val):
            out[var][ks, index[st]] = float(val)
            matched += 1
    if matched == 0:
        raise DataError(
            f"{path}: no observation of a station in the region at the forecasts' valid "
            f"times ({valid.min()} .. {valid.max()} UTC)",
            "obs",
        )
    for note in notes:
        LOG.warning("%s: %s", path, note)
    return Stations(names, rows[inside], cols[inside], out, notes)

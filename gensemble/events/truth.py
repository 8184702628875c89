"""What an event's ensembles are scored against.

* Observations: a station CSV with columns ``station, lat, lon, time, variable, value``
  (the layout of the field's verification code), each station matched to its nearest
  grid point; stations outside the grid or the region, variables the model does not make,
  missing or non-finite values are refused in one line.
* Without observations, a held-out member is the truth and the others the raw ensemble,
  rotated over members (pseudo-truth), so every ensemble is scored on the same footing.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

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


def read_stations(path: Path, grid, mask: np.ndarray, valid: np.ndarray, variables: list[str]):  # noqa: ANN001, ANN201
    """Observations at the cases' valid times, matched to the nearest grid points."""
    import pandas as pd

    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: file not found", "obs")
    try:
        df = pd.read_csv(path)
    except (ValueError, OSError) as exc:
        raise DataError(f"{path}: not a readable CSV ({exc})", "obs") from None
    missing = [c for c in COLUMNS if c not in df.columns]
    if missing:
        raise DataError(f"{path}: missing columns {', '.join(missing)}", "obs")
    unknown = sorted(set(df["variable"]) - set(variables))
    if unknown:
        raise UserError(
            f"{path}: variables {', '.join(map(str, unknown))} are not made by the model "
            f"({', '.join(variables)})",
            "obs",
        )
    for col in ("lat", "lon", "value"):
        values = pd.to_numeric(df[col], errors="coerce")
        if not np.all(np.isfinite(values)):
            bad = df.loc[~np.isfinite(values), "station"].astype(str).unique()[:5]
            raise DataError(f"{path}: missing or non-finite {col} at {', '.join(bad)}", "obs")
    try:
        times = pd.to_datetime(df["time"], utc=True).dt.tz_localize(None).to_numpy()
    except (ValueError, TypeError) as exc:
        raise DataError(f"{path}: unreadable times ({exc})", "obs") from None
    stations = df.groupby("station")[["lat", "lon"]].first()
    x, y = grid.to_crs_xy(stations["lon"].to_numpy(float), stations["lat"].to_numpy(float))
    rows, cols = grid.index_of(x, y)
    rows, cols = np.round(rows).astype(int), np.round(cols).astype(int)
    ny, nx = mask.shape
    outside = (rows < 0) | (rows >= ny) | (cols < 0) | (cols >= nx)
    if outside.any():
        far = ", ".join(map(str, stations.index[outside][:5]))
        raise DataError(f"{path}: stations off the domain's grid: {far}", "obs")
    inside = ~outside
    inside[inside] = mask[rows[inside], cols[inside]]
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
    for st, var, t, val in zip(
        df["station"].astype(str), df["variable"], times, df["value"], strict=True
    ):
        ks = t_index.get(np.datetime64(t, "s"))
        if ks and st in index:
            out[var][ks, index[st]] = float(val)
    return Stations(names, rows[inside], cols[inside], out)

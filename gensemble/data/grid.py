"""Regular grids in a projected or geographic CRS.

A :class:`Grid` is a rectangle of points regularly spaced in the coordinates of its CRS
(degrees for lat/lon grids such as AROME-EPS EURW1S40, metres for the MEPS Lambert grid).
Row 0 is the southernmost row (y ascending), column 0 the westernmost.
"""

from __future__ import annotations

import hashlib
import json
import logging
import warnings
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import numpy as np
import pyproj

LOG = logging.getLogger(__name__)

_GEOD = pyproj.Geod(ellps="WGS84")


@dataclass(frozen=True)
class Grid:
    """A regular grid: ``nx`` × ``ny`` points from (x0, y0) with steps (dx, dy) in CRS units."""

    crs_wkt: str
    x0: float
    y0: float
    dx: float
    dy: float
    nx: int
    ny: int
    name: str = ""
    _cache: dict[str, Any] = field(default_factory=dict, compare=False, repr=False, hash=False)

    # -- construction -----------------------------------------------------------------------
    @classmethod
    def from_crs(
        cls, crs: Any, x0: float, y0: float, dx: float, dy: float, nx: int, ny: int, name: str = ""
    ) -> Grid:
        return cls(
            pyproj.CRS.from_user_input(crs).to_wkt(),
            float(x0),
            float(y0),
            float(dx),
            float(dy),
            int(nx),
            int(ny),
            name,
        )

    @classmethod
    def from_attrs(cls, attrs: dict[str, Any]) -> Grid:
        d = json.loads(attrs["gensemble_grid"]) if "gensemble_grid" in attrs else attrs
        return cls(
            d["crs_wkt"], d["x0"], d["y0"], d["dx"], d["dy"], d["nx"], d["ny"], d.get("name", "")
        )

    def to_attrs(self) -> dict[str, Any]:
        return {
            "crs_wkt": self.crs_wkt,
            "x0": self.x0,
            "y0": self.y0,
            "dx": self.dx,
            "dy": self.dy,
            "nx": self.nx,
            "ny": self.ny,
            "name": self.name,
        }

    # -- geometry ----------------------------------------------------------------------------
    @cached_property
    def crs(self) -> pyproj.CRS:
        return pyproj.CRS.from_wkt(self.crs_wkt)

    @property
    def shape(self) -> tuple[int, int]:
        return (self.ny, self.nx)

    @property
    def is_geographic(self) -> bool:
        return bool(self.crs.is_geographic)

    @property
    def x(self) -> np.ndarray:
        return self.x0 + self.dx * np.arange(self.nx)

    @property
    def y(self) -> np.ndarray:
        return self.y0 + self.dy * np.arange(self.ny)

    def crop(self, row0: int, col0: int, ny: int, nx: int, name: str = "") -> Grid:
        if row0 < 0 or col0 < 0 or row0 + ny > self.ny or col0 + nx > self.nx or ny < 1 or nx < 1:
            raise ValueError(
                f"crop rows {row0}:{row0 + ny}, cols {col0}:{col0 + nx} outside grid "
                f"{self.ny}x{self.nx}"
            )
        return Grid(
            self.crs_wkt,
            self.x0 + col0 * self.dx,
            self.y0 + row0 * self.dy,
            self.dx,
            self.dy,
            nx,
            ny,
            name or self.name,
        )

    def index_of(self, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Fractional (row, col) of CRS coordinates."""
        return (np.asarray(y) - self.y0) / self.dy, (np.asarray(x) - self.x0) / self.dx

    def lonlat(self) -> tuple[np.ndarray, np.ndarray]:
        """2-D longitude and latitude (degrees) of every point, shape (ny, nx)."""
        if "lonlat" not in self._cache:
            xx, yy = np.meshgrid(self.x, self.y)
            if self.is_geographic:
                lon, lat = xx, yy
            else:
                tr = pyproj.Transformer.from_crs(self.crs, "EPSG:4326", always_xy=True)
                lon, lat = tr.transform(xx, yy)
            self._cache["lonlat"] = (np.asarray(lon), np.asarray(lat))
        return self._cache["lonlat"]

    def to_crs_xy(self, lon: np.ndarray, lat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Longitude/latitude to this grid's CRS coordinates."""
        if self.is_geographic:
            lon = np.asarray(lon, dtype=float)
            # bring longitudes into the grid's range (sources may use 0..360)
            lon = (lon - self.x0 + 180.0) % 360.0 + self.x0 - 180.0
            return lon, np.asarray(lat, dtype=float)
        tr = pyproj.Transformer.from_crs("EPSG:4326", self.crs, always_xy=True)
        return tr.transform(lon, lat)

    def spacing_m(self) -> tuple[float, float]:
        """Geodesic spacing (dx, dy) in metres at the grid centre."""
        lon, lat = self.lonlat()
        j, i = self.ny // 2, max(min(self.nx // 2, self.nx - 2), 0)
        jj = max(min(j, self.ny - 2), 0)
        dx = _GEOD.inv(lon[j, i], lat[j, i], lon[j, i + 1], lat[j, i + 1])[2] if self.nx > 1 else 0
        dy = (
            _GEOD.inv(lon[jj, i], lat[jj, i], lon[jj + 1, i], lat[jj + 1, i])[2]
            if self.ny > 1
            else 0
        )
        return float(dx), float(dy)

    def corners_lonlat(self) -> dict[str, tuple[float, float]]:
        lon, lat = self.lonlat()
        return {
            "south_west": (float(lon[0, 0]), float(lat[0, 0])),
            "south_east": (float(lon[0, -1]), float(lat[0, -1])),
            "north_west": (float(lon[-1, 0]), float(lat[-1, 0])),
            "north_east": (float(lon[-1, -1]), float(lat[-1, -1])),
        }

    def extent_lonlat(self) -> tuple[float, float, float, float]:
        """(lon_min, lon_max, lat_min, lat_max) over all points."""
        lon, lat = self.lonlat()
        return float(lon.min()), float(lon.max()), float(lat.min()), float(lat.max())

    def boundary_lonlat(self, per_side: int = 64) -> tuple[np.ndarray, np.ndarray]:
        """Counter-clockwise outline through the outer cell edges, densified per side."""
        xa, xb = self.x0 - self.dx / 2, self.x0 + self.dx * (self.nx - 0.5)
        ya, yb = self.y0 - self.dy / 2, self.y0 + self.dy * (self.ny - 0.5)
        t = np.linspace(0, 1, per_side, endpoint=False)
        xs = np.concatenate(
            [xa + (xb - xa) * t, np.full_like(t, xb), xb - (xb - xa) * t, np.full_like(t, xa)]
        )
        ys = np.concatenate(
            [np.full_like(t, ya), ya + (yb - ya) * t, np.full_like(t, yb), yb - (yb - ya) * t]
        )
        if self.is_geographic:
            return xs, ys
        tr = pyproj.Transformer.from_crs(self.crs, "EPSG:4326", always_xy=True)
        return tr.transform(xs, ys)

    def area_km2(self) -> float:
        """Geodesic area covered by the grid cells (km²)."""
        lon, lat = self.boundary_lonlat()
        area, _ = _GEOD.polygon_area_perimeter(lon, lat)
        return abs(float(area)) / 1e6

    def cf_coordinates(self) -> dict[str, tuple[Any, np.ndarray, dict[str, str]]]:
        """CF coordinates (dims, values, attrs): 1-D x/y and 2-D latitude/longitude."""
        lon, lat = self.lonlat()
        geo = self.is_geographic
        y_attrs = {
            "standard_name": "latitude" if geo else "projection_y_coordinate",
            "units": "degrees_north" if geo else "m",
            "axis": "Y",
        }
        x_attrs = {
            "standard_name": "longitude" if geo else "projection_x_coordinate",
            "units": "degrees_east" if geo else "m",
            "axis": "X",
        }
        return {
            "y": ("y", self.y, y_attrs),
            "x": ("x", self.x, x_attrs),
            "latitude": (("y", "x"), lat, {"standard_name": "latitude", "units": "degrees_north"}),
            "longitude": (("y", "x"), lon, {"standard_name": "longitude", "units": "degrees_east"}),
        }

    def cf_grid_mapping(self) -> dict[str, Any]:
        """CF grid-mapping attributes of the CRS (for netCDF output)."""
        attrs = self.crs.to_cf()
        attrs["crs_wkt"] = self.crs_wkt
        return attrs

    def key(self) -> str:
        """Stable identity of the grid (CRS + geometry), used as a weights cache key."""
        payload = json.dumps(
            [
                self.crs_wkt,
                round(self.x0, 6),
                round(self.y0, 6),
                round(self.dx, 9),
                round(self.dy, 9),
                self.nx,
                self.ny,
            ]
        )
        return hashlib.sha256(payload.encode()).hexdigest()[:16]

    def describe(self) -> dict[str, Any]:
        dx, dy = self.spacing_m()
        return {
            "name": self.name,
            "shape": list(self.shape),
            "spacing_m": [dx, dy],
            "extent_lonlat": list(self.extent_lonlat()),
            "area_km2": self.area_km2(),
            "corners_lonlat": self.corners_lonlat(),
            "crs": crs_label(self.crs),
        }


def crs_label(crs: pyproj.CRS) -> str:
    """The CRS's name, or its PROJ string when it has none (a Lambert grid defined by its
    parameters is named "unknown" by PROJ, which tells a reader nothing)."""
    if crs.name and crs.name != "unknown":
        return crs.name
    with warnings.catch_warnings():  # PROJ warns that a PROJ string is lossy: here it is a label
        warnings.simplefilter("ignore", UserWarning)
        return crs.to_proj4()

"""Norway/Sweden on the MEPS (MetCoOp) Lambert conformal grid.

Native grid: 949 × 1069 points at 2.5 km, x from -1060084 m, y from -1332518 m, in
``+proj=lcc +lat_0=63.3 +lon_0=15 +lat_1=63.3 +lat_2=63.3 +R=6371000`` (files before
2022 used 63°).  Training uses a configurable crop, by default 256 × 256 over southern
Norway/Sweden centred near 60°N 10.5°E.
"""

from __future__ import annotations

import logging
from typing import Literal

import pyproj
from pydantic import Field

from gensemble.api import CropOptions, CroppedGridDomain, Grid, hookimpl

LOG = logging.getLogger(__name__)

MEPS_X0, MEPS_Y0, MEPS_STEP, MEPS_NX, MEPS_NY = -1060084.0, -1332518.0, 2500.0, 949, 1069


def meps_proj4(lat0: float = 63.3) -> str:
    return (
        f"+proj=lcc +lat_0={lat0} +lon_0=15 +lat_1={lat0} +lat_2={lat0} "
        "+R=6371000 +units=m +no_defs"
    )


class NordicOptions(CropOptions):
    center_lon: float = Field(10.5, description="crop centre longitude (deg E)")
    center_lat: float = Field(60.0, description="crop centre latitude (deg N)")
    ny: int = Field(256, ge=8, le=MEPS_NY)
    nx: int = Field(256, ge=8, le=MEPS_NX)
    projection: Literal["meps2022", "meps_pre2022"] = Field(
        "meps2022", description="lat_0 = 63.3 (since 2022) or 63 (older files)"
    )


class Nordic(CroppedGridDomain):
    """Norway/Sweden on the 2.5 km MEPS Lambert grid, with a configurable training crop."""

    name = "nordic"
    description = "Norway/Sweden, MEPS Lambert 2.5 km grid (949x1069), 256x256 training crop"
    Options = NordicOptions

    def native_grid(self) -> Grid:
        lat0 = 63.3 if self.options.projection == "meps2022" else 63.0
        return Grid.from_crs(
            meps_proj4(lat0), MEPS_X0, MEPS_Y0, MEPS_STEP, MEPS_STEP, MEPS_NX, MEPS_NY, name="MEPS"
        )

    def crop_window(self) -> tuple[int, int, int, int]:
        o, g = self.options, self.native_grid()
        tr = pyproj.Transformer.from_crs("EPSG:4326", g.crs, always_xy=True)
        x, y = tr.transform(o.center_lon, o.center_lat)
        r, c = g.index_of(x, y)
        row0 = int(round(float(r) - o.ny / 2))
        col0 = int(round(float(c) - o.nx / 2))
        row0 = min(max(row0, 0), g.ny - o.ny)
        col0 = min(max(col0, 0), g.nx - o.nx)
        return row0, col0, o.ny, o.nx


@hookimpl
def gensemble_domains() -> list[type]:
    return [Nordic]

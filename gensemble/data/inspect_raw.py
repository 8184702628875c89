"""What a raw file holds, before anything is prepared from it (``gensemble data inspect``).

For a netCDF, GRIB or prototype file: every field found and the canonical variable it maps
to (through the registered variables' aliases), its units in the file and in gensemble,
the grid and its CRS (named by pyproj), the time coverage and members, and how much of
each registered domain (with its default options) the file covers.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np

from gensemble.core.errors import UserError, one_line
from gensemble.core.registry import get_registry
from gensemble.data.grid import Grid, crs_label
from gensemble.data.readers import open_source
from gensemble.data.regrid import PointSource, make_regridder
from gensemble.data.variables import known_variables

LOG = logging.getLogger(__name__)


def _grid_summary(grid: Any, file_crs: str | None = None) -> dict[str, Any]:
    if grid is None:
        return {"kind": "already on a domain grid (prototype samples)"}
    if isinstance(grid, Grid):
        crs = grid.crs
        lon0, lon1, lat0, lat1 = grid.extent_lonlat()
        return {
            "kind": "regular",
            "crs": crs_label(crs),
            "epsg": crs.to_epsg(),
            "shape": list(grid.shape),
            "spacing_m": [round(v, 1) for v in grid.spacing_m()],
            "extent_lonlat": [round(v, 3) for v in (lon0, lon1, lat0, lat1)],
        }
    assert isinstance(grid, PointSource)
    return {
        "kind": "curvilinear (2-D latitude/longitude, no projection in the file)",
        "crs": f"{file_crs} (declared; located by its 2-D latitude/longitude)"
        if file_crs
        else "WGS 84 longitude/latitude points",
        "shape": list(grid.shape),
        "extent_lonlat": [
            round(float(np.nanmin(grid.lon)), 3),
            round(float(np.nanmax(grid.lon)), 3),
            round(float(np.nanmin(grid.lat)), 3),
            round(float(np.nanmax(grid.lat)), 3),
        ],
    }


def domain_coverage(grid: Any) -> dict[str, Any]:
    """Fraction of each registered domain (default options) the source grid covers."""
    out: dict[str, Any] = {}
    if grid is None:
        return out
    registry = get_registry()
    for name in registry.names("domain"):
        try:
            target = registry.get("domain", name)().grid()
            rg = make_regridder(grid, target, "nearest")
            out[name] = {"covered": round(rg.covered_fraction, 4), "shape": list(target.shape)}
        except Exception as exc:  # a partner domain that cannot be built: say so
            out[name] = {"error": one_line(exc)}
    return out


def inspect_raw(path: Path, fmt: str = "auto") -> dict[str, Any]:
    src = open_source(Path(path), fmt)
    known = known_variables()
    fields = []
    for name in src.variables:
        var = known.get(name)
        fields.append(
            {
                "variable": name,
                "in_file": src.origins.get(name, name),
                "units_in_file": src.units.get(name, ""),
                "units": var.units if var else src.units.get(name, ""),
                "canonical": var is not None,
                "long_name": var.long_name if var else "",
            }
        )
    times = np.asarray(src.times if src.times is not None else [], dtype="datetime64[s]")
    times = times[~np.isnat(times)] if times.size else times
    if times.size == 0:
        coverage = "no time information"
    else:
        coverage = f"{times.min()} .. {times.max()} ({np.unique(times).size} times)"
    if not fields:
        raise UserError(f"{path}: no fields found")
    return {
        "path": str(path),
        "samples": src.n_samples,
        "fields": fields,
        "grid": _grid_summary(src.grid, src.file_crs),
        "time_coverage": coverage,
        "domains": domain_coverage(src.grid),
        "notes": list(src.notes),
    }

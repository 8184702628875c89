"""Weather variables: canonical names, units, plausible ranges and normalisation.

Readers map the names used by producers (met.no CF names, GRIB short names, the
prototype's channel order) onto these canonical names.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import numpy as np


@dataclass(frozen=True)
class Variable:
    """A model variable (one channel)."""

    name: str
    units: str
    long_name: str
    standard_name: str = ""
    #: value transform applied before normalisation ("log1p" for precipitation)
    transform: Literal["none", "log1p"] = "none"
    #: physically plausible range in ``units``; values outside are reported as suspicious
    valid_range: tuple[float, float] = (-np.inf, np.inf)
    #: names under which producers store it
    aliases: tuple[str, ...] = field(default_factory=tuple)
    #: part of a vector: ("wind10m", 0) for u, ("wind10m", 1) for v
    vector: tuple[str, int] | None = None


RR = Variable(
    "rr",
    "mm/h",
    "precipitation rate",
    "lwe_precipitation_rate",
    "log1p",
    (0.0, 500.0),
    ("rr", "precipitation_amount", "tp", "tirf", "precip"),
)
U10 = Variable(
    "u10",
    "m/s",
    "eastward wind at 10 m",
    "eastward_wind",
    "none",
    (-100.0, 100.0),
    ("u10", "10u", "x_wind_10m", "u"),
    ("wind10m", 0),
)
V10 = Variable(
    "v10",
    "m/s",
    "northward wind at 10 m",
    "northward_wind",
    "none",
    (-100.0, 100.0),
    ("v10", "10v", "y_wind_10m", "v"),
    ("wind10m", 1),
)
T2M = Variable(
    "t2m",
    "K",
    "air temperature at 2 m",
    "air_temperature",
    "none",
    (180.0, 340.0),
    ("t2m", "2t", "air_temperature_2m", "t2"),
)
OROG = Variable(
    "orog",
    "m",
    "surface altitude",
    "surface_altitude",
    "none",
    (-500.0, 9000.0),
    ("orog", "altitude", "z_surf", "surface_geopotential_height"),
)

STANDARD_VARIABLES: dict[str, Variable] = {v.name: v for v in (RR, U10, V10, T2M, OROG)}


def cf_attrs(name: str, units: str | None = None) -> dict[str, str]:
    """netCDF attributes of a field on a grid with a ``crs`` grid-mapping variable.

    Standard variables get units and CF names; other fields (e.g. ERA5 t850) keep bare
    attributes unless ``units`` is given.
    """
    attrs = {"grid_mapping": "crs", "coordinates": "latitude longitude"}
    var = STANDARD_VARIABLES.get(name)
    if var is not None:
        attrs.update(units=var.units, long_name=var.long_name, standard_name=var.standard_name)
    if units is not None:
        attrs["units"] = units
    return attrs


def forward_transform(values: np.ndarray, variables: list[Variable]) -> np.ndarray:
    """Apply each channel's transform (axis -3 is the variable axis)."""
    out = np.array(values, dtype=np.float32, copy=True)
    for i, var in enumerate(variables):
        if var.transform == "log1p":
            out[..., i, :, :] = np.log1p(np.maximum(out[..., i, :, :], 0.0))
    return out

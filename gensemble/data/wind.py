"""Rotation of grid-relative wind components to east/north.

Many model products (met.no MEPS ``x_wind_10m``/``y_wind_10m``) give wind along the grid
axes.  The angle of the grid's x axis relative to east is derived numerically from the
longitudes/latitudes of neighbouring points, which works for any conformal projection,
including files whose projection variable is empty.
"""

from __future__ import annotations

import logging

import numpy as np

LOG = logging.getLogger(__name__)


def grid_x_axis_angle(lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
    """Angle (radians, counter-clockwise from east) of the grid x axis at each point."""
    dlon = np.gradient(np.unwrap(np.radians(lon), axis=1), axis=1)
    dlat = np.gradient(np.radians(lat), axis=1)
    return np.arctan2(dlat, dlon * np.cos(np.radians(lat)))


def rotate_to_earth(
    u_grid: np.ndarray, v_grid: np.ndarray, angle: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """(u, v) along the grid axes to (eastward, northward)."""
    c, s = np.cos(angle), np.sin(angle)
    return u_grid * c - v_grid * s, u_grid * s + v_grid * c

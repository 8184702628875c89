"""High-impact weather events: the cases on which StyleGAN forecasts are verified.

An event is data, like a variable: a partner weather service ships its own catalogue as
``Event`` instances returned by the ``gensemble_events`` hook of its package.  It says
when (a valid-time window), where (a lon/lat polygon), which variables and thresholds make
it high-impact (physical units, with the accumulation period: 1 h rate, 3 h, 24 h...),
and where the facts come from.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

import numpy as np

LOG = logging.getLogger(__name__)


@dataclass(frozen=True)
class Threshold:
    """``variable`` above ``value`` (in ``units``) accumulated over ``accumulation_h``
    hours (1: the hourly rate itself; 24: the sum of 24 hourly rates)."""

    variable: str
    value: float
    units: str
    accumulation_h: float = 1.0

    @property
    def quantity(self) -> str:
        """What is compared with the value: ``rr`` (the rate), ``rr_24h`` (its 24 h sum)."""
        acc = "" if self.accumulation_h == 1 else f"_{self.accumulation_h:g}h"
        return f"{self.variable}{acc}"

    @property
    def label(self) -> str:
        """A name usable as an MLflow metric key: ``rr_gt20``, ``rr_24h_gt100``."""
        return f"{self.quantity}_gt{self.value:g}"


def box(lon0: float, lon1: float, lat0: float, lat1: float) -> tuple[tuple[float, float], ...]:
    """A lon/lat box as the polygon an event's region is."""
    return ((lon0, lat0), (lon1, lat0), (lon1, lat1), (lon0, lat1))


@dataclass(frozen=True)
class Event:
    name: str
    title: str
    domains: tuple[str, ...]
    start: str  # ISO valid time, UTC
    end: str
    region: tuple[tuple[float, float], ...]  # lon/lat polygon
    thresholds: tuple[Threshold, ...]
    sources: tuple[str, ...]
    observed: str = ""  # the observed extremes, as the sources give them
    notes: str = ""
    #: the stations the observed extremes were measured at: (name, lat, lon); the region
    #: must contain them (``problems`` says so otherwise)
    stations: tuple[tuple[str, float, float], ...] = ()
    extra: dict[str, Any] = field(default_factory=dict, compare=False)

    @property
    def description(self) -> str:
        """One line for listings."""
        return f"{self.title} ({self.start[:10]})"

    def validate(self) -> None:
        """Refuse a malformed entry when the registry collects it (units are checked
        against the registered variables by ``gensemble events list``)."""
        bad = self.problems(None)
        if bad:
            raise ValueError(f"event {self.name}: {'; '.join(bad)}")

    def window(self) -> tuple[np.datetime64, np.datetime64]:
        return np.datetime64(self.start, "s"), np.datetime64(self.end, "s")

    def mask(self, lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
        """Grid points (2-D lon/lat) inside the region."""
        from matplotlib.path import Path

        path = Path(np.asarray(self.region, dtype=float))
        pts = np.column_stack([np.ravel(lon), np.ravel(lat)])
        return path.contains_points(pts).reshape(np.shape(lon))

    def problems(self, units: dict[str, str] | None) -> list[str]:
        """What is wrong with the entry (thresholds checked against the units of the
        known variables, by name, when ``units`` is given)."""
        out = []
        if len(self.region) < 3:
            out.append("region needs at least 3 lon/lat points")
        try:
            t0, t1 = self.window()
            if t1 <= t0:
                out.append(f"window ends ({self.end}) before it starts ({self.start})")
        except ValueError:
            out.append(f"window {self.start} .. {self.end} is not ISO date/times")
        if not self.thresholds:
            out.append("no thresholds")
        if len(self.region) >= 3 and self.stations:
            lat = np.array([s[1] for s in self.stations], dtype=float)
            lon = np.array([s[2] for s in self.stations], dtype=float)
            outside = [
                s[0] for s, ok in zip(self.stations, self.mask(lon, lat), strict=True) if not ok
            ]
            if outside:
                out.append(f"stations outside the region: {', '.join(outside)}")
        for t in self.thresholds:
            if units is None:
                pass
            elif t.variable not in units:
                out.append(f"threshold on unknown variable {t.variable!r}")
            elif not _same_units(t.units, units[t.variable], t.accumulation_h):
                out.append(
                    f"threshold {t.label} in {t.units!r}, variable {t.variable} is in "
                    f"{units[t.variable]!r}"
                )
            if t.accumulation_h <= 0:
                out.append(f"threshold {t.label}: accumulation must be positive")
        if not self.sources:
            out.append("no sources cited")
        return out


def _same_units(threshold: str, variable: str, hours: float) -> bool:
    """A rate (mm/h) accumulated over hours is an amount (mm)."""
    if threshold == variable:
        return True
    return variable.endswith("/h") and hours != 1 and threshold == variable[: -len("/h")]

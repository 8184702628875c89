"""A physically shaped extreme injected into a synthetic ensemble (``data synth --event``).

So the event chain runs and is tested without the real archive: one forecast issued at
the start of the event's window, hourly lead times over it (24 h at least, 48 h at most),
and an organised heavy-rain system in the region: an elongated rain core (tens of mm/h at
its peak, so 24 h totals pass 200 mm) that builds up, peaks mid-window and decays, drifts
slowly, with a cyclonic circulation and stronger gusts around it.  Members differ in the
core's position (about 8 km) and intensity (about 30 %), as real members do.
"""

from __future__ import annotations

import logging

import numpy as np

from gensemble.api.events import Event
from gensemble.data.grid import Grid

LOG = logging.getLogger(__name__)


def event_times(event: Event) -> tuple[np.ndarray, np.datetime64]:
    """Hourly valid times of the synthetic forecast and its reference time."""
    t0, t1 = event.window()
    hours = int(np.clip((t1 - t0) / np.timedelta64(1, "h"), 24, 48))
    return t0 + np.arange(1, hours + 1) * np.timedelta64(1, "h"), t0


def inject_event(fields: dict[str, np.ndarray], grid: Grid, event: Event, seed: int = 0) -> None:
    """Add the rain system and its wind signature to ``fields`` (time, member, y, x)."""
    rng = np.random.default_rng(seed + 7919)
    lon, lat = grid.lonlat()
    inside = event.mask(lon, lat)
    if not inside.any():
        raise ValueError(f"event {event.name}: its region has no point of the grid")
    rows, cols = np.nonzero(inside)
    ny, nx = lon.shape
    dy, dx = grid.spacing_m()
    yy, xx = np.meshgrid(np.arange(ny) * dy, np.arange(nx) * dx, indexing="ij")
    yc, xc = rows.mean() * dy, cols.mean() * dx
    n_t, n_m = next(iter(fields.values())).shape[:2]
    angle = rng.uniform(0, np.pi)
    along, across = 14e3, 6e3
    for t in range(n_t):
        phase = (t + 0.5) / n_t
        peak = 45.0 * np.exp(-0.5 * ((phase - 0.5) / 0.22) ** 2)
        drift = (phase - 0.5) * 10e3
        for m in range(n_m):
            oy, ox = rng.normal(0, 8e3, 2)
            amp = peak * rng.lognormal(0, 0.3)
            y = yy - (yc + oy + drift * np.sin(angle))
            x = xx - (xc + ox + drift * np.cos(angle))
            a = x * np.cos(angle) + y * np.sin(angle)
            b = -x * np.sin(angle) + y * np.cos(angle)
            core = np.exp(-0.5 * ((a / along) ** 2 + (b / across) ** 2))
            if "rr" in fields:
                fields["rr"][t, m] += amp * core
            r = np.hypot(x, y) + 1e3
            swirl = 18.0 * (peak / 45.0) * (r / 20e3) * np.exp(1 - r / 20e3)
            if "u10" in fields:
                fields["u10"][t, m] += -swirl * y / r - 0.3 * swirl * x / r  # cyclonic, inflow
            if "v10" in fields:
                fields["v10"][t, m] += swirl * x / r - 0.3 * swirl * y / r
            if "gust10" in fields:
                fields["gust10"][t, m] += 1.7 * swirl

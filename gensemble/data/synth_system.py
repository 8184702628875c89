"""Synthetic ensemble *systems*: a forecast law that is known, so the right answer is too.

Nobody here holds a real AROME/MEPS archive, and on a real one the truth's law is never
known.  A system makes it known: each date t has a large-scale state theta_t, and every
member of that date's forecast is an independent draw from p(x | theta_t):

* wind (u10, v10) from a streamfunction: theta's large-scale pattern plus small-scale
  perturbations with a k^-11/3 kinetic-energy-like spectrum;
* t2m: theta's base temperature and pattern, plus small-scale perturbations;
* rr (mm/h): an organised rain feature of theta (centre, width, intensity) whose position
  and intensity are perturbed member by member (position: ``pos_sd`` grid points;
  intensity: lognormal ``intensity_sd``), modulated by a small-scale lognormal moisture
  field, so the 99th percentile lies in a heavy tail that means something.

The truth of each date is one more independent draw from the same law (``truth_spread``
1) or, for an under-dispersive system, from a law whose perturbations are wider (e.g.
1.3: the ensemble is then too narrow by construction).  Because the law is known, an
*oracle* ensemble of any size can be drawn for any date (:func:`draw`): the bound no
enlarged ensemble can beat.

Every draw is reproducible from the system's seed: theta_t from (seed, t), the members
from (seed, t, "members"), the truth from (seed, t, "truth"), oracle draws from (seed, t,
"oracle", k).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from gensemble.core.errors import UserError
from gensemble.data.grid import Grid
from gensemble.data.synth import FieldMaker

LOG = logging.getLogger(__name__)

VARIABLES = ("rr", "u10", "v10", "t2m")
_STREAMS = {"members": 1, "truth": 2, "oracle": 3}


class SystemLaw(BaseModel):
    """How members scatter around a date's state (in grid points, K, m/s, log units)."""

    model_config = ConfigDict(extra="forbid")

    pos_sd: float = Field(2.0, ge=0, description="rain feature position, grid points")
    intensity_sd: float = Field(0.35, ge=0, description="rain intensity, lognormal sd")
    wind_sd: float = Field(0.35, ge=0, description="small-scale streamfunction share")
    t2m_sd: float = Field(0.8, ge=0, description="small-scale temperature, K")
    moisture_sd: float = Field(0.6, ge=0, description="small-scale rain modulation, log")
    truth_spread: float = Field(
        1.0, gt=0, description="the truth's perturbations x this (1.3: under-dispersive)"
    )


#: the built-in systems: name -> law
SYSTEMS = {
    "mesoscale": SystemLaw(),
    "mesoscale_underdispersive": SystemLaw(truth_spread=1.3),
}


def get_system(name: str) -> SystemLaw:
    if name not in SYSTEMS:
        raise UserError(
            f"unknown synthetic system {name!r} (known: {', '.join(sorted(SYSTEMS))})", "system"
        )
    return SYSTEMS[name]


@dataclass
class State:
    """theta_t: the large-scale state of one date."""

    psi: np.ndarray  # (1, ny, nx/2+1) spectral streamfunction
    speed: float
    u0: float
    v0: float
    t_base: float
    t_pattern: np.ndarray  # (ny, nx) unit-variance large-scale pattern
    centre: tuple[float, float]  # rain feature (row, col), grid points
    width: float  # grid points
    intensity: float  # mm/h at the centre
    moisture: np.ndarray  # (1, ny, nx/2+1) spectral large-scale moisture


def state(grid: Grid, seed: int, t: int) -> State:
    """theta_t of date t, from (seed, t) alone."""
    fm = FieldMaker(grid)
    rng = np.random.default_rng([seed, t, 0])
    ny, nx = grid.shape
    return State(
        psi=fm.spectral(rng, 14 / 3),
        speed=float(rng.uniform(3.0, 8.0)),
        u0=float(rng.normal(0, 3)),
        v0=float(rng.normal(0, 3)),
        t_base=float(283.0 + rng.normal(0, 5)),
        t_pattern=fm.field(fm.spectral(rng, 4.0))[0],
        centre=(float(rng.uniform(0.25, 0.75) * ny), float(rng.uniform(0.25, 0.75) * nx)),
        width=float(rng.uniform(0.08, 0.18) * min(ny, nx)),
        intensity=float(rng.lognormal(np.log(8.0), 0.6)),
        moisture=fm.spectral(rng, 3.5),
    )


def draw(
    grid: Grid, theta: State, law: SystemLaw, n: int, rng: np.random.Generator, spread: float = 1
) -> dict[str, np.ndarray]:
    """n independent draws (n, ny, nx) of every variable from p(x | theta), their
    perturbations scaled by ``spread``."""
    fm = FieldMaker(grid)
    ny, nx = grid.shape
    a = min(law.wind_sd * spread, 0.95)
    psi = np.sqrt(1 - a**2) * theta.psi + a * fm.spectral(rng, 14 / 3 - 1, n)
    u, v = fm.wind(psi)
    t2m = (
        theta.t_base
        + 3.0 * theta.t_pattern[None]
        + law.t2m_sd * spread * fm.field(fm.spectral(rng, 3.0, n))
    )
    yy, xx = np.mgrid[0:ny, 0:nx].astype(float)
    shift = rng.normal(0, law.pos_sd * spread, (n, 2))
    cy = theta.centre[0] + shift[:, 0, None, None]
    cx = theta.centre[1] + shift[:, 1, None, None]
    blob = np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / (2 * theta.width**2))
    s = law.intensity_sd * spread
    peak = theta.intensity * np.exp(rng.normal(-0.5 * s**2, s, (n, 1, 1)))
    m = law.moisture_sd * spread
    moist = fm.field(theta.moisture + m * fm.spectral(rng, 2.5, n))
    rain = peak * blob * np.exp(0.8 * moist - 0.32)
    rr = np.where(rain > 0.1, rain, 0.0)
    return {
        "rr": rr.astype(np.float32),
        "u10": (theta.speed * u + theta.u0).astype(np.float32),
        "v10": (theta.speed * v + theta.v0).astype(np.float32),
        "t2m": t2m.astype(np.float32),
    }


def _rng(seed: int, t: int, stream: str, k: int = 0) -> np.random.Generator:
    return np.random.default_rng([seed, t, _STREAMS[stream], k])


@dataclass
class SystemSample:
    """Members (dates, M, ...) and truth (dates, ...) per variable, with the dates."""

    members: dict[str, np.ndarray]
    truth: dict[str, np.ndarray]
    reference: np.ndarray  # forecast reference times
    valid: np.ndarray


def sample_system(
    grid: Grid, law: SystemLaw, dates: int, members: int, seed: int, lead_h: float = 24.0
) -> SystemSample:
    """``dates`` forecasts of ``members`` members and their truths."""
    if members < 1 or dates < 1:
        raise UserError("a system needs at least one date and one member")
    out = {v: [] for v in VARIABLES}
    truth = {v: [] for v in VARIABLES}
    for t in range(dates):
        theta = state(grid, seed, t)
        ens = draw(grid, theta, law, members, _rng(seed, t, "members"))
        obs = draw(grid, theta, law, 1, _rng(seed, t, "truth"), law.truth_spread)
        for v in VARIABLES:
            out[v].append(ens[v])
            truth[v].append(obs[v][0])
    reference = np.datetime64("2021-01-01T00", "s") + np.arange(dates) * np.timedelta64(1, "D")
    valid = reference + np.timedelta64(int(lead_h * 3600), "s")
    return SystemSample(
        {v: np.stack(x) for v, x in out.items()},
        {v: np.stack(x) for v, x in truth.items()},
        reference,
        valid,
    )


def oracle(grid: Grid, law: SystemLaw, seed: int, t: int, n: int, k: int = 0):  # noqa: ANN201
    """n members of date t drawn from the true law (the forecast's law, not the truth's
    wider one): an ensemble as good as any can be."""
    return draw(grid, state(grid, seed, t), law, n, _rng(seed, t, "oracle", k))


def describe(name: str, law: SystemLaw, seed: int) -> dict:
    """What a written system records of itself (JSON), enough to redraw any part."""
    return {"system": name, "seed": seed, "law": law.model_dump(), "variables": VARIABLES} | {
        "streams": dict(_STREAMS)
    }


__all__ = [
    "SYSTEMS",
    "State",
    "SystemLaw",
    "SystemSample",
    "describe",
    "draw",
    "get_system",
    "oracle",
    "sample_system",
    "state",
]

"""Synthetic ensembles on any domain, for demos and tests.

The model, per forecast case (date) and member, on the domain grid with spacing Δ (m):

* **Gaussian random fields** are made by filtering white noise in Fourier space with
  amplitude ∝ k^(-β/2), giving a 2-D spectral density ∝ k^(-β) and a radially
  integrated spectrum ∝ k^(1-β) (k: wavenumber).
* **Members** are perturbations of the date's shared state:
  f_m = √(1-a²)·f_shared + a·f'_m, where the perturbation f'_m has a flatter spectrum
  (β - 1), so small scales diverge first, as in a real ensemble; ``a`` is the spread.
* **Wind** (u10, v10) is divergence-free: u = -∂ψ/∂y, v = ∂ψ/∂x from a streamfunction
  with β = 14/3, i.e. a radially integrated kinetic-energy spectrum ∝ k^(-5/3)
  (mesoscale); plus a date-level
  mean flow.  RMS eddy speed ~4 m/s.
* **Orography** is the domain's static field when it has one, otherwise a fractal terrain
  (β = 4, plains below a threshold) fixed per domain name, so every date shares it.
* **t2m** = T_date − 6.5 K/km · orography − northward gradient (≈0.7 K/° latitude)
  + small-scale anomalies (β = 4, ~1.5 K).
* **rr** (mm/h) is intermittent with heavy tails: a latent field g (β = 3.5) plus
  orographic uplift (wind · ∇h) is thresholded at a date-dependent quantile (wet fraction
  5–40 %) and mapped through A·expm1(min(g − q, 4.5)), A lognormal: a heavy but
  physically bounded tail (below ~250 mm/h).
"""

from __future__ import annotations

import logging
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr

from gensemble.api.plugins import DomainPlugin
from gensemble.core.errors import UserError
from gensemble.core.progress import progress
from gensemble.data.cf import SYNTHETIC_ATTR, TimeStepWriter, to_cf_dataset, write_netcdf
from gensemble.data.grid import Grid

LOG = logging.getLogger(__name__)


def _wavenumbers(ny: int, nx: int, dy: float, dx: float) -> tuple[np.ndarray, ...]:
    ky = np.fft.fftfreq(ny, d=dy)[:, None] * 2 * np.pi
    kx = np.fft.rfftfreq(nx, d=dx)[None, :] * 2 * np.pi
    return ky, kx, np.sqrt(kx**2 + ky**2)


class FieldMaker:
    """Spectral Gaussian random fields and derivatives on one grid."""

    def __init__(self, grid: Grid) -> None:
        self.ny, self.nx = grid.shape
        dx, dy = grid.spacing_m()
        self.dx, self.dy = max(dx, 1.0), max(dy, 1.0)
        self.ky, self.kx, self.k = _wavenumbers(self.ny, self.nx, self.dy, self.dx)
        self.kmin = 2 * np.pi / (max(self.ny * self.dy, self.nx * self.dx))

    def spectral(self, rng: np.random.Generator, beta: float, n: int = 1) -> np.ndarray:
        """Fourier coefficients of unit-variance fields with spectrum ∝ k^-beta."""
        white = np.fft.rfft2(rng.standard_normal((n, self.ny, self.nx)))
        amp = np.maximum(self.k, self.kmin) ** (-beta / 2)
        amp[0, 0] = 0.0
        spec = white * amp
        var = (np.abs(amp) ** 2).sum() * 2 / (self.ny * self.nx) ** 1
        return spec / np.sqrt(var)

    def field(self, spec: np.ndarray) -> np.ndarray:
        f = np.fft.irfft2(spec, s=(self.ny, self.nx))
        return f / (f.std(axis=(-2, -1), keepdims=True) + 1e-12)

    def wind(self, spec_psi: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        u = np.fft.irfft2(-1j * self.ky * spec_psi, s=(self.ny, self.nx))
        v = np.fft.irfft2(1j * self.kx * spec_psi, s=(self.ny, self.nx))
        rms = np.sqrt((u**2 + v**2).mean(axis=(-2, -1), keepdims=True)) + 1e-12
        return u / rms, v / rms


def synthetic_orography(grid: Grid, name: str) -> np.ndarray:
    """Fractal terrain (m), fixed per domain name."""
    rng = np.random.default_rng(zlib.crc32(name.encode()))
    fm = FieldMaker(grid)
    pos = np.maximum(fm.field(fm.spectral(rng, 4.0))[0] - 0.2, 0.0)
    return (3500.0 * (pos / (pos.max() + 1e-12)) ** 1.3).astype(np.float32)


#: recipes this module knows; a variable names one in its definition (``synthetic``)
RECIPES = (
    "precipitation",
    "wind_u",
    "wind_v",
    "wind_speed",
    "temperature",
    "orography",
    "pressure",
    "gust",
    "humidity",
    "cloud",
)


def recipes_for(variables: list) -> dict[str, str]:
    """Variable name -> recipe, or a refusal naming the variable without one."""
    out = {}
    for var in variables:
        if var.synthetic not in RECIPES:
            why = "names none" if var.synthetic is None else f"names {var.synthetic!r}"
            raise UserError(
                f"no synthetic generator for variable {var.name!r} (its definition {why}; "
                f"known recipes: {', '.join(RECIPES)})"
            )
        out[var.name] = var.synthetic
    return out


class _Extras:
    """The fields derived from a date's base fields, drawn only when asked for.

    * pressure (hPa): 1013 + a date anomaly + the streamfunction (geostrophic: the wind
      blows along the isobars), ~6 hPa across the domain;
    * gust (m/s): wind speed times a gust factor of 1.3-1.9, higher where it rains;
    * humidity (fraction): a moist field tied to the rain's latent field, near 1 where
      it rains;
    * cloud (fraction): a cloud field tied to the same latent field, overcast over rain.
    """

    def __init__(self, fm, rng, a, b, m, base, psi, g) -> None:  # noqa: ANN001
        self.fm, self.rng, self.a, self.b, self.m = fm, rng, a, b, m
        self.base, self.psi, self.g = base, psi, g

    def _noise(self, beta: float) -> np.ndarray:
        fm = self.fm
        return fm.field(
            self.b * fm.spectral(self.rng, beta) + self.a * fm.spectral(self.rng, beta, self.m)
        )

    def make(self, recipe: str) -> np.ndarray:
        speed = np.hypot(self.base["wind_u"], self.base["wind_v"])
        if recipe == "wind_speed":
            return speed
        if recipe == "pressure":
            psi = self.fm.field(self.psi)
            return 1013.0 + self.rng.normal(0, 8) + 6.0 * psi
        wet = np.clip(self.base["precipitation"], 0, None)
        if recipe == "gust":
            factor = 1.6 + 0.15 * self._noise(3.0) + 0.1 * np.tanh(wet)
            return np.clip(speed * np.clip(factor, 1.3, 1.9) + 1.0, 0, None)
        if recipe == "humidity":
            x = 0.8 + 0.6 * self.g + 0.4 * self._noise(3.0) + 3.0 * np.tanh(wet)
            return 1.0 / (1.0 + np.exp(-x))
        # cloud
        x = 1.5 * self.g + 0.5 * self._noise(2.5) + 4.0 * np.tanh(wet)
        return 1.0 / (1.0 + np.exp(-x))


@dataclass
class SynthPlan:
    """What a synthetic ensemble holds before its fields are drawn."""

    grid: Grid
    names: list[str]
    valid: np.ndarray
    ref: np.ndarray
    orog: np.ndarray
    n_members: int


def synth_steps(
    domain: DomainPlugin,
    n_dates: int,
    n_members: int,
    seed: int = 0,
    spread: float = 0.35,
    show_progress: bool = True,
) -> tuple[SynthPlan, Iterator[dict[str, np.ndarray]]]:
    """The plan, and the fields of each date in turn ({name: (member, y, x)}): a writer
    holds one date at a time.  The random stream is the same however the dates are used."""
    grid = domain.grid()
    fm = FieldMaker(grid)
    rng = np.random.default_rng(seed)
    orog = domain.static_fields().get("orog")
    if orog is None:
        orog = synthetic_orography(grid, domain.name)
    recipes = recipes_for(domain.variables())
    t0 = np.datetime64("2021-01-01T21:00", "s")
    ref = t0 + np.arange(n_dates) * np.timedelta64(1, "D")
    lead = rng.integers(1, 46, n_dates)
    valid = ref + lead * np.timedelta64(1, "h")
    plan = SynthPlan(grid, list(recipes), valid, ref, orog, n_members)
    return plan, _dates(domain.name, grid, fm, rng, orog, recipes, n_dates, n_members,
                        spread, show_progress)  # fmt: skip


def _dates(name, grid, fm, rng, orog, recipes, n_dates, n_members, spread, show_progress):  # noqa: ANN001, ANN202
    _, lat = grid.lonlat()
    hy, hx = np.gradient(orog.astype(np.float64), fm.dy, fm.dx)
    a, b = spread, np.sqrt(1 - spread**2)
    with progress() as bar:
        task = bar.add_task(f"synth {name}", total=n_dates, visible=show_progress)
        for d in range(n_dates):
            psi = fm.spectral(rng, 14 / 3)
            psi_m = b * psi + a * fm.spectral(rng, 14 / 3 - 1, n_members)
            u, v = fm.wind(psi_m)
            speed = rng.uniform(2.5, 6.0)
            u0, v0 = rng.normal(0, 3, 2)
            u, v = speed * u + u0, speed * v + v0
            doy = (d * 7) % 365
            t_date = 283.0 + 9.0 * np.sin(2 * np.pi * (doy - 110) / 365) + rng.normal(0, 2.5)
            tan = fm.field(b * fm.spectral(rng, 4.0) + a * fm.spectral(rng, 3.0, n_members))
            t2m = t_date - 0.0065 * orog - 0.7 * (lat - lat.mean()) + 1.5 * tan
            uplift = u * hx + v * hy
            uplift /= uplift.std() + 1e-12
            g = fm.field(b * fm.spectral(rng, 3.5) + a * fm.spectral(rng, 2.5, n_members))
            g = (g + 0.5 * uplift) / np.sqrt(1.25)
            q = np.quantile(g, 1 - rng.uniform(0.05, 0.4))
            rr = rng.lognormal(-0.5, 0.5) * np.expm1(np.clip(g - q, 0.0, 4.5))
            base = {
                "wind_u": u,
                "wind_v": v,
                "temperature": t2m,
                "precipitation": rr,
                "orography": np.broadcast_to(orog, u.shape),
            }
            extra = _Extras(fm, rng, a, b, n_members, base, psi_m, g)
            yield {
                n: np.asarray(base[r] if r in base else extra.make(r), np.float32)
                for n, r in recipes.items()
            }
            bar.advance(task)


def _skeleton(domain: DomainPlugin, plan: SynthPlan, fields: dict[str, np.ndarray],
              valid: np.ndarray, ref: np.ndarray) -> xr.Dataset:  # fmt: skip
    ds = to_cf_dataset(plan.grid, fields, valid, np.arange(plan.n_members), domain.name,
                       ref=ref, orog=plan.orog)  # fmt: skip
    ds.attrs["source"] = "gensemble synthetic ensemble: invented fields and terrain, not weather"
    ds.attrs[SYNTHETIC_ATTR] = 1
    return ds


def synth_ensemble(
    domain: DomainPlugin,
    n_dates: int,
    n_members: int,
    seed: int = 0,
    spread: float = 0.35,
    show_progress: bool = True,
    event: Any = None,
) -> xr.Dataset:
    """Synthetic ensemble as a CF dataset with dims (time, member, y, x), in memory; with
    ``event`` (an :class:`gensemble.api.events.Event`), one forecast over its window with
    the extreme injected (:mod:`gensemble.data.synth_event`)."""
    if event is not None:
        from gensemble.data.synth_event import event_times, inject_event

        event_valid, event_start = event_times(event)
        n_dates = len(event_valid)
    plan, steps = synth_steps(domain, n_dates, n_members, seed, spread, show_progress)
    shape = (n_dates, n_members, *plan.grid.shape)
    out = {n: np.empty(shape, np.float32) for n in plan.names}
    for d, fields in enumerate(steps):
        for n in plan.names:
            out[n][d] = fields[n]
    valid, ref = plan.valid, plan.ref
    if event is not None:
        valid, ref = event_valid, np.full(len(event_valid), event_start)
        inject_event(out, plan.grid, event, seed)
    return _skeleton(domain, plan, out, valid, ref)


def write_synth_ensemble(
    domain: DomainPlugin,
    n_dates: int,
    n_members: int,
    path: Path,
    seed: int = 0,
    spread: float = 0.35,
    show_progress: bool = True,
    event: Any = None,
) -> int:
    """The ensemble of :func:`synth_ensemble` written to CF netCDF; the number of dates.

    Written a date at a time (peak memory one date, whatever ``n_dates``); with ``event``
    the forecast over its window is made whole, the extreme being injected across it."""
    if event is not None:
        ds = synth_ensemble(domain, n_dates, n_members, seed, spread, show_progress, event)
        write_netcdf(ds, path)
        return ds.sizes["time"]
    plan, steps = synth_steps(domain, n_dates, n_members, seed, spread, show_progress)
    skeleton = _skeleton(domain, plan, {}, plan.valid, plan.ref)
    with TimeStepWriter(path, skeleton, plan.names) as writer:
        for d, fields in enumerate(steps):
            writer.write(d, fields)
    return n_dates

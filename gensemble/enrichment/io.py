"""Forecast ensembles in and StyleGAN forecasts out.

Input: the members of one or more forecasts (valid time x member) on the model's grid,
from a CF netCDF/GRIB file (any grid: regridded onto the model's when it is not already
on it, and refused when that leaves points uncovered) or from a prepared store (by
forecast reference time and lead time).  Output: CF netCDF in physical units, dims
(time, member, y, x), with the grid mapping, a ``generated`` flag per member, the input
member each generated one is built on, the per-member reconstruction error of the
inversion, and provenance (checkpoint hash, a/b, seed, inversion settings).
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from gensemble.core.errors import DataError, UserError
from gensemble.data.cf import to_cf_dataset, write_netcdf
from gensemble.data.grid import Grid

if TYPE_CHECKING:
    from gensemble.enrichment.pipeline import EnrichedForecast

LOG = logging.getLogger(__name__)


@dataclass
class ForecastCase:
    """The members of one forecast at one valid time, in physical units (M, C, H, W)."""

    valid: np.datetime64
    lead_h: float
    members: np.ndarray
    member_ids: np.ndarray


def _check_members(cases: list[ForecastCase], source: str) -> list[ForecastCase]:
    if not cases:
        raise UserError(f"{source}: no forecast selected")
    for case in cases:
        if case.members.shape[0] < 2:
            raise UserError(
                f"{source}: {case.valid} has {case.members.shape[0]} member; enrichment "
                "needs at least 2 (their spread is what is perturbed)"
            )
        bad = ~np.isfinite(case.members)
        if bad.any():
            where = tuple(int(i) for i in np.argwhere(bad)[0])
            raise UserError(
                f"{source}: {int(bad.sum())} NaN/inf values at {case.valid} (first at "
                f"member/variable/y/x {where})"
            )
    return cases


def read_file(path: Path, variables: list[str], grid: Grid, method: str = "bilinear") -> list:
    """Every valid time of a raw file, regridded onto ``grid`` when needed."""
    from gensemble.data.readers import open_source
    from gensemble.data.regrid import make_regridder

    src = open_source(Path(path))
    if src.grid is None:
        raise UserError(f"{path}: not a forecast file with a grid (netCDF or GRIB expected)")
    regrid = None
    if not (isinstance(src.grid, Grid) and src.grid.key() == grid.key()):
        regrid = make_regridder(src.grid, grid, method)  # type: ignore[arg-type]
        if regrid.n_outside:
            raise UserError(
                f"{path} is on another grid that covers {100 * regrid.covered_fraction:.0f}% "
                f"of the model's {grid.shape[0]}x{grid.shape[1]} domain; give the members on "
                "the domain or on a grid that covers it"
            )
    cases = []
    for batch in src.batches(variables):
        fields = regrid(batch.fields) if regrid is not None else batch.fields
        cases.append(ForecastCase(batch.time[0], float(batch.lead_time_h[0]), fields, batch.member))
    return _check_members(cases, str(path))


def read_store(store_path: Path, variables: list[str], shape: tuple, date: str, lead: float):
    """The members of the forecast issued at ``date`` (reference time), at ``lead`` hours."""
    from gensemble.data.store import Store, check_store_matches

    if not Path(store_path).exists():
        raise DataError(f"store {store_path} does not exist", "store")
    store = Store(Path(store_path))
    check_store_matches(store, variables, shape, "the model")
    try:
        ref = np.datetime64(date, "s")
    except ValueError:
        raise UserError(f"{date!r} is not an ISO date/time", "date") from None
    valid = ref + np.timedelta64(int(round(lead * 3600)), "s")
    times, leads = store.times(), store.lead_times().astype(float)
    same_lead = np.isclose(leads, lead) | np.isnan(leads)
    idx = np.flatnonzero((times == valid) & same_lead)
    if idx.size == 0:
        refs = sorted(
            {
                str(t - np.timedelta64(int(round(h * 3600)), "s"))
                for t, h in zip(times, np.nan_to_num(leads), strict=True)
            }
        )
        raise UserError(
            f"{store_path}: no members issued at {ref} for lead {lead:g} h (valid {valid}); "
            f"forecasts in the store start at {', '.join(refs[:5])}"
            + (" ..." if len(refs) > 5 else "")
        )
    case = ForecastCase(valid, lead, store.read(idx), store.members()[idx])
    return _check_members([case], str(store_path))


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def write_forecast(
    out: Path,
    grid: Grid,
    domain: str,
    variables: list[str],
    cases: list[ForecastCase],
    outputs: list[EnrichedForecast],
    provenance: dict[str, Any],
) -> Path:
    """One CF file: every case's output members, flags and reconstruction errors."""
    if Path(out).suffix != ".nc":
        raise UserError(f"the output must be a .nc file, got {Path(out).name}", "out")
    n = outputs[0].fields.shape[0]
    fields = {
        v: np.stack([o.fields[:, c] for o in outputs]).astype(np.float32)
        for c, v in enumerate(variables)
    }
    valid = np.array([c.valid for c in cases])
    lead = np.array([c.lead_h for c in cases], dtype=np.float64)
    ds = to_cf_dataset(
        grid,
        fields,
        valid,
        np.arange(n),
        domain,
        lead_h=lead,
        title=f"gensemble StyleGAN forecast on {domain}",
    )
    ds["generated"] = (
        ("member",),
        outputs[0].generated.astype(np.int8),
        {
            "long_name": "member generated by the StyleGAN (1) or input (0)",
            "flag_values": np.array([0, 1], np.int8),
            "flag_meanings": "input generated",
        },
    )
    ds["source_member"] = (
        ("time", "member"),
        np.stack([o.source for o in outputs]).astype(np.int32),
        {"long_name": "input member each output member is built on"},
    )
    m = cases[0].members.shape[0]
    ds["reconstruction_rmse"] = (
        ("time", "input_member", "variable"),
        np.stack([o.rmse for o in outputs]).astype(np.float32),
        {"long_name": "RMSE of the inverted input member, physical units of each variable"},
    )
    ds = ds.assign_coords(
        input_member=("input_member", np.arange(m)), variable=("variable", list(variables))
    )
    ds.attrs.update(
        {k: v if isinstance(v, (int, float, str)) else json.dumps(v) for k, v in provenance.items()}
    )
    write_netcdf(ds, Path(out))
    return Path(out)

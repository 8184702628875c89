"""A season of StyleGAN forecasts in one CF zarr archive, written case by case.

A case is one forecast (reference time) at one lead time.  The archive is laid out
(forecast_reference_time, lead_time, member, y, x) per variable, chunked by case (and by
blocks of members when a case's members exceed ``CHUNK_BYTES``, so a reader can take a
case a block at a time): ranks write their cases into disjoint chunks and a case is
rewritten whole when it is redone.  Beside the fields: the ``generated`` flag and
``source_member`` of every output member, the inputs' reconstruction RMSE, and per case
whether it is done, the inversion steps it ran, its seconds and the rank that made it.
``case_done`` is written after the case's fields, so a case killed half-way is never
taken for a finished one; a chunk killed half-way through its write reads as not done.

The archive records a fingerprint of what it is made of (checkpoint, store, cases,
settings): a restart with the same job resumes it, another job is refused.
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr
import zarr

from gensemble.core.errors import UserError
from gensemble.data.cf import global_attrs
from gensemble.data.forecasts import ForecastIndex
from gensemble.data.grid import Grid
from gensemble.data.variables import cf_attrs

LOG = logging.getLogger(__name__)

#: ``case_done`` values
PENDING, DONE, ABSENT = 0, 1, -1
FORMAT = "gensemble-archive/1"
#: the most bytes of one field chunk: members of a case beyond it go to further chunks
CHUNK_BYTES = 32 * 2**20


@dataclass
class CaseList:
    """The cases of an archive: reference times x leads, and each one's store samples."""

    reference: np.ndarray  # (F,) datetime64[s]
    leads: np.ndarray  # (L,) hours
    samples: list[list[np.ndarray | None]]  # [f][k]: member sample indices, None if absent
    inputs: int  # the most members of any case (the input_member dimension)

    @property
    def shape(self) -> tuple[int, int]:
        return len(self.reference), len(self.leads)

    def flat(self) -> list[tuple[int, int]]:
        """Every present case as (f, k), in time order."""
        f_n, l_n = self.shape
        return [(f, k) for f in range(f_n) for k in range(l_n) if self.samples[f][k] is not None]

    def case_id(self, f: int, k: int) -> int:
        return f * len(self.leads) + k


def _parse_time(text: str, what: str) -> np.datetime64:
    try:
        return np.datetime64(text.strip(), "s")
    except ValueError:
        raise UserError(f"{what} {text!r} is not an ISO date/time", "dates") from None


def study_record(dates: str) -> Path | None:
    """The path, when ``dates`` names a study's record (its ``study.json``) rather than
    ``START..END`` or one date."""
    return Path(dates.strip()) if dates.strip().endswith(".json") else None


def _study_test_dates(path: Path) -> np.ndarray:
    """The test dates of a study, from the record it wrote (``study.json``)."""
    if not path.is_file():
        raise UserError(f"{path} does not exist", "dates")
    try:
        record = json.loads(path.read_text())
        if record.get("format") != "gensemble-study/1":
            raise ValueError("no gensemble-study/1 format mark")
        return np.array([np.datetime64(t, "s") for t in record["split"]["test"]])
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise UserError(f"{path} is not a study record ({exc})", "dates") from None


def _issued_in(dates: str, ref: np.ndarray, store: Any) -> np.ndarray:
    """Which forecasts ``dates`` asks for: ``START..END`` (both included), one date, or
    the test dates of a study (the path of its ``study.json``)."""
    record = study_record(dates)
    if record is not None:
        test = _study_test_dates(record)
        keep = np.isin(ref, test)
        if not keep.any():
            raise UserError(
                f"{store.path}: none of the {test.size} test dates of {dates} (the store's "
                f"run from {ref.min()} to {ref.max()})",
                "dates",
            )
        return keep
    start, _, end = dates.partition("..")
    t0 = _parse_time(start, "start date")
    t1 = _parse_time(end, "end date") if end else t0
    if t1 < t0:
        raise UserError(f"the dates {dates} end before they start", "dates")
    keep = (ref >= t0) & (ref <= t1)
    if not keep.any():
        raise UserError(
            f"{store.path}: no forecast issued in {dates} (the store's run from "
            f"{ref.min()} to {ref.max()})",
            "dates",
        )
    return keep


def case_list(store: Any, dates: str, leads: list[float] | float | None) -> CaseList:
    """The forecasts of ``store`` issued in ``dates`` (``START..END``, both included, one
    date, or a study's ``study.json``: its test dates) at ``leads`` (default every lead
    the store holds)."""
    index = ForecastIndex.of(store)
    ref = index.reference
    keep = _issued_in(dates, ref, store)
    all_leads = np.unique(index.lead[keep])
    if leads is not None:
        leads = [float(h) for h in np.atleast_1d(leads)]
        missing = [h for h in leads if not np.isclose(all_leads, h).any()]
        if missing:
            have = ", ".join(f"{h:g}" for h in all_leads)
            raise UserError(f"no forecast at lead {missing[0]:g} h in {dates} (leads: {have})",
                            "leads")  # fmt: skip
        all_leads = np.array(sorted(leads), dtype=np.float64)
    refs = np.unique(ref[keep])
    samples: list[list[np.ndarray | None]] = [[None] * len(all_leads) for _ in refs]
    for i in np.flatnonzero(keep):
        li = np.flatnonzero(np.isclose(all_leads, index.lead[i]))
        if li.size:
            samples[int(np.searchsorted(refs, ref[i]))][int(li[0])] = index.members[i]
    inputs = max(len(s) for row in samples for s in row if s is not None)
    return CaseList(refs, all_leads, samples, inputs)


def fingerprint(what: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(what, sort_keys=True, default=str).encode()).hexdigest()


def create_archive(
    path: Path, cases: CaseList, grid: Grid, variables: list[str], n: int, domain: str,
    key: str, provenance: dict[str, Any],
) -> None:  # fmt: skip
    """The archive's skeleton: coordinates, metadata and empty arrays (NaN fields,
    every present case pending)."""
    f_n, l_n = cases.shape
    ny, nx = grid.shape
    m, c = cases.inputs, len(variables)
    coords = {
        "forecast_reference_time": ("forecast_reference_time",
                                    cases.reference.astype("datetime64[ns]"),
                                    {"standard_name": "forecast_reference_time"}),
        "lead_time": ("lead_time", cases.leads.astype(np.float64),
                      {"standard_name": "forecast_period", "units": "hours"}),
        "member": ("member", np.arange(n, dtype=np.int32), {"long_name": "ensemble member"}),
        "input_member": ("input_member", np.arange(m, dtype=np.int32)),
        **grid.cf_coordinates(),
    }  # fmt: skip
    attrs = global_attrs(f"gensemble StyleGAN forecast archive on {domain}", domain)
    attrs |= {"gensemble_archive": FORMAT, "gensemble_archive_key": key,
              "provenance": json.dumps(provenance, default=str)}  # fmt: skip
    skeleton = xr.Dataset({"crs": ((), np.int32(0), grid.cf_grid_mapping())}, coords, attrs)
    skeleton.to_zarr(path, mode="w", zarr_format=3, consolidated=False)
    root = zarr.open_group(str(path), mode="a", zarr_format=3)
    case_dims = ["forecast_reference_time", "lead_time"]
    block = max(1, min(n, CHUNK_BYTES // (4 * ny * nx)))
    for name in variables:
        root.create_array(name, shape=(f_n, l_n, n, ny, nx), chunks=(1, 1, block, ny, nx),
                          dtype="float32", fill_value=np.nan,
                          dimension_names=[*case_dims, "member", "y", "x"],
                          attributes={**cf_attrs(name), "grid_mapping": "crs"})  # fmt: skip
    small = (
        ("generated", (n,), "int8", -1, ["member"],
         {"long_name": "member generated (1) or input (0)"}),
        ("source_member", (n,), "int32", -2, ["member"],
         {"long_name": "input member each output member is built on (-1: the seeds together)"}),
        ("reconstruction_rmse", (m, c), "float32", np.nan, ["input_member", "variable"],
         {"long_name": "RMSE of the inverted input member, physical units of each variable",
          "variables": list(variables)}),
        ("case_done", (), "int8", PENDING, [], {"flag_values": [-1, 0, 1],
         "flag_meanings": "absent pending done"}),
        ("case_steps", (), "int32", -1, [], {"long_name": "inversion steps run"}),
        ("case_seconds", (), "float32", np.nan, [], {"units": "s"}),
        ("case_rank", (), "int16", -1, [], {"long_name": "rank that made the case"}),
    )  # fmt: skip
    for name, tail, dtype, fill, dims, extra in small:
        root.create_array(name, shape=(f_n, l_n, *tail), chunks=(1, 1, *tail), dtype=dtype,
                          fill_value=fill, dimension_names=[*case_dims, *dims],
                          attributes=extra)  # fmt: skip
    done = np.full((f_n, l_n), ABSENT, dtype=np.int8)
    for f, k in cases.flat():
        done[f, k] = PENDING
    root["case_done"][...] = done


def open_archive(path: Path, key: str) -> zarr.Group:
    """An existing archive made by the same job (its fingerprint), for resuming."""
    try:
        root = zarr.open_group(str(path), mode="a", zarr_format=3)
        made = root.attrs.get("gensemble_archive_key")
    except Exception as exc:  # noqa: BLE001 - whatever zarr says, it is not an archive
        raise UserError(f"{path} exists and is not a gensemble archive ({exc})", "out") from None
    if made != key:
        raise UserError(
            f"{path} was made by another job (other checkpoint, store, dates, leads or "
            "settings); give another --out or remove it",
            "out",
        )
    return root


def case_state(root: zarr.Group, f: int, k: int) -> int:
    """A case's state; a ``case_done`` chunk cut short by a kill reads as pending."""
    try:
        return int(root["case_done"][f, k])
    except Exception:  # noqa: BLE001 - a truncated chunk: the case is redone
        return PENDING


def write_case(
    root: zarr.Group, f: int, k: int, variables: list[str], out: Any, rank: int,
    seconds: float,
) -> None:  # fmt: skip
    """One case's members and records, then its done flag (last)."""
    for c, name in enumerate(variables):
        root[name][f, k] = out.fields[:, c].astype(np.float32)
    root["generated"][f, k] = out.generated.astype(np.int8)
    root["source_member"][f, k] = out.source.astype(np.int32)
    rmse = np.full(root["reconstruction_rmse"].shape[2:], np.nan, dtype=np.float32)
    rmse[: out.rmse.shape[0]] = out.rmse
    root["reconstruction_rmse"][f, k] = rmse
    steps = out.inversion.steps if out.inversion is not None else 0
    root["case_steps"][f, k] = steps
    root["case_seconds"][f, k] = seconds
    root["case_rank"][f, k] = rank
    root["case_done"][f, k] = DONE

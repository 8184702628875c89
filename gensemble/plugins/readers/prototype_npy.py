"""The prototype's training-set format: one ``.npy`` per sample plus a CSV index.

Index columns: ``Name, Importance, PosX, PosY, Date, LeadTime, Member``.  Each ``.npy``
holds one sample, channels first, in the prototype's channel order (rr, u, v, t2m, orog...).
The samples are already on the domain grid, so no regridding is done; only their shape is
checked against the domain.  Files are read with ``allow_pickle=False``.
"""

from __future__ import annotations

import csv
import logging
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from gensemble.api import ReaderPlugin, UserError, hookimpl
from gensemble.data.prototype_format import PROTOTYPE_CHANNELS
from gensemble.data.readers.base import RawSource, SampleBatch

LOG = logging.getLogger(__name__)

REQUIRED = ("Name", "Date", "LeadTime", "Member")


def _find_index(path: Path) -> Path:
    if path.is_file():
        return path
    csvs = sorted(path.glob("*.csv"))
    if len(csvs) != 1:
        raise UserError(f"{path}: expected one CSV index in the folder, found {len(csvs)}")
    return csvs[0]


def _load_npy(path: Path) -> np.ndarray:
    try:
        return np.load(path, allow_pickle=False)
    except FileNotFoundError:
        raise UserError(f"{path}: sample listed in the index is missing") from None
    except ValueError as exc:
        raise UserError(f"{path}: not a plain numeric .npy sample ({exc})") from None


def open_prototype(
    path: Path, channels: tuple[str, ...] | None = None, batch_size: int = 64
) -> RawSource:
    index = _find_index(Path(path))
    with index.open(newline="") as fh:
        reader = csv.DictReader(fh, skipinitialspace=True)
        fieldnames = [f.strip() for f in reader.fieldnames or []]
        missing = [c for c in REQUIRED if c not in fieldnames]
        if missing:
            raise UserError(
                f"{index}: index lacks columns {', '.join(missing)} "
                f"(expected Name, Importance, PosX, PosY, Date, LeadTime, Member)"
            )
        rows = [{k.strip(): (v or "").strip() for k, v in r.items()} for r in reader]
    if not rows:
        raise UserError(f"{index}: index lists no samples")
    root = index.parent

    def sample_path(name: str) -> Path:
        p = root / name
        return p if p.suffix == ".npy" else p.with_name(p.name + ".npy")

    first = _load_npy(sample_path(rows[0]["Name"]))
    if first.ndim != 3:
        raise UserError(
            f"{sample_path(rows[0]['Name'])}: expected (channel, y, x), got {first.shape}"
        )
    names = list(channels or PROTOTYPE_CHANNELS[: first.shape[0]])
    if len(names) != first.shape[0]:
        raise UserError(
            f"{index}: samples have {first.shape[0]} channels but {len(names)} names "
            f"were given ({', '.join(names)})"
        )
    try:
        dates = np.array([np.datetime64(r["Date"].replace(" ", "T"), "s") for r in rows])
        lead = np.array([float(r["LeadTime"]) for r in rows])
        member = np.array([int(float(r["Member"])) for r in rows])
    except ValueError as exc:
        raise UserError(f"{index}: bad Date/LeadTime/Member value ({exc})") from None
    valid = dates + (lead * 3600).astype("timedelta64[s]")

    def iter_batches(variables: list[str]) -> Iterator[SampleBatch]:
        sel = [names.index(v) for v in variables]
        for start in range(0, len(rows), batch_size):
            chunk = rows[start : start + batch_size]
            arrs = []
            for r in chunk:
                a = _load_npy(sample_path(r["Name"]))
                if a.shape != first.shape:
                    raise UserError(
                        f"{sample_path(r['Name'])}: shape {a.shape} differs from {first.shape}"
                    )
                arrs.append(a[sel])
            sl = slice(start, start + len(chunk))
            yield SampleBatch(
                np.stack(arrs).astype(np.float32), list(variables), valid[sl], lead[sl], member[sl]
            )

    src = RawSource(
        index,
        None,
        names,
        len(rows),
        iter_batches,
        [f"prototype index {index.name}: {len(rows)} samples, channels {names}"],
    )
    src.shape = first.shape[1:]  # type: ignore[attr-defined]
    return src


class PrototypeReader(ReaderPlugin):
    name = "npy"
    description = "the prototype's training set: one .npy per sample plus a CSV index"

    def can_open(self, path: Path) -> bool:
        return path.suffix.lower() == ".csv" or (path.is_dir() and any(path.glob("*.csv")))

    def open(self, path: Path, **kwargs: object) -> RawSource:
        return open_prototype(path, **kwargs)  # type: ignore[arg-type]


@hookimpl
def gensemble_readers() -> list[type]:
    return [PrototypeReader]

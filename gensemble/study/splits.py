"""Train / calibrate / test forecast dates, disjoint, and refused when they leak.

Counts are taken in time order - train first, then calibrate, then test - so the test
dates come after everything the generator and its calibration saw.  Explicit lists of
reference times are checked: a date in two splits, or two splits whose forecasts verify
the same valid time (yesterday's 48 h forecast and today's 24 h one), leak, and the study
refuses them in one line.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np

from gensemble.core.errors import UserError
from gensemble.study.config import Splits

LOG = logging.getLogger(__name__)

NAMES = ("train", "calibrate", "test")


@dataclass
class DateSplit:
    """Indices into the source's forecast dates of each split."""

    train: list[int]
    calibrate: list[int]
    test: list[int]

    def as_dict(self) -> dict[str, list[int]]:
        return {"train": self.train, "calibrate": self.calibrate, "test": self.test}


def _parse(values: list[str], refs: np.ndarray, split: str) -> list[int]:
    out = []
    for v in values:
        try:
            t = np.datetime64(v, "s")
        except ValueError:
            raise UserError(f"{split} date {v!r} is not an ISO date/time", "splits") from None
        hit = np.flatnonzero(refs.astype("datetime64[s]") == t)
        if hit.size == 0:
            raise UserError(f"{split} date {v} is not a forecast of the study's source", "splits")
        out.append(int(hit[0]))
    return out


def split_dates(
    splits: Splits, refs: np.ndarray, valid_spans: list[np.ndarray] | None = None
) -> DateSplit:
    """The split of forecast dates ``refs`` (sorted); ``valid_spans[t]`` are the valid
    times forecast t verifies (default: its reference time only)."""
    n = len(refs)
    counts = {k: getattr(splits, k) for k in NAMES}
    if all(isinstance(v, int) for v in counts.values()):
        need = sum(counts.values())
        if need > n:
            raise UserError(
                f"the splits ask for {need} forecast dates ({counts['train']} train, "
                f"{counts['calibrate']} calibrate, {counts['test']} test); the source has {n}",
                "splits",
            )
        a, b = counts["train"], counts["train"] + counts["calibrate"]
        out = DateSplit(list(range(a)), list(range(a, b)), list(range(b, need)))
    else:
        lists = {}
        for k in NAMES:
            v = counts[k]
            if isinstance(v, int):
                raise UserError(
                    f"give every split as a list of dates once one is ({k} is a count)", "splits"
                )
            lists[k] = _parse(v, refs, k)
        out = DateSplit(lists["train"], lists["calibrate"], lists["test"])
    check_disjoint(out, refs, valid_spans)
    if len(out.test) < 2:
        raise UserError("the test split needs at least 2 forecast dates", "splits")
    return out


def check_disjoint(
    split: DateSplit, refs: np.ndarray, valid_spans: list[np.ndarray] | None = None
) -> None:
    """Refuse a split in which a forecast date, or a valid time, belongs to two splits."""
    parts = split.as_dict()
    for i, a in enumerate(NAMES):
        for b in NAMES[i + 1 :]:
            both = sorted(set(parts[a]) & set(parts[b]))
            if both:
                raise UserError(
                    f"the splits leak: forecast {refs[both[0]]} is in both {a} and {b}", "splits"
                )
            if valid_spans is None:
                continue
            va = set(np.concatenate([valid_spans[t] for t in parts[a]] or [[]]).tolist())
            vb = set(np.concatenate([valid_spans[t] for t in parts[b]] or [[]]).tolist())
            shared = sorted(va & vb)
            if shared:
                raise UserError(
                    f"the splits leak: {a} and {b} forecasts both verify valid time "
                    f"{np.datetime64(shared[0], 's')}",
                    "splits",
                )

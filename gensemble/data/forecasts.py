"""A store's samples grouped by forecast, with the verifying truth each forecast has.

A forecast is one (valid time, lead time): its members are the samples sharing both, its
reference time is valid - lead.  Conditional models train on these groups (K members as
the condition, another member or the truth as the target), and their train/validation
split keeps every forecast of one reference time on one side, so no member of a held-out
forecast is ever seen in training.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np

from gensemble.core.errors import UserError

LOG = logging.getLogger(__name__)


def truth_rows(truth_times: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """For each valid time, the row of ``truth_times`` equal to it, -1 where none is."""
    valid = np.asarray(valid).astype("datetime64[s]")
    times = np.asarray(truth_times).astype("datetime64[s]")
    if times.size == 0:
        return np.full(valid.shape, -1, dtype=np.int64)
    order = np.argsort(times, kind="stable")
    pos = np.clip(np.searchsorted(times[order], valid), 0, times.size - 1)
    rows = order[pos]
    return np.where(times[rows] == valid, rows, -1).astype(np.int64)


@dataclass
class ForecastIndex:
    """Forecasts of a store: their valid time, lead, member samples and truth row."""

    valid: np.ndarray  # (F,) datetime64[s]
    lead: np.ndarray  # (F,) hours (0 where the store gives none)
    members: list[np.ndarray]  # sample indices of each forecast's members
    truth: np.ndarray  # (F,) row of the store's truth fields, -1 where there is none

    @classmethod
    def of(cls, store) -> ForecastIndex:  # noqa: ANN001 - a Store
        """Every forecast of ``store``, in time order."""
        times = store.times()
        lead = np.nan_to_num(store.lead_times().astype(np.float64))
        key = np.stack([times.astype("int64"), np.round(lead * 3600).astype("int64")], axis=1)
        uniq, inverse = np.unique(key, axis=0, return_inverse=True)
        inverse = inverse.reshape(-1)
        order = np.argsort(inverse, kind="stable")
        bounds = np.searchsorted(inverse[order], np.arange(len(uniq) + 1))
        members = [order[bounds[i] : bounds[i + 1]] for i in range(len(uniq))]
        valid = uniq[:, 0].astype("datetime64[s]")
        return cls(valid, uniq[:, 1] / 3600.0, members, truth_rows(store.truth_times(), valid))

    def __len__(self) -> int:
        return len(self.valid)

    @property
    def reference(self) -> np.ndarray:
        return self.valid - (self.lead * 3600).astype("timedelta64[s]")

    @property
    def sizes(self) -> np.ndarray:
        return np.array([len(m) for m in self.members], dtype=np.int64)

    def select(self, keep: np.ndarray) -> ForecastIndex:
        keep = np.asarray(keep)
        if keep.dtype == bool:
            keep = np.flatnonzero(keep)
        return ForecastIndex(
            self.valid[keep], self.lead[keep], [self.members[i] for i in keep], self.truth[keep]
        )

    def samples(self) -> np.ndarray:
        """The sample indices of every member of these forecasts, sorted."""
        if not self.members:
            return np.array([], dtype=np.int64)
        return np.sort(np.concatenate(self.members)).astype(np.int64)

    def split_by_reference(
        self, val_fraction: float, seed: int = 0
    ) -> tuple[ForecastIndex, ForecastIndex]:
        """Train and validation forecasts; all forecasts of one reference time fall on the
        same side (a seeded draw of reference times, ``val_fraction`` of them held out)."""
        refs = np.unique(self.reference)
        rng = np.random.default_rng(seed)
        n_val = int(round(len(refs) * val_fraction)) if len(refs) > 1 else 0
        held = set(rng.permutation(refs)[:n_val].astype("int64").tolist())
        is_val = np.array([r in held for r in self.reference.astype("int64")], dtype=bool)
        return self.select(~is_val), self.select(is_val)

    def truth_summary(self) -> str:
        have = int((self.truth >= 0).sum())
        return f"{have} of {len(self)} forecasts have a truth field"

    def require_members(self, k: int, what: str) -> None:
        """Refuse an index where no forecast has ``k`` members."""
        if len(self) == 0 or self.sizes.max() < k:
            most = int(self.sizes.max()) if len(self) else 0
            raise UserError(f"{what} needs forecasts of at least {k} members; the most is {most}")

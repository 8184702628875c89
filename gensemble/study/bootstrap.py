"""Scores with paired block-bootstrap intervals, from the study's per-case sums.

Blocks are forecast dates (or windows of valid times, for a real store's overlapping
forecasts: see :func:`gensemble.events.resampling.blocks_of`).  A replicate draws blocks
with replacement and is the same draw for every ensemble (paired), so differences between
ensembles keep their correlation.  Every score is a function of summed sums, so a
replicate's sums are the block sums weighted by how often each block was drawn: all
replicates at once are one matrix product.  Intervals are the event verification's
expanded percentile intervals (:func:`gensemble.events.resampling.percentile_interval`).

Differences are of "badness" (lower is better: a score, minus a score, |ratio - 1|...), so
a negative difference means the first ensemble is better, and an interval entirely below
zero means it is better beyond the resampling noise of the test dates.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import numpy as np

from gensemble.events.resampling import percentile_interval
from gensemble.study.scores import SCORES

LOG = logging.getLogger(__name__)

#: sums the bootstrap needs (the histograms are only drawn)
_SKIP = ("rank", "rel_q90", "rel_q99")


@dataclass
class CaseTable:
    """Per-case sums of every (ensemble, variable), in case order."""

    members: dict[str, int] = field(default_factory=dict)
    sums: dict[tuple[str, str], dict[str, list[np.ndarray]]] = field(default_factory=dict)
    blocks: list[int] = field(default_factory=list)

    def add(self, ens: str, var: str, members: int, sums: dict[str, np.ndarray]) -> None:
        self.members[ens] = members
        cell = self.sums.setdefault((ens, var), {})
        for k, v in sums.items():
            cell.setdefault(k, []).append(np.asarray(v, dtype=float))

    def total(self, ens: str, var: str, key: str) -> np.ndarray:
        return np.sum(self.sums[(ens, var)][key], axis=0)


@dataclass
class Estimate:
    value: float
    lo: float
    hi: float

    @property
    def significant(self) -> bool:
        """The interval excludes zero (for a difference)."""
        return bool(np.isfinite(self.lo) and (self.lo > 0 or self.hi < 0))

    def to_json(self) -> list[float | None]:
        return [None if not np.isfinite(x) else float(x) for x in (self.value, self.lo, self.hi)]


@dataclass
class StudyScores:
    """Scores, paired differences and the share of the raw-to-oracle gap closed."""

    scores: dict[tuple[str, str, str], Estimate]  # (ensemble, variable, score)
    diffs: dict[tuple[str, str, str, str], Estimate]  # (ensemble, reference, variable, score)
    gap: dict[tuple[str, str, str], Estimate]  # (ensemble, variable, score)
    blocks: int
    reps: int


def _weights(n_blocks: int, reps: int, rng: np.random.Generator) -> np.ndarray:
    """(1 + reps, B) times each block is drawn: the point estimate, then replicates."""
    draws = rng.integers(0, n_blocks, (reps, n_blocks))
    counts = np.stack([np.bincount(d, minlength=n_blocks) for d in draws]) if reps else None
    ones = np.ones((1, n_blocks))
    return ones if counts is None else np.concatenate([ones, counts.astype(float)])


def bootstrap(
    table: CaseTable,
    reps: int,
    rng: np.random.Generator,
    reference: str,
    pairs: list[tuple[str, str]],
    oracle: str | None,
) -> StudyScores:
    """Every score of every ensemble with its interval; the differences of ``pairs``
    (ensemble, other) and of every ensemble from ``reference``; and for every ensemble
    the gap closed, (reference - ensemble) / (reference - oracle), where there is one."""
    blocks = np.asarray(table.blocks)
    ids, block_of = np.unique(blocks, return_inverse=True)
    w = _weights(len(ids), reps, rng)
    values: dict[tuple[str, str, str], np.ndarray] = {}
    for (ens, var), cell in table.sums.items():
        summed = {}
        for key, per_case in cell.items():
            if key in _SKIP:
                continue
            arr = np.stack(per_case)
            per_block = np.zeros((len(ids), *arr.shape[1:]))
            np.add.at(per_block, block_of, arr)
            summed[key] = np.tensordot(w, per_block, axes=(1, 0))
        for score in SCORES:
            values[(ens, var, score.name)] = np.asarray(
                score.of(summed, table.members[ens]), dtype=float
            ) * np.ones(len(w))

    def estimate(x: np.ndarray) -> Estimate:
        lo, hi = percentile_interval(float(x[0]), x[1:], len(ids)) if reps else (np.nan,) * 2
        return Estimate(float(x[0]), lo, hi)

    bad = {s.name: s.badness for s in SCORES}
    scores = {k: estimate(v) for k, v in values.items()}
    diffs, gap = {}, {}
    ensembles = list(table.members)
    variables = sorted({v for _, v in table.sums})
    all_pairs = [(e, reference) for e in ensembles if e != reference] + list(pairs)
    for var in variables:
        for s in SCORES:
            b = {e: bad[s.name](values[(e, var, s.name)]) for e in ensembles}
            for e, ref in all_pairs:
                if e in b and ref in b:
                    diffs[(e, ref, var, s.name)] = estimate(b[e] - b[ref])
            if oracle is None or oracle not in b:
                continue
            with np.errstate(divide="ignore", invalid="ignore"):
                denom = b[reference] - b[oracle]
                for e in ensembles:
                    gap[(e, var, s.name)] = estimate((b[reference] - b[e]) / denom)
    return StudyScores(scores, diffs, gap, len(ids), reps)

"""The study's per-case sums of one ensemble, accumulated over chunks of its members.

A case of a season archive (120 members at 1024x1024, say) can be bigger than the memory a
process gives one batch.  Every sum :func:`gensemble.study.scores.case_sums` leaves is a
sum over points of something that is itself a sum over members - the members' mean and
variance, their mean distance to the truth, how many lie below, tie with or exceed it,
their extremes, their spectra - except the CRPS's mean distance between pairs of members.
That one is a sum over pairs of member chunks: within a chunk from its sorted members,
between two chunks directly.  So :func:`chunked_case_sums` reads each chunk once for the
member sums, and each later chunk once more per earlier chunk for the pairs: at most two
chunks are in memory at once, whatever the number of members.

With the whole ensemble in one chunk it computes what ``case_sums`` does, up to float
rounding (the rank histogram's ties are split with the same random draws, exactly).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence

import numpy as np
import torch

from gensemble.evaluation import ensemble_scores as es

LOG = logging.getLogger(__name__)

#: reads members [a, b) of one ensemble: (b - a, C, H, W) in physical units
ChunkReader = Callable[[int, int], np.ndarray]


def _pair_sum_between(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """sum over ordered pairs (one member of a, one of b, both ways) of |a_i - b_j|."""
    out = np.zeros(a.shape[1], dtype=np.float64)
    for row in b:  # one member of b at a time: memory of one chunk, not a product
        out += np.abs(a - row).sum(axis=0, dtype=np.float64)
    return 2 * out


class MemberSums:
    """The running sums of one (ensemble, variable) over member chunks (k, H, W)."""

    def __init__(
        self, truth: np.ndarray, thresholds: dict[str, float], base: dict[str, float],
        fss_scale: int, seed: int,
    ) -> None:  # fmt: skip
        self.shape = truth.shape
        self.y = np.asarray(truth, dtype=np.float64).reshape(-1)
        self.thresholds, self.base = thresholds, base
        self.fss_scale, self.seed = fss_scale, seed
        p = self.y.size
        self.n = 0
        self.mean = np.zeros(p)
        self.m2 = np.zeros(p)
        self.abs_sum = np.zeros(p)
        self.pair_sum = np.zeros(p)
        self.below = np.zeros(p, dtype=np.int64)
        self.ties = np.zeros(p, dtype=np.int64)
        self.lo = np.full(p, np.inf)
        self.hi = np.full(p, -np.inf)
        self.exceed = {q: np.zeros(p, dtype=np.int64) for q in thresholds}
        self.spec = 0.0
        self.domain_max: list[np.ndarray] = []
        self.domain_mean: list[np.ndarray] = []

    def add(self, chunk: np.ndarray) -> None:
        """Members (k, H, W) of this variable, each added once."""
        from gensemble.study.scores import spectrum

        k = chunk.shape[0]
        x = chunk.reshape(k, -1)
        y32 = self.y.astype(x.dtype)
        # the mean and the sum of squared deviations, combined chunk by chunk (Chan et al.)
        c_mean = x.mean(axis=0, dtype=np.float64)
        c_m2 = ((x - c_mean) ** 2).sum(axis=0, dtype=np.float64)
        total = self.n + k
        delta = c_mean - self.mean
        self.m2 += c_m2 + delta**2 * self.n * k / total
        self.mean += delta * k / total
        self.n = total
        self.abs_sum += np.abs(x - y32).sum(axis=0, dtype=np.float64)
        self.pair_sum += es.sorted_pair_sum(x, axis=0)
        self.below += (x < y32).sum(axis=0)
        self.ties += (x == y32).sum(axis=0)
        self.lo = np.minimum(self.lo, x.min(axis=0))
        self.hi = np.maximum(self.hi, x.max(axis=0))
        for q, t in self.thresholds.items():
            self.exceed[q] += (x > t).sum(axis=0)
        self.spec = self.spec + spectrum(chunk) * k
        self.domain_max.append(chunk.max(axis=(1, 2)))
        self.domain_mean.append(chunk.mean(axis=(1, 2)))

    def add_pairs(self, a: np.ndarray, b: np.ndarray) -> None:
        """The pairs between two different chunks (k, H, W) of this variable."""
        self.pair_sum += _pair_sum_between(a.reshape(a.shape[0], -1), b.reshape(b.shape[0], -1))

    def finish(self) -> dict[str, np.ndarray]:
        """The sums ``case_sums`` gives for the whole ensemble."""
        from gensemble.study.scores import spectrum

        n, y = self.n, self.y
        plain, fair = es.crps_from(self.abs_sum / n, self.pair_sum, n)
        variance = self.m2 / (n - 1) if n > 1 else np.zeros_like(self.m2)
        out = {
            "cases": np.array(1.0),
            "points": np.array(y.size, dtype=float),
            "crps": np.array(plain.sum()),
            "crps_fair": np.array(fair.sum()),
            "ss": np.array([variance.sum(), y.size, ((self.mean - y) ** 2).sum(), y.size]),
            "rank": es.rank_counts(self.below[None], self.ties[None], np.isfinite(y)[None], n,
                                   self.seed).astype(float),
            "outside": np.array(float(((y < self.lo) | (y > self.hi)).sum())),
            "spec": self.spec / n,
            "spec_truth": spectrum(y.reshape(1, *self.shape)),
        }  # fmt: skip
        truth = y.reshape(self.shape)
        for name, members, target in (
            ("max", np.concatenate(self.domain_max), truth.max()),
            ("mean", np.concatenate(self.domain_mean), truth.mean()),
        ):
            crps = es.case_crps(members.reshape(1, n, 1), np.array([[target]]), fair=False)
            out[f"crps_{name}"] = np.array(crps[0, 0])
        probability = {}
        for q, t in self.thresholds.items():
            p, o = self.exceed[q][None] / n, (y > t)[None].astype(float)
            probability[q] = (p, o)
            out[f"brier_{q}"] = np.array(((p - o) ** 2).sum())
            out[f"clim_{q}"] = np.array(((self.base[q] - o) ** 2).sum())
            out[f"rel_{q}"] = es.reliability_sums(p, o, members=n)
        p, o = probability["q99"]
        out["fss"] = es.fss_sums(
            torch.from_numpy(p.reshape(1, *self.shape)),
            torch.from_numpy(o.reshape(1, *self.shape)),
            self.fss_scale,
        )
        return out


def chunked_case_sums(
    read: ChunkReader, n: int, chunk: int, truth: np.ndarray, variables: Sequence[str],
    thresholds: dict[str, dict[str, float]], base: dict[str, dict[str, float]],
    fss_scale: int, seed: int,
) -> dict[str, dict[str, np.ndarray]]:  # fmt: skip
    """Per variable, the case sums of an ensemble of ``n`` members read ``chunk`` members
    at a time by ``read``; ``truth`` (C, H, W).  Two chunks at most are held at once."""
    if n < 1:
        raise ValueError("an ensemble needs at least one member")
    bounds = [(a, min(a + chunk, n)) for a in range(0, n, max(1, chunk))]
    sums = [MemberSums(truth[c], thresholds[v], base[v], fss_scale, seed)
            for c, v in enumerate(variables)]  # fmt: skip
    for i, (a, b) in enumerate(bounds):
        first = read(a, b)
        for c, acc in enumerate(sums):
            acc.add(first[:, c])
        for a2, b2 in bounds[i + 1 :]:
            later = read(a2, b2)
            for c, acc in enumerate(sums):
                acc.add_pairs(first[:, c], later[:, c])
            del later
        del first
    return {v: acc.finish() for v, acc in zip(variables, sums, strict=True)}

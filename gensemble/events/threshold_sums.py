"""What one event threshold needs from each group of cases, summed as groups go by.

Every event score is a function of sums over cases: the bootstrap's per-case sufficient
statistics (kept per case, a few numbers each), rank and reliability counts, probability
maps, FSS sums, object counts.  The tail quantiles are not, but they only involve the
largest values: :class:`TailQuantiles` keeps the top 1 % (and a uniform sample when even
that passes :data:`QUANTILE_VALUES`), so memory stays bounded however long the event.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from gensemble.evaluation import ensemble_scores as es
from gensemble.events import resampling as rs

LOG = logging.getLogger(__name__)

#: the most values kept for the tail quantiles of one (ensemble, quantity)
QUANTILE_VALUES = 2_000_000


class TailQuantiles:
    """Quantiles at or above ``q_min`` of a stream of at most ``bound`` values.

    The q-quantile (numpy's linear interpolation) of T values only involves the
    ceil((1 - q) T) + 1 largest, so only the largest ceil((1 - q_min) bound) + 2 values
    are kept, which gives the exact quantiles.  Where that is more than ``cap`` values,
    a uniform sample of ``cap`` values (the smallest random keys) is kept instead."""

    def __init__(self, bound: int, q_min: float = 0.99, seed: int = 0,
                 cap: int = QUANTILE_VALUES) -> None:  # fmt: skip
        self.q_min, self.cap, self.total = q_min, cap, 0
        self.k = int(np.ceil((1 - q_min) * bound)) + 2
        self.exact = self.k <= cap
        self.values = np.zeros(0, dtype=np.float32)
        self.keys = np.zeros(0)
        self._rng = np.random.default_rng(seed)

    def add(self, x: np.ndarray) -> None:
        x = np.asarray(x, dtype=np.float32).ravel()
        self.total += x.size
        self.values = np.concatenate([self.values, x])
        if self.exact:
            if self.values.size > 2 * self.k:
                self.values = np.partition(self.values, self.values.size - self.k)[-self.k :]
            return
        self.keys = np.concatenate([self.keys, self._rng.random(x.size)])
        if self.values.size > self.cap:
            keep = np.argpartition(self.keys, self.cap)[: self.cap]
            self.values, self.keys = self.values[keep], self.keys[keep]

    def quantile(self, q: float) -> float:
        if not self.exact:
            return float(np.quantile(self.values, q))
        if q < self.q_min:
            raise ValueError(f"only quantiles from {self.q_min} are kept, not {q}")
        top = np.sort(self.values)[::-1]  # top[i]: the (i + 1)-th largest
        pos = (self.total - 1) * q
        lo = int(np.floor(pos))
        hi = min(lo + 1, self.total - 1)
        pair = np.array([top[self.total - 1 - lo], top[self.total - 1 - hi]])
        # numpy's own interpolation between the two order statistics, in their precision
        return float(np.quantile(pair, pos - lo))

    @property
    def sampled(self) -> bool:
        return not self.exact and self.total > self.cap


@dataclass
class GridSums:
    """Probability maps, FSS sums per scale, objects, for one ensemble (or the truth)."""

    prob: np.ndarray | float = 0.0  # (H, W) summed over cases
    fss: dict[int, np.ndarray] = field(default_factory=dict)
    objects: float = 0.0
    fields: int = 0


@dataclass
class ThresholdSums:
    """The running sums of one threshold over the groups seen so far."""

    threshold: Any  # api.events.Threshold
    channel: int
    seed: int
    covered: bool = False  # some group had a whole accumulation period
    valid: list[np.ndarray] = field(default_factory=list)
    group: list[np.ndarray] = field(default_factory=list)
    seen_any: list[np.ndarray] = field(default_factory=list)
    seen_count: list[np.ndarray] = field(default_factory=list)
    station_seen: np.ndarray | None = None
    stats: dict[str, list[rs.Sufficient]] = field(default_factory=dict)
    exceeds: dict[str, bool] = field(default_factory=dict)
    ranks: dict[str, np.ndarray] = field(default_factory=dict)
    reliability: dict[str, np.ndarray] = field(default_factory=dict)
    grid: dict[str, GridSums] = field(default_factory=dict)
    truth_cases: int = 0
    _draws: dict[str, np.random.Generator] = field(default_factory=dict)

    def add_points(self, pts: dict[str, np.ndarray], obs: np.ndarray) -> None:
        """Point scores of a group's kept cases: members pts[name] (k, N, P) and the
        truth obs (k, P), NaN where missing."""
        t = self.threshold.value
        seen = np.isfinite(obs)
        self.seen_any.append(seen.any(axis=1))
        self.seen_count.append(seen.sum(axis=1))
        for name, e in pts.items():
            self.stats.setdefault(name, []).append(rs.sufficient(e, obs, t))
            self.exceeds[name] = self.exceeds.get(name, False) or bool((e > t).any())
            # ties split by the draws a whole-event pass makes (one stream per ensemble)
            draw = self._draws.setdefault(name, np.random.default_rng(self.seed))
            self.ranks[name] = self.ranks.get(name, 0) + es.rank_histogram(e, obs, draw)
            p, o = es.exceedance(e, obs, t)
            rel = es.reliability_sums(p, o, members=e.shape[1])
            self.reliability[name] = self.reliability.get(name, 0) + rel

    def add_stations(self, seen: np.ndarray) -> None:
        any_case = seen.any(axis=0)
        self.station_seen = any_case if self.station_seen is None else self.station_seen | any_case

    def add_grid(self, vals: dict[str, np.ndarray], obs: np.ndarray, mask: np.ndarray,
                 box: tuple, scales: tuple[int, ...]) -> None:  # fmt: skip
        """Maps, FSS and objects of a group: vals[name] (k, N, H, W), obs (k, H, W)."""
        t = self.threshold.value
        occ = (obs > t).astype(float)
        self.truth_cases += occ.shape[0]
        truth = self.grid.setdefault("truth", GridSums())
        truth.prob = truth.prob + occ.sum(axis=0)
        for name, e in [*vals.items(), ("truth", obs[:, None])]:
            sums = self.grid.setdefault(name, GridSums())
            if name != "truth":
                prob = (e > t).mean(axis=1)
                sums.prob = sums.prob + prob.sum(axis=0)
                for s in scales:
                    f = es.fss_sums((prob * mask)[box], (occ * mask)[box], s)
                    sums.fss[s] = sums.fss.get(s, 0) + f
            flat = (e * mask).reshape(-1, *e.shape[-2:])
            sums.objects += es.mean_objects(flat, t) * flat.shape[0]
            sums.fields += flat.shape[0]

    def sufficient(self, name: str) -> rs.Sufficient:
        parts = self.stats[name]
        return rs.Sufficient(*(np.concatenate([getattr(p, f) for p in parts])
                               for f in ("crps", "brier", "count", "roc")))  # fmt: skip

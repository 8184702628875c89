"""Bootstrap intervals of event scores from per-case sufficient statistics.

Recomputing CRPS, Brier and ROC over every point for each of hundreds of replicates
(what verification scripts usually do) costs O(reps x K x N^2 x P).  The scores are
quadratic forms in the member weights, so one pass over the points gives per case k:

* ``skill[k, m]`` = mean_p |X_m - y| and ``pair[k, m, l]`` = mean_p |X_m - X_l|;
* ``gram[k, m, l]`` = mean_p e_m e_l, ``hit[k, m]`` = mean_p e_m o and ``occ[k]`` = mean_p o
  (e: member exceeds the threshold, o: the truth does);
* ``roc[k, j, :]``: counts of points with forecast probability j / N, split by o.

A replicate resamples blocks of cases (dates) and members (multinomial weights w):

* fair CRPS = w.skill / N - w' pair w / (2 (N^2 - w.w)) (pairs of distinct members only,
  so the estimate stays unbiased when a member is drawn twice);
* Brier = w' gram w / N^2 - 2 w.hit / N + occ;
* ROC area from the summed counts (cases only: member weights move the probability levels).

Drawing members with replacement makes an N-member ensemble look like one of fewer
members, which raises its Brier score by about p (1 - p) / N - more for the raw ensemble
than for a large enriched one.  So intervals are centred on the point value (the
bootstrap's spread, not its mean): value + percentiles of (replicate - replicate mean).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import torch

LOG = logging.getLogger(__name__)


@dataclass
class Sufficient:
    skill: np.ndarray  # (K, N)
    pair: np.ndarray  # (K, N, N)
    gram: np.ndarray  # (K, N, N)
    hit: np.ndarray  # (K, N)
    occ: np.ndarray  # (K,)
    roc: np.ndarray  # (K, N + 1, 2): [not observed, observed]

    @property
    def members(self) -> int:
        return self.skill.shape[1]


def sufficient(ens: np.ndarray, obs: np.ndarray, threshold: float) -> Sufficient:
    """Statistics of ens (K, N, P) against obs (K, P) at one threshold."""
    x = torch.from_numpy(np.ascontiguousarray(ens, dtype=np.float32))
    y = torch.from_numpy(np.ascontiguousarray(obs, dtype=np.float32))
    k, n, p = x.shape
    skill = (x - y[:, None]).abs().mean(-1)
    pair = torch.stack([torch.cdist(x[i], x[i], p=1) for i in range(k)]) / p
    e = (x > threshold).to(torch.float32)
    o = (y > threshold).to(torch.float32)
    gram = torch.bmm(e, e.transpose(1, 2)) / p
    hit = torch.bmm(e, o[:, :, None])[..., 0] / p
    level = e.sum(1).to(torch.int64)  # (K, P): members above the threshold
    roc = torch.zeros(k, n + 1, 2, dtype=torch.float64)
    idx = level * 2 + o.to(torch.int64)
    for i in range(k):
        roc[i] = torch.bincount(idx[i], minlength=2 * (n + 1)).reshape(n + 1, 2).double()
    return Sufficient(
        skill.double().numpy(),
        pair.double().numpy(),
        gram.double().numpy(),
        hit.double().numpy(),
        o.mean(-1).double().numpy(),
        roc.numpy(),
    )


def blocks_of(group: np.ndarray, valid: np.ndarray, hours: float) -> np.ndarray:
    """Block index of each case: consecutive valid times of one forecast (``group``)
    within ``hours`` of each other share a block, since hourly scores (and sums over
    overlapping periods) are not independent; blocks are what the bootstrap resamples."""
    out = np.empty(len(valid), dtype=int)
    span = np.timedelta64(int(round(hours * 3600)), "s")
    keys: dict[tuple, int] = {}
    for g in np.unique(group):
        idx = np.flatnonzero(group == g)
        t0 = valid[idx].min()
        for i in idx:
            key = (g, int((valid[i] - t0) // span))
            out[i] = keys.setdefault(key, len(keys))
    return out


def crps_of(s: Sufficient, cases: np.ndarray, w: np.ndarray) -> float:
    """Fair CRPS of the cases with member weights w (counts summing to N)."""
    n = s.members
    distinct = n * n - float(w @ w)
    if distinct <= 0:
        return float("nan")
    skill = s.skill[cases] @ w / n
    pair = np.einsum("m,kml,l->k", w, s.pair[cases], w) / (2 * distinct)
    return float((skill - pair).mean())


def brier_of(s: Sufficient, cases: np.ndarray, w: np.ndarray) -> float:
    n = s.members
    quad = np.einsum("m,kml,l->k", w, s.gram[cases], w) / (n * n)
    return float((quad - 2 * s.hit[cases] @ w / n + s.occ[cases]).mean())


def roc_of(s: Sufficient, cases: np.ndarray) -> float:
    """ROC area (Mann-Whitney, ties counted half) from summed probability-level counts."""
    counts = s.roc[cases].sum(0)
    non, yes = counts[:, 0], counts[:, 1]
    n0, n1 = non.sum(), yes.sum()
    if n0 == 0 or n1 == 0:
        return float("nan")
    below = np.cumsum(non) - non  # non-events at lower probability levels
    return float((yes * (below + 0.5 * non)).sum() / (n0 * n1))


def scores_of(s: Sufficient, cases: np.ndarray, w: np.ndarray, label: str) -> dict[str, float]:
    """CRPS keyed by the quantity (``rr_24h``: it does not depend on the threshold), the
    probability scores by the threshold's label (``rr_24h_gt100``)."""
    quantity = label.rsplit("_gt", 1)[0]
    return {
        f"crps/{quantity}": crps_of(s, cases, w),
        f"brier/{label}": brier_of(s, cases, w),
        f"roc_area/{label}": roc_of(s, cases),
    }


def centred_interval(value: float, draws: np.ndarray) -> tuple[float, float]:
    """95 % interval of the bootstrap's spread placed on the point value."""
    draws = draws[np.isfinite(draws)]
    if not np.isfinite(value) or draws.size < 2:
        return float("nan"), float("nan")
    lo, hi = np.percentile(draws - draws.mean(), [2.5, 97.5])
    return float(value + lo), float(value + hi)


def bootstrap_scores(
    stats: dict[str, Sufficient],
    blocks: np.ndarray,
    label: str,
    reps: int,
    rng: np.random.Generator,
    reference: str = "raw",
) -> tuple[dict[str, dict[str, float]], dict[str, tuple[float, float]]]:
    """Point scores of every ensemble and 95 % intervals of each score (key
    ``"ensemble|score"``) and of each difference from ``reference`` (``"name-raw|score"``),
    the cases of a replicate shared by all ensembles (paired)."""
    all_cases = np.arange(len(blocks))
    point = {name: scores_of(s, all_cases, np.ones(s.members), label) for name, s in stats.items()}
    ids = np.unique(blocks)
    in_block = [np.flatnonzero(blocks == b) for b in ids]
    draws: dict[str, list[float]] = {}
    for _ in range(reps):
        cases = np.concatenate([in_block[b] for b in rng.integers(0, len(ids), len(ids))])
        per = {}
        for name, s in stats.items():
            w = rng.multinomial(s.members, np.full(s.members, 1 / s.members)).astype(float)
            per[name] = scores_of(s, cases, w, label)
            for key, v in per[name].items():
                draws.setdefault(f"{name}|{key}", []).append(v)
        for name in per:
            if name != reference and reference in per:
                for key, v in per[name].items():
                    draws.setdefault(f"{name}-{reference}|{key}", []).append(
                        v - per[reference][key]
                    )
    intervals = {}
    for key, v in draws.items():
        name, score = key.split("|")
        if "-" in name:
            a, b = name.split("-")
            value = point[a][score] - point[b][score]
        else:
            value = point[name][score]
        intervals[key] = centred_interval(value, np.asarray(v, dtype=float))
    return point, intervals

"""Ensemble scores on an event, computed directly from the members (the bootstrap
intervals come from :mod:`gensemble.events.resampling`).

Ensembles are (K cases, N members, P points) and the truth (K, P) at the points scored
(the region's grid points, or the stations).  Definitions (the field's):

* fair CRPS (Ferro 2014): mean|X - y| - sum_ij |X_i - X_j| / (2 N (N - 1));
* Brier score of the exceedance probability p = #(X > t) / N, its reliability table
  and the ROC area (Mann-Whitney statistic of p between events and non-events);
* fractions skill score (Roberts and Lean 2008) of the exceedance-probability map
  against the observed exceedance, on square neighbourhoods, within the region's box;
* rank histogram of the truth among the members (ties split at random);
* tail quantiles and rain objects (connected areas above the threshold).
"""

from __future__ import annotations

import logging

import numpy as np
from scipy import ndimage

LOG = logging.getLogger(__name__)


def fair_crps(ens: np.ndarray, obs: np.ndarray, fair: bool = True) -> np.ndarray:
    """(K,) mean CRPS over points of ens (K, N, P) against obs (K, P): the fair one
    (Ferro 2014) by default, the plain ensemble CRPS (properscoring's) with ``fair=False``.
    The pair term sum_ij |X_i - X_j| comes from the sorted members in O(N log N).  The
    fair CRPS of a single member is undefined (NaN), as in the resampled scores: the
    metrics' degenerate-input policy, not a silent mean absolute error."""
    n = ens.shape[1]
    if fair and n < 2:
        return np.full(ens.shape[0], np.nan)
    skill = np.abs(ens - obs[:, None]).mean(axis=1)
    x = np.sort(ens, axis=1)
    weights = (2 * np.arange(1, n + 1) - n - 1).reshape(1, n, 1)
    pairs = 2 * (weights * x).sum(axis=1)  # sum over i, j of |X_i - X_j|
    spread = pairs / (2 * n * max(n - 1, 1)) if fair else pairs / (2 * n * n)
    return (skill - spread).mean(axis=-1)


def exceedance(ens: np.ndarray, obs: np.ndarray, t: float) -> tuple[np.ndarray, np.ndarray]:
    """(p, o): forecast probability (K, P) and observed occurrence (K, P) of x > t; a
    missing observation (NaN) is a missing occurrence, not a non-event."""
    return (ens > t).mean(axis=1), np.where(np.isnan(obs), np.nan, obs > t)


def brier(p: np.ndarray, o: np.ndarray) -> np.ndarray:
    """(K,) Brier score per case."""
    return ((p - o) ** 2).mean(axis=-1)


def roc_area(p: np.ndarray, o: np.ndarray) -> float:
    """Area under the ROC curve; NaN when there are no events or no non-events, or when
    the forecast takes a single probability (e.g. it never exceeds the threshold): it
    then discriminates nothing, which 0.5 would present as a score."""
    p, o = p.ravel(), o.ravel() > 0.5
    n1, n0 = int(o.sum()), int((~o).sum())
    if n1 == 0 or n0 == 0 or np.ptp(p) == 0:
        return float("nan")
    _, inv, counts = np.unique(p, return_inverse=True, return_counts=True)
    # mid-ranks: tied probabilities share the mean of the ranks they span
    mid = np.cumsum(counts) - (counts - 1) / 2
    r = mid[inv]
    return float((r[o].sum() - n1 * (n1 + 1) / 2) / (n1 * n0))


def reliability(
    p: np.ndarray, o: np.ndarray, members: int | None = None, bins: int = 10
) -> tuple[np.ndarray, ...]:
    """(mean forecast probability, observed frequency, count) per bin.

    An ensemble of ``members`` forecasts the probabilities k / members exactly, so each of
    its levels is its own bin (``linspace`` edges put 0.3, 0.6 and 0.7 of a 10-member
    ensemble into the bin below by rounding).  Otherwise ``bins`` equal bins.  Points sit
    at the mean forecast probability of their bin, and the counts are the sharpness
    histogram."""
    p, o = p.ravel(), o.ravel()
    if members:
        idx = np.rint(p * members).astype(int)
        nbins = members + 1
    else:
        idx = np.clip((p * bins).astype(int), 0, bins - 1)
        nbins = bins
    count = np.bincount(idx, minlength=nbins)
    hits = np.bincount(idx, weights=o, minlength=nbins)
    mean_p = np.bincount(idx, weights=p, minlength=nbins)
    some = count > 0
    freq = np.where(some, hits / np.maximum(count, 1), np.nan)
    return np.where(some, mean_p / np.maximum(count, 1), np.nan), freq, count


def rank_histogram(ens: np.ndarray, obs: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Counts of the truth's rank among the N members (N + 1 bins); a missing
    observation (NaN) has no rank and is not counted."""
    below = (ens < obs[:, None]).sum(axis=1)
    ties = (ens == obs[:, None]).sum(axis=1)
    rank = below + np.floor(rng.random(below.shape) * (ties + 1)).astype(int)
    return np.bincount(rank[np.isfinite(obs)].ravel(), minlength=ens.shape[1] + 1)


def fss(prob: np.ndarray, occ: np.ndarray, mask: np.ndarray, scale: int) -> float:
    """FSS of probability maps (K, H, W) against occurrence (K, H, W) within the mask's box."""
    rows, cols = np.flatnonzero(mask.any(1)), np.flatnonzero(mask.any(0))
    box = (slice(None), slice(rows[0], rows[-1] + 1), slice(cols[0], cols[-1] + 1))
    size = (1, scale, scale)
    pf = ndimage.uniform_filter(prob[box].astype(float), size, mode="constant")
    po = ndimage.uniform_filter(occ[box].astype(float), size, mode="constant")
    ref = (pf**2).mean() + (po**2).mean()
    return float("nan") if ref == 0 else float(1 - ((pf - po) ** 2).mean() / ref)


def objects(fields: np.ndarray, t: float) -> float:
    """Mean number of connected areas above ``t`` per field (..., H, W)."""
    flat = fields.reshape(-1, *fields.shape[-2:])
    return float(np.mean([ndimage.label(f > t)[1] for f in flat]))

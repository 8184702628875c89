"""One implementation of each ensemble score.

The metric plugins, event verification, the enrichment's hold-out scoring and
calibration, and the study all call these functions, so a score means the same thing in
every table.  Definitions (the field's):

* CRPS of an ensemble from its sorted members, O(N log N) per point, in the plain
  (properscoring's) and the fair (Ferro 2014) form; the fair CRPS of one member is
  undefined (NaN);
* exceedance probability p = #(X > t) / N, Brier score (p - o)^2, its reliability table
  with one bin per probability level of an N-member ensemble, and the ROC area
  (Mann-Whitney statistic with mid-ranks) from counts per probability level;
* the rank of the truth among the members, ties split at random;
* spread (sqrt((N + 1) / N) x the mean unbiased member variance, Fortin et al. 2014) and
  skill (RMSE of the ensemble mean);
* fractions skill score (Roberts and Lean 2008) from sums of neighbourhood fractions,
  zero outside the field, as pysteps' ``fss_accum``;
* objects: connected areas above a threshold (scipy.ndimage.label).

The metrics' degenerate-input policy holds throughout: a missing observation (NaN) is
left out of every sum (never a non-event nor rank 0), and an undefined score is NaN.
Inputs may be numpy arrays or torch tensors; work is done in float64 torch.
"""

from __future__ import annotations

import logging
from typing import NamedTuple

import numpy as np
import scipy.ndimage
import torch

from gensemble.evaluation.ops import box_mean

LOG = logging.getLogger(__name__)


def _t(x: np.ndarray | torch.Tensor) -> torch.Tensor:
    return torch.as_tensor(x).to(torch.float64)


def crps_from(abs_mean, pair_sum, m: int):  # noqa: ANN001, ANN201
    """Plain and fair CRPS from mean_i |x_i - y| and sum_ij |x_i - x_j| of m members:
    the one definition every layout below evaluates (fair: NaN for one member)."""
    plain = abs_mean - pair_sum / (2 * m * m)
    if m < 2:
        return plain, plain * float("nan")
    return plain, abs_mean - pair_sum / (2 * m * (m - 1))


def crps_terms(s: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Plain and fair CRPS of each observation: members ``s`` (B, M) sorted along the
    last axis, observations ``y`` (B, J) scored against row b's members (the layout of
    one ensemble against many observations: mean |x - y| from prefix sums and a binary
    search, O(log M) per observation).  NaN where y is NaN."""
    m = s.shape[1]
    csum = torch.nn.functional.pad(s.cumsum(1), (1, 0))
    y = y.contiguous()
    r = torch.searchsorted(s.contiguous(), torch.nan_to_num(y))
    below = torch.gather(csum, 1, r)
    total = csum[:, -1:]
    abs_mean = (r * y - below + (total - below) - (m - r) * y) / m  # mean_i |x_i - y|
    i = torch.arange(1, m + 1, dtype=s.dtype, device=s.device)
    pair_sum = 2.0 * (s * (2 * i - m - 1)).sum(1, keepdim=True)  # sum_ij |x_i - x_j|
    return crps_from(abs_mean, pair_sum, m)


def case_crps(ens: np.ndarray | torch.Tensor, obs: np.ndarray | torch.Tensor, fair: bool = True):  # noqa: ANN201
    """Per case and point, the CRPS of ens (K, N, P) against obs (K, P): (K, P) numpy,
    NaN where the observation is missing (and everywhere for a fair CRPS of one member).
    One observation per ensemble: mean |x - y| directly, members sorted in place along
    their axis (numpy's sort of float32 is the fastest here)."""
    x = np.asarray(ens)
    x = x if x.dtype in (np.float32, np.float64) else x.astype(np.float64)
    y = np.asarray(obs, dtype=np.float64)
    n = x.shape[1]
    # in the members' precision (float32 fields stay float32), summed in float64
    abs_mean = np.abs(x - y[:, None].astype(x.dtype)).mean(axis=1, dtype=np.float64)
    plain, fair_v = crps_from(abs_mean, sorted_pair_sum(x, axis=1), n)
    out = fair_v if fair else plain
    return np.where(np.isnan(y), np.nan, out)


def sorted_pair_sum(x: np.ndarray, axis: int) -> np.ndarray:
    """sum over ordered pairs i != j of |x_i - x_j| along ``axis``, from the sorted
    members: 2 sum_i (2i - n - 1) x_(i), summed in float64."""
    n = x.shape[axis]
    shape = [1] * x.ndim
    shape[axis] = n
    weights = (2 * np.arange(1, n + 1) - n - 1).reshape(shape).astype(np.float64)
    return 2 * (weights * np.sort(x, axis=axis)).sum(axis=axis)


def fair_crps(
    ens: np.ndarray | torch.Tensor, obs: np.ndarray | torch.Tensor, fair: bool = True
) -> np.ndarray:
    """(K,) mean CRPS over the points with an observation, of ens (K, N, P) against obs
    (K, P): the fair one by default, the plain ensemble CRPS with ``fair=False``."""
    per = case_crps(ens, obs, fair)
    seen = np.isfinite(per).sum(axis=-1)
    total = np.where(np.isfinite(per), per, 0.0).sum(axis=-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(seen > 0, total / np.maximum(seen, 1), np.nan)


def shared_fair_crps(ens: torch.Tensor, obs: torch.Tensor) -> float:
    """Mean fair CRPS of one ensemble (N, ...) against several observations (K, ...) of
    the same fields (hold-out members scored against the others)."""
    n = ens.shape[0]
    s = torch.sort(ens.reshape(n, -1).to(torch.float64).t(), dim=1).values  # (P, N)
    y = obs.reshape(obs.shape[0], -1).to(torch.float64).t()  # (P, K)
    return float(crps_terms(s, y)[1].mean())


def spread_skill_sums(s: torch.Tensor, y: torch.Tensor) -> np.ndarray:
    """Sums (4,) to accumulate over chunks: J x the member variances (unbiased), their
    count, the squared errors of the ensemble mean and their count; members s (B, M),
    observations y (B, J) of row b."""
    m = s.shape[1]
    variance = s.var(1, correction=1) if m > 1 else torch.zeros(s.shape[0], dtype=s.dtype)
    j = y.shape[1]
    err = (s.mean(1, keepdim=True) - y).square()
    return np.array(
        [float(variance.sum()) * j, variance.numel() * j, float(err.sum()), err.numel()]
    )


def spread_skill_value(sums: np.ndarray, members: int) -> tuple[float, float]:
    """(spread, skill) from accumulated :func:`spread_skill_sums`: spread is
    sqrt((N + 1) / N) x the root mean member variance (NaN for N < 2), skill the RMSE of
    the ensemble mean."""
    var_sum, n_var, sq_err, n_err = sums
    spread = np.sqrt((members + 1) / members) * np.sqrt(var_sum / n_var)
    return (float(spread) if members > 1 else float("nan")), float(np.sqrt(sq_err / n_err))


def spread_skill(ens: torch.Tensor, obs: torch.Tensor) -> tuple[float, float]:
    """(spread, skill) of one ensemble (N, ...) against observations (K, ...)."""
    n = ens.shape[0]
    s = _t(ens).reshape(n, -1).t()
    y = _t(obs).reshape(obs.shape[0], -1).t()
    return spread_skill_value(spread_skill_sums(s, y), n)


def exceedance(ens: np.ndarray, obs: np.ndarray, t: float) -> tuple[np.ndarray, np.ndarray]:
    """(p, o): forecast probability (K, P) that ens (K, N, P) exceeds t, and the observed
    occurrence (K, P) of obs > t, NaN where the observation is missing."""
    ens, obs = np.asarray(ens), np.asarray(obs, dtype=float)
    return (ens > t).mean(axis=1), np.where(np.isnan(obs), np.nan, obs > t)


def brier(p: np.ndarray, o: np.ndarray) -> np.ndarray:
    """(K,) Brier score per case over the points with an observation."""
    with np.errstate(invalid="ignore"):
        return np.nanmean((np.asarray(p) - np.asarray(o)) ** 2, axis=-1)


def probability_level_counts(p: np.ndarray, o: np.ndarray, members: int) -> np.ndarray:
    """(members + 1, 2) counts of points at each probability level k / members, split by
    [not observed, observed]; missing observations are left out."""
    p, o = np.asarray(p).ravel(), np.asarray(o, dtype=float).ravel()
    seen = np.isfinite(o)
    level = np.rint(p[seen] * members).astype(np.int64)
    idx = level * 2 + (o[seen] > 0.5)
    return np.bincount(idx, minlength=2 * (members + 1)).reshape(members + 1, 2).astype(float)


def roc_area_from_counts(counts: np.ndarray) -> float:
    """ROC area (Mann-Whitney, ties counted half) from counts per probability level
    (L, 2); NaN without events or non-events, or with a single level in use (the forecast
    then discriminates nothing, which 0.5 would present as a score)."""
    non, yes = counts[:, 0], counts[:, 1]
    n0, n1 = non.sum(), yes.sum()
    if n0 == 0 or n1 == 0 or np.count_nonzero(non + yes) < 2:
        return float("nan")
    below = np.cumsum(non) - non  # non-events at lower probability levels
    return float((yes * (below + 0.5 * non)).sum() / (n0 * n1))


def roc_area(p: np.ndarray, o: np.ndarray) -> float:
    """ROC area of probabilities p against occurrences o (any probability values)."""
    p, o = np.asarray(p, dtype=float).ravel(), np.asarray(o, dtype=float).ravel()
    seen = np.isfinite(o)
    levels, inv = np.unique(p[seen], return_inverse=True)
    counts = np.zeros((len(levels), 2))
    np.add.at(counts, (inv, (o[seen] > 0.5).astype(int)), 1)
    return roc_area_from_counts(counts)


class Reliability(NamedTuple):
    """Per bin: mean forecast probability, observed frequency (NaN for an empty bin) and
    the number of forecasts (the sharpness histogram)."""

    mean_p: np.ndarray
    freq: np.ndarray
    count: np.ndarray


def reliability_sums(
    p: np.ndarray, o: np.ndarray, members: int | None = None, bins: int = 10
) -> np.ndarray:
    """(3, bins) sums of p, o and counts per bin, to accumulate over chunks.

    An ensemble of ``members`` forecasts the probabilities k / members exactly, so each of
    its levels is its own bin (``linspace`` edges put 0.3, 0.6 and 0.7 of a 10-member
    ensemble into the bin below by rounding).  Otherwise ``bins`` equal bins."""
    p, o = np.asarray(p, dtype=float).ravel(), np.asarray(o, dtype=float).ravel()
    seen = np.isfinite(o)
    p, o = p[seen], o[seen]
    if members:
        idx, nbins = np.rint(p * members).astype(int), members + 1
    else:
        idx, nbins = np.clip((p * bins).astype(int), 0, bins - 1), bins
    return np.stack(
        [
            np.bincount(idx, weights=p, minlength=nbins),
            np.bincount(idx, weights=o, minlength=nbins),
            np.bincount(idx, minlength=nbins).astype(float),
        ]
    )


def reliability_curve(sums: np.ndarray) -> Reliability:
    """The reliability table from accumulated :func:`reliability_sums`."""
    sp, so, count = sums
    some = count > 0
    safe = np.maximum(count, 1)
    return Reliability(
        np.where(some, sp / safe, np.nan), np.where(some, so / safe, np.nan), count.astype(int)
    )


def reliability(
    p: np.ndarray, o: np.ndarray, members: int | None = None, bins: int = 10
) -> Reliability:
    """Reliability table of probabilities p against occurrences o (see
    :func:`reliability_sums`); points sit at the mean forecast probability of a bin."""
    return reliability_curve(reliability_sums(p, o, members, bins))


def _split_ties(below, ties, u):  # noqa: ANN001, ANN202
    """The rank: members below, plus a uniform share of the members tied with the truth."""
    return (
        below + (u * (ties + 1)).astype(int)
        if isinstance(below, np.ndarray)
        else (below + torch.floor(u * (ties + 1)).long())
    )


def ranks(s: torch.Tensor, y: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Rank (0..M) of each observation y (B, J) among sorted members s (B, M), ties split
    at random; -1 where the observation is missing (one ensemble, many observations)."""
    y = y.contiguous()
    lt = torch.searchsorted(s.contiguous(), torch.nan_to_num(y))
    le = torch.searchsorted(s.contiguous(), torch.nan_to_num(y), right=True)
    u = torch.rand(y.shape, generator=generator, dtype=torch.float64)
    return torch.where(torch.isnan(y), -1, _split_ties(lt, le - lt, u))


def rank_counts(
    below: np.ndarray, ties: np.ndarray, seen: np.ndarray, members: int,
    seed: int | np.random.Generator = 0,
) -> np.ndarray:  # fmt: skip
    """Counts (members + 1,) of the ranks given, per observation, how many members lie
    below it and tie with it (ties split at random); only the ``seen`` observations.  A
    Generator as ``seed`` continues its stream (chunks of cases rank as one call would)."""
    u = np.random.default_rng(seed).random(np.shape(below))
    rank = _split_ties(below, ties, u)
    return np.bincount(rank[seen].ravel(), minlength=members + 1)


def rank_histogram(
    ens: np.ndarray, obs: np.ndarray, seed: int | np.random.Generator = 0
) -> np.ndarray:
    """Counts (N + 1,) of the rank of obs (K, P) among ens (K, N, P); missing
    observations have no rank and are not counted.  One observation per ensemble, so the
    members below and tied are counted directly (no sort)."""
    x, y = np.asarray(ens), np.asarray(obs)
    below = (x < y[:, None]).sum(axis=1)
    ties = (x == y[:, None]).sum(axis=1)
    return rank_counts(below, ties, np.isfinite(y), x.shape[1], seed)


def fss_sums(forecast: torch.Tensor, observed: torch.Tensor, scale: int) -> np.ndarray:
    """Sums (3,) of S_f^2, S_f S_o and S_o^2 over fields (n, H, W) of forecast and
    observed fractions (binary fields or exceedance probabilities), neighbourhood
    fractions on ``scale`` x ``scale`` windows, zero outside the field."""
    s_f, s_o = box_mean(_t(forecast), scale), box_mean(_t(observed), scale)
    return np.array(
        [float(s_f.square().sum()), float((s_f * s_o).sum()), float(s_o.square().sum())]
    )


def fss_value(sums: np.ndarray) -> float:
    """FSS from accumulated :func:`fss_sums`; NaN when neither field has any fraction."""
    ff, fo, oo = sums
    denom = ff + oo
    return float(1.0 - (ff - 2 * fo + oo) / denom) if denom > 0 else float("nan")


def label_objects(
    field: np.ndarray, thr: float, connectivity: int = 2
) -> tuple[int, np.ndarray, np.ndarray]:
    """Number of connected areas above ``thr`` in a 2-D field, their sizes (points) and
    mean intensities (connectivity 1: 4 neighbours, 2: 8 neighbours)."""
    structure = scipy.ndimage.generate_binary_structure(2, connectivity)
    labels, count = scipy.ndimage.label(field > thr, structure=structure)
    if count == 0:
        return 0, np.zeros(0), np.zeros(0)
    sizes = np.bincount(labels.reshape(-1), minlength=count + 1)[1:]
    means = scipy.ndimage.mean(field, labels, np.arange(1, count + 1))
    return count, sizes, np.asarray(means)


def mean_objects(fields: np.ndarray, thr: float, connectivity: int = 2) -> float:
    """Mean number of objects above ``thr`` per field of (..., H, W)."""
    flat = np.asarray(fields).reshape(-1, *np.shape(fields)[-2:])
    return float(np.mean([label_objects(f, thr, connectivity)[0] for f in flat]))

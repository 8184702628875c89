"""Per-case sums of every study score, and the scores as functions of summed sums.

Each test case leaves, per ensemble and variable, a few sums over its grid points
(:func:`case_sums`); a score over any set of cases is a function of their summed sums
(:data:`SCORES`).  So the bootstrap resamples dates by summing, never by rescoring
fields, and memory does not grow with the number of cases.  The definitions come from
:mod:`gensemble.evaluation.ensemble_scores`, as everywhere in gensemble.

Thresholds are climatological: the 90th and 99th percentiles of each variable over the
train dates' members (never the test dates, never the truth), and the Brier skill score's
reference is the constant climatological probability (0.1, 0.01) of those dates.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

from gensemble.evaluation import ensemble_scores as es
from gensemble.evaluation.ops import radial_average, radial_index_fft

LOG = logging.getLogger(__name__)

QUANTILES = {"q90": 0.90, "q99": 0.99}


@dataclass
class Climate:
    """Climatological thresholds per variable (physical units) and their base rates."""

    thresholds: dict[str, dict[str, float]]  # variable -> {"q90": t, "q99": t}
    base_rate: dict[str, dict[str, float]]  # variable -> {"q90": p, ...} over train dates

    @classmethod
    def of(cls, fields: np.ndarray, variables: list[str]) -> Climate:
        """From train members (S, C, H, W)."""
        thr, rate = {}, {}
        for c, v in enumerate(variables):
            x = fields[:, c].ravel()
            thr[v] = {k: float(np.quantile(x, q)) for k, q in QUANTILES.items()}
            rate[v] = {k: float((x > t).mean()) for k, t in thr[v].items()}
        return cls(thr, rate)


def spectrum(fields: np.ndarray) -> np.ndarray:
    """Mean radially averaged power spectrum (nbins,) of fields (n, H, W)."""
    x = torch.from_numpy(np.asarray(fields, dtype=np.float64))
    x = x - x.mean(dim=(-2, -1), keepdim=True)
    power = torch.fft.fft2(x).abs().square() / (x.shape[-1] * x.shape[-2])
    index, nbins = radial_index_fft(*x.shape[-2:])
    return radial_average(power, index, nbins).mean(0).numpy()


def case_sums(
    ens: np.ndarray, truth: np.ndarray, thresholds: dict[str, float], base: dict[str, float],
    fss_scale: int, seed: int,
) -> dict[str, np.ndarray]:  # fmt: skip
    """Sums of one case for one variable: members ens (N, H, W), truth (H, W)."""
    n = ens.shape[0]
    flat, y = ens.reshape(1, n, -1), truth.reshape(1, -1)
    plain = es.case_crps(flat, y, fair=False)[0]
    fair = es.case_crps(flat, y, fair=True)[0] if n > 1 else np.full(y.shape[1], np.nan)
    out = {
        "cases": np.array(1.0),
        "points": np.array(y.shape[1], dtype=float),
        "crps": np.array(plain.sum()),
        "crps_fair": np.array(fair.sum()),
        "ss": es.spread_skill_sums(torch.from_numpy(flat[0].T).double(),
                                   torch.from_numpy(y.T).double()),
        "rank": es.rank_histogram(flat, y, seed).astype(float),
        "outside": np.array(float(((y < flat.min(1)) | (y > flat.max(1))).sum())),
        "spec": spectrum(ens),
        "spec_truth": spectrum(truth[None]),
    }  # fmt: skip
    for name, reduce in (("max", np.max), ("mean", np.mean)):
        members = reduce(ens, axis=(1, 2)).reshape(1, n, 1)
        target = np.array([[reduce(truth)]])
        out[f"crps_{name}"] = np.array(es.case_crps(members, target, fair=False)[0, 0])
    exceed = {q: es.exceedance(flat, y, t) for q, t in thresholds.items()}
    for q, (p, o) in exceed.items():
        out[f"brier_{q}"] = np.array(((p - o) ** 2).sum())
        out[f"clim_{q}"] = np.array(((base[q] - o) ** 2).sum())
        out[f"rel_{q}"] = es.reliability_sums(p, o, members=n)
    p, o = exceed["q99"]
    field_p = torch.from_numpy(p.reshape(1, *truth.shape))
    out["fss"] = es.fss_sums(field_p, torch.from_numpy(o.reshape(1, *truth.shape)), fss_scale)
    return out


def _ratio(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(b > 0, a / np.where(b > 0, b, 1), np.nan)


def _spread_skill(s: dict[str, np.ndarray], n: int) -> np.ndarray:
    ss = s["ss"]
    spread = np.sqrt((n + 1) / n) * np.sqrt(_ratio(ss[..., 0], ss[..., 1])) if n > 1 else np.nan
    skill = np.sqrt(_ratio(ss[..., 2], ss[..., 3]))
    return _ratio(spread * np.ones_like(skill), skill)


def _fss(s: dict[str, np.ndarray], n: int) -> np.ndarray:
    ff, fo, oo = s["fss"][..., 0], s["fss"][..., 1], s["fss"][..., 2]
    return 1 - _ratio(ff - 2 * fo + oo, ff + oo)


def _lsd(s: dict[str, np.ndarray], n: int) -> np.ndarray:
    """Log spectral distance (dB) of the members' mean spectrum to the truth's."""
    with np.errstate(divide="ignore", invalid="ignore"):
        d = 10 * np.log10(s["spec"][..., 1:] / s["spec_truth"][..., 1:])
    return np.sqrt(np.nanmean(d**2, axis=-1))


@dataclass(frozen=True)
class Score:
    """A score from summed sums (any leading replicate axes), and which way is better:
    ``lower``, ``higher``, or ``one`` (a ratio whose ideal is 1) / ``zero``."""

    name: str
    of: Callable[[dict[str, np.ndarray], int], np.ndarray]
    better: str
    label: str

    def badness(self, value: np.ndarray) -> np.ndarray:
        """A number that is lower when better (what paired differences compare)."""
        if self.better == "higher":
            return -value
        if self.better == "one":
            return np.abs(value - 1)
        if self.better == "zero":
            return np.abs(value)
        return value


SCORES = [
    Score("crps", lambda s, n: _ratio(s["crps"], s["points"]), "lower", "CRPS"),
    Score("crps_fair", lambda s, n: _ratio(s["crps_fair"], s["points"]), "lower", "fair CRPS"),
    Score("brier_q90", lambda s, n: _ratio(s["brier_q90"], s["points"]), "lower", "Brier >q90"),
    Score("brier_q99", lambda s, n: _ratio(s["brier_q99"], s["points"]), "lower", "Brier >q99"),
    Score("bss_q90", lambda s, n: 1 - _ratio(s["brier_q90"], s["clim_q90"]), "higher", "BSS >q90"),
    Score("bss_q99", lambda s, n: 1 - _ratio(s["brier_q99"], s["clim_q99"]), "higher", "BSS >q99"),
    Score("spread_skill", _spread_skill, "one", "spread/skill"),
    Score(
        "outside_excess",
        lambda s, n: _ratio(s["outside"], s["points"]) - 2 / (n + 1),
        "zero",
        "truth outside - 2/(N+1)",
    ),
    Score("crps_max", lambda s, n: s["crps_max"] / s["cases"], "lower", "CRPS domain max"),
    Score("crps_mean", lambda s, n: s["crps_mean"] / s["cases"], "lower", "CRPS domain mean"),
    Score("fss_q99", _fss, "higher", "FSS >q99"),
    Score("spectrum_lsd", _lsd, "lower", "spectrum LSD to truth (dB)"),
]

SCORE_BY_NAME = {s.name: s for s in SCORES}

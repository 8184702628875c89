"""Ensemble scores the enrichment is judged and calibrated by, on normalised fields.

The fair CRPS (Ferro 2014) from sorted members, O(N log N) per point, and the
spread-skill ratio (Fortin et al. 2014), in torch so calibration can evaluate them
hundreds of times; ``holdout_table`` scores raw, enriched and hybrid ensembles against
held-back members with the metric plugins, as ``gensemble enrich --holdout`` prints.
"""

from __future__ import annotations

import logging
import math
from typing import Any

import numpy as np
import torch

LOG = logging.getLogger(__name__)


def fair_crps(ens: torch.Tensor, obs: torch.Tensor) -> float:
    """Mean fair CRPS of ensemble (N, ...) against observations (K, ...), N >= 2."""
    n = ens.shape[0]
    s = torch.sort(ens.reshape(n, -1).double(), dim=0).values  # (N, P)
    y = obs.reshape(obs.shape[0], -1).double()  # (K, P)
    abs_mean = (s[None] - y[:, None]).abs().mean(1)  # (K, P)
    i = torch.arange(1, n + 1, dtype=torch.float64)[:, None]
    pair = 2.0 * (s * (2 * i - n - 1)).sum(0)  # sum_ij |x_i - x_j|
    return float((abs_mean - pair / (2 * n * (n - 1))).mean())


def spread_skill(ens: torch.Tensor, obs: torch.Tensor) -> tuple[float, float]:
    """(spread, RMSE of the ensemble mean against each observation)."""
    n = ens.shape[0]
    spread = math.sqrt((n + 1) / n) * float(ens.double().var(0).mean().sqrt())
    skill = float((ens.double().mean(0)[None] - obs.double()).square().mean().sqrt())
    return spread, skill


def holdout_table(
    variables: list[str], observed: np.ndarray, ensembles: dict[str, np.ndarray]
) -> dict[str, dict[str, float]]:
    """CRPS, spread-skill and rank-histogram unreliability of each ensemble (physical
    units) against held-back members, with the metric plugins."""
    from gensemble.api.metric_context import EvalContext
    from gensemble.core.registry import get_registry

    reg = get_registry()
    ctx = EvalContext(list(variables), figures=False)
    obs = torch.from_numpy(np.ascontiguousarray(observed, dtype=np.float32))
    out: dict[str, dict[str, Any]] = {}
    for label, ens in ensembles.items():
        fake = torch.from_numpy(np.ascontiguousarray(ens, dtype=np.float32))
        row: dict[str, float] = {}
        for name in ("crps", "spread_skill", "rank_histogram"):
            res = reg.get("metric", name)().compute(obs, fake, ctx)
            row.update({k: v for k, v in res.scalars.items() if k not in res.undefined})
        out[label] = row
    return out

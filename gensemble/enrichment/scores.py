"""Ensemble scores the enrichment is judged and calibrated by, on normalised fields.

``holdout_table`` scores raw, enriched and hybrid ensembles against held-back members
with the metric plugins, as ``gensemble enrich --holdout`` prints (calibration uses the
same scores from :mod:`gensemble.evaluation.ensemble_scores`).
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import torch

LOG = logging.getLogger(__name__)


def holdout_table(
    variables: list[str], observed: np.ndarray, ensembles: dict[str, np.ndarray]
) -> dict[str, dict[str, float]]:
    """CRPS, spread-skill and rank-histogram unreliability of each ensemble (physical
    units) against held-back members, with the metric plugins: ``observed`` (K, C, H, W)
    and each ensemble (K, M, C, H, W), the ensemble of the observation's own case."""
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

"""Registered ensemble metrics in an event report.

Any metric plugin that declares ``accepts_ensembles`` (built-in or a partner's) can be
added to an event's report: it is computed on the region's bounding box, each ensemble
(K, N, C, H, W) against the grid truth (K, C, H, W), without intervals (the metric
computes its own value only).  Against station observations the grid truth does not
exist, so the metrics are left out with a note.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import torch

from gensemble.core.errors import UserError
from gensemble.events.verify import ScoreRow, region_box

LOG = logging.getLogger(__name__)


def metric_rows(
    names: tuple[str, ...] | list[str],
    ensembles: dict[str, np.ndarray],
    truth: np.ndarray | None,
    data: Any,
    seed: int,
    notes: list[str],
) -> list[ScoreRow]:
    """One row per scalar of each named metric and ensemble."""
    from gensemble.api.metric_context import EvalContext
    from gensemble.evaluation.runner import build_metrics

    plugins = build_metrics(list(names))  # unknown names fail in one line
    for p in plugins:
        if not getattr(p, "accepts_ensembles", False):
            raise UserError(
                f"metric {p.name} does not score ensembles against a truth, so it cannot "
                "be added to an event report",
                "event_metrics",
            )
    if truth is None:
        notes.append(
            f"metrics {', '.join(names)}: not computed against station observations "
            "(they need the truth on the grid)"
        )
        return []
    box = region_box(data.mask)
    ctx = EvalContext(list(data.variables), data.dx_km * 1e3, "cpu", seed, figures=False)
    real = torch.from_numpy(np.ascontiguousarray(truth[..., box[0], box[1]], np.float32))
    out = []
    for name, ens in ensembles.items():
        fake = torch.from_numpy(np.ascontiguousarray(ens[..., box[0], box[1]], np.float32))
        for plugin in plugins:
            res = plugin.compute(real, fake, ctx)
            for key, value in res.scalars.items():
                if key not in res.undefined:
                    out.append(
                        ScoreRow(name, f"{plugin.name}:{key}", float(value), cases=len(real))
                    )
    return out

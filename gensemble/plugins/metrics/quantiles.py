"""Per-point quantile maps and the quantile score mean |q_real - q_fake| over the map."""

from __future__ import annotations

import logging

import torch
from pydantic import Field

from gensemble.api import (
    EvalContext,
    MetricPlugin,
    MetricResult,
    PluginOptions,
    chunks,
    hookimpl,
    quantiles_sorted,
    sorted_columns,
)
from gensemble.api import metric_figures as figures

LOG = logging.getLogger(__name__)


def quantile_maps(x: torch.Tensor, qs: list[float], block: int = 65536) -> torch.Tensor:
    """(N, H, W) -> (len(qs), H, W), numpy's linear interpolation."""
    h, w = x.shape[-2:]
    flat = x.reshape(x.shape[0], -1)
    out = torch.empty(len(qs), h * w, dtype=torch.float64)
    for sl in chunks(h * w, block):
        out[:, sl] = quantiles_sorted(sorted_columns(flat[:, sl]), qs).double().cpu()
    return out.reshape(len(qs), h, w)


class QuantileScore(MetricPlugin):
    name = "quantiles"
    description = "per-point quantile maps (0.01, 0.1, 0.9, 0.99) and the quantile score"

    class Options(PluginOptions):
        quantiles: list[float] = Field([0.01, 0.1, 0.9, 0.99])

    def compute(self, real: torch.Tensor, fake: torch.Tensor, ctx: EvalContext) -> MetricResult:
        qs = self.options.quantiles
        res = MetricResult()
        panels = {}
        for c, var in enumerate(ctx.variables):
            qr, qf = quantile_maps(real[:, c], qs), quantile_maps(fake[:, c], qs)
            err = (qr - qf).abs()
            for i, q in enumerate(qs):
                res.add(f"quantiles/q{q:g}/{var}", err[i].mean())
                res.maps[f"quantile_real/q{q:g}/{var}"] = qr[i].numpy()
                res.maps[f"quantile_fake/q{q:g}/{var}"] = qf[i].numpy()
            res.add(f"quantiles/{var}", err.mean())
            panels[f"{var} q{qs[-1]:g} real"] = qr[-1].numpy()
            panels[f"{var} q{qs[-1]:g} generated"] = qf[-1].numpy()
        if ctx.figures:
            res.figures["quantiles"] = figures.map_panels(panels, "highest quantile maps")
        return res


@hookimpl
def gensemble_metrics() -> list[type]:
    return [QuantileScore]

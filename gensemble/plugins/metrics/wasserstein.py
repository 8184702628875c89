"""Pointwise Wasserstein-1 distance between the real and generated distributions.

At every grid point the N real and M generated values form two empirical distributions;
W1 is the mean absolute difference of their quantile functions.  Reported as a map, as its
mean over a central 64x64 crop (W1_center) and over random points (W1_random), per
variable, in the variable's units.
"""

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
    sorted_columns,
    w1_sorted,
)
from gensemble.api import metric_figures as figures
from gensemble.plugins.metrics._common import center_crop

LOG = logging.getLogger(__name__)


def w1_map(real: torch.Tensor, fake: torch.Tensor, block: int = 65536) -> torch.Tensor:
    """(N, H, W) and (M, H, W) -> (H, W) map of W1, sorting a block of points at a time."""
    h, w = real.shape[-2:]
    r = real.reshape(real.shape[0], -1)
    f = fake.reshape(fake.shape[0], -1)
    out = torch.empty(h * w, dtype=torch.float64)
    for sl in chunks(h * w, block):
        rs, fs = sorted_columns(r[:, sl]), sorted_columns(f[:, sl])
        out[sl] = w1_sorted(rs, fs).double().cpu()
    return out.reshape(h, w)


class PointwiseW1(MetricPlugin):
    name = "w1"
    description = "pointwise Wasserstein-1 distance: map, central-crop mean, random-point mean"

    class Options(PluginOptions):
        center: int = Field(64, ge=1, description="side of the central crop")
        random_points: int = Field(4096, ge=1, description="points drawn for W1_random")

    def compute(self, real: torch.Tensor, fake: torch.Tensor, ctx: EvalContext) -> MetricResult:
        res = MetricResult()
        h, w = real.shape[-2:]
        cy, cx = center_crop(h, w, self.options.center)
        pick = torch.randperm(h * w, generator=ctx.generator())[: self.options.random_points]
        maps = {}
        for c, var in enumerate(ctx.variables):
            m = w1_map(real[:, c], fake[:, c])
            maps[var] = m.numpy()
            res.add(f"w1_center/{var}", m[cy, cx].mean())
            res.add(f"w1_random/{var}", m.reshape(-1)[pick].mean())
            res.add(f"w1_mean/{var}", m.mean())
            res.maps[f"w1_map/{var}"] = maps[var]
        if ctx.figures:
            res.figures["w1_maps"] = figures.map_panels(maps, "pointwise W1 (units of each var)")
        return res


@hookimpl
def gensemble_metrics() -> list[type]:
    return [PointwiseW1]

"""Correlation length-scale maps (Brochet et al. 2023, after Belo Pereira & Berre 2006).

Fields are standardised per point over the sample set (eps = (x - mean) / std); the
local metric tensor g_ij = E[d_i eps d_j eps] is estimated with one-sided finite
differences divided by the grid spacing, and L = 1 / (0.5 * (sqrt(g_xx) + sqrt(g_yy))),
i.e. trace(sqrt(|g|)) on the diagonal.  For a Gaussian correlation function of length l,
L = l.  Reported: the map per variable and the mean |L_real - L_fake| in km.
"""

from __future__ import annotations

import torch
from pydantic import Field

from gensemble.api.plugins import MetricPlugin, PluginOptions
from gensemble.core.hookspecs import hookimpl
from gensemble.evaluation import figures
from gensemble.evaluation.context import EvalContext
from gensemble.evaluation.ops import chunks
from gensemble.evaluation.result import MetricResult


def length_scale_map(x: torch.Tensor, dx: float, chunk: int = 256) -> torch.Tensor:
    """(N, H, W) samples -> ((H-1), (W-1)) map of L in the units of ``dx``."""
    n = x.shape[0]
    s1 = torch.zeros(x.shape[1:], dtype=torch.float64)
    s2 = torch.zeros_like(s1)
    for sl in chunks(n, chunk):
        b = x[sl].double()
        s1 += b.sum(0)
        s2 += b.square().sum(0)
    mean = s1 / n
    std = (s2 / n - mean**2).clamp_min(0).sqrt().clamp_min(1e-12)
    gxx = torch.zeros(x.shape[1], x.shape[2] - 1, dtype=torch.float64)
    gyy = torch.zeros(x.shape[1] - 1, x.shape[2], dtype=torch.float64)
    for sl in chunks(n, chunk):
        eps = (x[sl].double() - mean) / std
        gxx += ((eps[:, :, 1:] - eps[:, :, :-1]) / dx).square().sum(0)
        gyy += ((eps[:, 1:, :] - eps[:, :-1, :]) / dx).square().sum(0)
    gxx, gyy = gxx[:-1, :] / n, gyy[:, :-1] / n
    return 1.0 / (0.5 * (gxx.sqrt() + gyy.sqrt())).clamp_min(1e-300)


class CorrelationLength(MetricPlugin):
    name = "corr_length"
    description = "correlation length-scale maps and their mean absolute difference (km)"

    class Options(PluginOptions):
        chunk: int = Field(256, ge=1)

    def compute(self, real: torch.Tensor, fake: torch.Tensor, ctx: EvalContext) -> MetricResult:
        res = MetricResult()
        panels = {}
        dx_km = ctx.dx_m / 1e3
        for c, var in enumerate(ctx.variables):
            lr = length_scale_map(real[:, c], dx_km, self.options.chunk)
            lf = length_scale_map(fake[:, c], dx_km, self.options.chunk)
            res.add(f"corr_length/{var}", (lr - lf).abs().mean())
            res.add(f"corr_length_real_mean/{var}", lr.mean())
            res.add(f"corr_length_fake_mean/{var}", lf.mean())
            res.maps[f"corr_length_real/{var}"] = lr.numpy()
            res.maps[f"corr_length_fake/{var}"] = lf.numpy()
            panels[f"{var} real"] = lr.numpy()
            panels[f"{var} generated"] = lf.numpy()
        if ctx.figures:
            res.figures["corr_length"] = figures.map_panels(panels, "correlation length (km)")
        return res


@hookimpl
def gensemble_metrics() -> list[type]:
    return [CorrelationLength]

"""Correlation length-scale maps (Brochet et al. 2023, after Belo Pereira & Berre 2006).

Fields are standardised per point over the sample set (eps = (x - mean) / std); the
local metric tensor g_ij = E[d_i eps d_j eps] (i, j in {x, y}, cross term included) is
estimated with forward differences divided by the grid spacing, all taken at the same
points, and L = 1 / (0.5 * trace(sqrt(g))) as in the reference definition.  For a 2x2
symmetric positive semi-definite g, trace(sqrt(g)) = sqrt(g_xx + g_yy + 2 sqrt(det g)),
so no eigen-decomposition is needed.  For an isotropic Gaussian correlation of length l,
L = l; for a rotated anisotropic one, the cross term matters (a diagonal-only estimate is
off by ~10 %).

Where a point's samples do not vary (std 0) eps is undefined, and where the fields do not
vary in space g = 0 and L is infinite: such points are NaN in the maps and left out of
the mean distance; when no point is left the distance is undefined (NaN with the reason).
Reported: the map per variable and the mean |L_real - L_fake| in km.
"""

from __future__ import annotations

import logging

import torch
from pydantic import Field

from gensemble.api import EvalContext, MetricPlugin, MetricResult, PluginOptions, chunks, hookimpl
from gensemble.api import metric_figures as figures

LOG = logging.getLogger(__name__)


def length_scale_map(x: torch.Tensor, dx: float, chunk: int = 256) -> torch.Tensor:
    """(N, H, W) samples -> ((H-1), (W-1)) map of L in the units of ``dx`` (NaN where
    undefined: no variation over the samples, or none in space)."""
    n = x.shape[0]
    s1 = torch.zeros(x.shape[1:], dtype=torch.float64)
    s2 = torch.zeros_like(s1)
    for sl in chunks(n, chunk):
        b = x[sl].double()
        s1 += b.sum(0)
        s2 += b.square().sum(0)
    mean = s1 / n
    var = (s2 / n - mean**2).clamp_min(0)
    scale = mean.abs().clamp_min(1.0)
    varies = var.sqrt() > 1e-6 * scale  # float32 input: below this it is rounding
    std = torch.where(varies, var.sqrt(), torch.ones_like(var))
    h, w = x.shape[1] - 1, x.shape[2] - 1
    gxx = torch.zeros(h, w, dtype=torch.float64)
    gyy, gxy = torch.zeros_like(gxx), torch.zeros_like(gxx)
    for sl in chunks(n, chunk):
        eps = (x[sl].double() - mean) / std
        ex = (eps[:, :-1, 1:] - eps[:, :-1, :-1]) / dx
        ey = (eps[:, 1:, :-1] - eps[:, :-1, :-1]) / dx
        gxx += ex.square().sum(0)
        gyy += ey.square().sum(0)
        gxy += (ex * ey).sum(0)
    gxx, gyy, gxy = gxx / n, gyy / n, gxy / n
    det = (gxx * gyy - gxy.square()).clamp_min(0)
    trace_sqrt = (gxx + gyy + 2 * det.sqrt()).sqrt()
    ok = varies[:-1, :-1] & varies[:-1, 1:] & varies[1:, :-1] & (trace_sqrt > 0)
    return torch.where(ok, 1.0 / (0.5 * trace_sqrt.clamp_min(1e-300)), torch.nan)


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
            for key, m, side in (
                (f"corr_length_real_mean/{var}", lr, "real"),
                (f"corr_length_fake_mean/{var}", lf, "generated"),
            ):
                if torch.isnan(m).all():
                    res.add_undefined(key, f"{side} fields do not vary (no correlation length)")
                else:
                    res.add(key, m.nanmean())
            both = ~torch.isnan(lr) & ~torch.isnan(lf)
            if both.any():
                res.add(f"corr_length/{var}", (lr - lf)[both].abs().mean())
            else:
                side = "real" if torch.isnan(lr).all() else "generated"
                res.add_undefined(
                    f"corr_length/{var}", f"{side} fields do not vary (no correlation length)"
                )
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

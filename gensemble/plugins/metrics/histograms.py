"""Multivariate structure: 2-D histograms of variable pairs and their distance.

Both sets are binned on the same grid (the real set's 0.1-99.9 % range, values beyond
it go to the edge bins); the distance is the total variation 0.5 * sum |p - q|, from 0
(identical histograms) to 1 (disjoint).  rr is binned as log1p(rr) by default.
"""

from __future__ import annotations

import itertools
import logging

import numpy as np
import torch
from pydantic import Field

from gensemble.api import (
    EvalContext,
    MetricPlugin,
    MetricResult,
    PluginOptions,
    UserError,
    hookimpl,
)
from gensemble.api import metric_figures as figures

LOG = logging.getLogger(__name__)


def _edges(values: torch.Tensor, bins: int) -> torch.Tensor:
    v = values.reshape(-1)
    if v.numel() > 2_000_000:  # the range only needs a sample
        v = v[torch.randint(0, v.numel(), (2_000_000,), generator=torch.Generator().manual_seed(0))]
    lo, hi = torch.quantile(v.double(), torch.tensor([0.001, 0.999], dtype=torch.float64))
    if hi <= lo:
        hi = lo + 1.0
    return torch.linspace(float(lo), float(hi), bins + 1, dtype=torch.float64)


def histogram2d(
    a: torch.Tensor, b: torch.Tensor, ea: torch.Tensor, eb: torch.Tensor
) -> torch.Tensor:
    """Normalised joint histogram of two equally shaped fields on the given edges."""
    nb_a, nb_b = len(ea) - 1, len(eb) - 1
    ia = torch.bucketize(a.reshape(-1).double(), ea[1:-1], right=True)
    ib = torch.bucketize(b.reshape(-1).double(), eb[1:-1], right=True)
    counts = torch.bincount(ia * nb_b + ib, minlength=nb_a * nb_b).double()
    return (counts / counts.sum()).reshape(nb_a, nb_b)


class Histogram2D(MetricPlugin):
    name = "hist2d"
    description = "2-D histograms of variable pairs (u-v, u-t2m, ...) and their total variation"

    class Options(PluginOptions):
        pairs: list[tuple[str, str]] | None = Field(None, description="default: every pair")
        bins: int = Field(64, ge=2)
        log1p_variables: list[str] = ["rr"]

    def compute(self, real: torch.Tensor, fake: torch.Tensor, ctx: EvalContext) -> MetricResult:
        pairs = self.options.pairs or list(itertools.combinations(ctx.variables, 2))
        res = MetricResult()
        if not pairs:
            return res
        shown = {}
        for va, vb in pairs:
            for v in (va, vb):
                if v not in ctx.variables:
                    raise UserError(f"metric hist2d: variable {v!r} not in {ctx.variables}")
            ca, cb = ctx.channel(va), ctx.channel(vb)
            ra, rb, fa, fb = real[:, ca], real[:, cb], fake[:, ca], fake[:, cb]
            if va in self.options.log1p_variables:
                ra, fa = torch.log1p(ra.clamp_min(0)), torch.log1p(fa.clamp_min(0))
            if vb in self.options.log1p_variables:
                rb, fb = torch.log1p(rb.clamp_min(0)), torch.log1p(fb.clamp_min(0))
            ea, eb = _edges(ra, self.options.bins), _edges(rb, self.options.bins)
            hr, hf = histogram2d(ra, rb, ea, eb), histogram2d(fa, fb, ea, eb)
            key = f"{va}-{vb}"
            res.add(f"hist2d_tv/{key}", 0.5 * (hr - hf).abs().sum())
            res.maps[f"hist2d_real/{key}"] = hr.numpy()
            res.maps[f"hist2d_fake/{key}"] = hf.numpy()
            shown[f"{key} real"] = np.log10(hr.numpy() + 1e-7)
            shown[f"{key} generated"] = np.log10(hf.numpy() + 1e-7)
        if ctx.figures:
            res.figures["hist2d"] = figures.map_panels(
                shown, "log10 joint frequency", cmap="magma", shared=True
            )
        return res


@hookimpl
def gensemble_metrics() -> list[type]:
    return [Histogram2D]

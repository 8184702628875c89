"""High-impact events: exceedance frequencies, tail quantiles, FSS, rain objects."""

from __future__ import annotations

import logging
import math

import numpy as np
import torch
from pydantic import Field

from gensemble.api import (
    EvalContext,
    MetricPlugin,
    MetricResult,
    PluginOptions,
    UserError,
    chunks,
    hookimpl,
)
from gensemble.api import ensemble_scores as es
from gensemble.plugins.metrics._common import (
    ThresholdOptions,
    thr_label,
    thresholds_for,
    with_wind_speed,
)

LOG = logging.getLogger(__name__)


class Exceedance(MetricPlugin):
    name = "exceedance"
    description = "frequency of threshold exceedance (x > t) and frequency bias fake/real"

    Options = ThresholdOptions

    def compute(self, real: torch.Tensor, fake: torch.Tensor, ctx: EvalContext) -> MetricResult:
        real_x, names = with_wind_speed(real, ctx.variables)
        fake_x, _ = with_wind_speed(fake, ctx.variables)
        res = MetricResult()
        for var, ts in thresholds_for(self.options.thresholds, names, self.name).items():
            c = names.index(var)
            for t in ts:
                fr = float((real_x[:, c] > t).double().mean())
                ff = float((fake_x[:, c] > t).double().mean())
                label = f"{var}/{thr_label(t)}"
                res.add(f"exceedance_real/{label}", fr)
                res.add(f"exceedance_fake/{label}", ff)
                if fr > 0:
                    res.add(f"freq_bias/{label}", ff / fr)
                else:
                    res.add_undefined(f"freq_bias/{label}", "no exceedance in the real fields")
        return res


def pooled_quantiles(x: torch.Tensor, qs: list[float]) -> np.ndarray:
    """Exact quantiles of all values (numpy's linear method) via partial sorting."""
    flat = x.detach().reshape(-1).cpu().numpy()
    return np.quantile(flat, qs, method="linear")


class TailQuantiles(MetricPlugin):
    name = "tail_quantiles"
    description = "pooled tail quantiles (0.99, 0.999) of real and generated fields"

    class Options(PluginOptions):
        quantiles: list[float] = Field([0.99, 0.999])

    def compute(self, real: torch.Tensor, fake: torch.Tensor, ctx: EvalContext) -> MetricResult:
        real_x, names = with_wind_speed(real, ctx.variables)
        fake_x, _ = with_wind_speed(fake, ctx.variables)
        res = MetricResult()
        qs = self.options.quantiles
        for c, var in enumerate(names):
            qr, qf = pooled_quantiles(real_x[:, c], qs), pooled_quantiles(fake_x[:, c], qs)
            for q, a, b in zip(qs, qr, qf, strict=True):
                res.add(f"tail_q{q:g}_real/{var}", a)
                res.add(f"tail_q{q:g}_fake/{var}", b)
                res.add(f"tail_q{q:g}_error/{var}", b - a)
        return res


def fss_sums(fake: torch.Tensor, obs: torch.Tensor, thr: float, scale: int) -> np.ndarray:
    """FSS sums of the binary fields x >= thr (pysteps' convention), NaN as no event."""
    i_f = (torch.nan_to_num(fake, nan=-np.inf) >= thr).double()
    i_o = (torch.nan_to_num(obs, nan=-np.inf) >= thr).double()
    return es.fss_sums(i_f, i_o, scale)


class FractionsSkillScore(MetricPlugin):
    name = "fss"
    description = "fractions skill score of generated vs real fields at neighbourhood sizes"

    class Options(PluginOptions):
        thresholds: dict[str, list[float]] | None = Field(
            None, description="by variable; default: reference values (x >= t, as pysteps)"
        )
        scales: list[int] = Field([1, 3, 9, 27], description="neighbourhood sides in points")
        pairs: int = Field(256, ge=1, description="real/generated pairs compared")

    def compute(self, real: torch.Tensor, fake: torch.Tensor, ctx: EvalContext) -> MetricResult:
        real_x, names = with_wind_speed(real, ctx.variables)
        fake_x, _ = with_wind_speed(fake, ctx.variables)
        n = min(self.options.pairs, real_x.shape[0], fake_x.shape[0])
        res = MetricResult()
        for var, ts in thresholds_for(self.options.thresholds, names, self.name).items():
            c = names.index(var)
            for t in ts:
                for scale in self.options.scales:
                    acc = np.zeros(3)
                    for sl in chunks(n, 32):
                        acc += fss_sums(fake_x[sl, c], real_x[sl, c], t, scale)
                    key = f"fss/{var}/{thr_label(t)}/s{scale}"
                    if acc[0] + acc[2] > 0:
                        res.add(key, es.fss_value(acc))
                    else:
                        res.add_undefined(key, "no exceedance in either set")
        return res


class RainObjects(MetricPlugin):
    name = "rain_objects"
    description = "rain objects (connected areas above a threshold): count, area, intensity"

    class Options(PluginOptions):
        variable: str = "rr"
        threshold: float = Field(1.0, description="mm/h")
        connectivity: int = Field(2, ge=1, le=2, description="1: 4-neighbours, 2: 8-neighbours")
        max_fields: int = Field(512, ge=1)

    def summary(self, x: torch.Tensor, cell_km2: float) -> dict[str, float]:
        counts, areas, intens = [], [], []
        for field in x[: self.options.max_fields].cpu().numpy():
            n, sizes, means = es.label_objects(
                field, self.options.threshold, self.options.connectivity
            )
            counts.append(n)
            areas.extend(sizes * cell_km2)
            intens.extend(means)
        none = math.nan  # statistics of objects are undefined when there are none
        return {
            "count": float(np.mean(counts)),
            "area_km2": float(np.mean(areas)) if areas else none,
            "area_p90_km2": float(np.quantile(areas, 0.9)) if areas else none,
            "intensity": float(np.mean(intens)) if intens else none,
        }

    def compute(self, real: torch.Tensor, fake: torch.Tensor, ctx: EvalContext) -> MetricResult:
        var = self.options.variable
        res = MetricResult()
        if var not in ctx.variables:
            if "variable" in self.options.model_fields_set:
                raise UserError(f"metric rain_objects: variable {var!r} not in {ctx.variables}")
            return res  # default rr: nothing to do for a domain without precipitation
        c = ctx.channel(var)
        cell = (ctx.dx_m / 1e3) ** 2
        sr, sf = self.summary(real[:, c], cell), self.summary(fake[:, c], cell)
        none = f"no {var} objects above {self.options.threshold:g}"
        for key in sr:
            for side, value in (("real", sr[key]), ("fake", sf[key])):
                if math.isnan(value):
                    res.add_undefined(f"rain_objects_{side}/{key}", f"{none} in the {side} fields")
                else:
                    res.add(f"rain_objects_{side}/{key}", value)
            if sr[key] and not math.isnan(sr[key]) and not math.isnan(sf[key]):
                res.add(f"rain_objects_ratio/{key}", sf[key] / sr[key])
            else:
                side = "generated" if sr[key] and not math.isnan(sr[key]) else "real"
                res.add_undefined(f"rain_objects_ratio/{key}", f"{none} in the {side} fields")
        return res


@hookimpl
def gensemble_metrics() -> list[type]:
    return [Exceedance, TailQuantiles, FractionsSkillScore, RainObjects]

"""Ensemble scores: a generated ensemble judged against observations or a reference field.

``real`` holds K observed (or reference) fields (K, C, H, W).  ``fake`` is either one
ensemble of M members (M, C, H, W) judged against every observation — the usual case for
an unconditional emulator, whose members sample the climate of the training set — or one
ensemble per observation (K, M, C, H, W).

Every score works from the members sorted per point, so it costs O(M log M) per point
rather than O(M^2):
* CRPS = E|X - y| - E|X - X'| / 2 and the fair CRPS (Ferro 2014), which divides the
  second term by 2 M (M - 1) instead of 2 M^2;
* spread-skill ratio, spread = sqrt((M + 1) / M) * sqrt(mean ensemble variance) and skill
  = RMSE of the ensemble mean (Fortin et al. 2014);
* rank histogram (ties broken at random) and its unreliability
  delta = sum_k (s_k - N / (M + 1))^2 / (N M / (M + 1)), which is 1 for a reliable
  ensemble on average (Candille and Talagrand 2005);
* Brier score of the member fraction above each threshold, its skill score against the
  sample climatology, and a reliability diagram.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator

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
from gensemble.api import metric_figures as figures
from gensemble.plugins.metrics._common import (
    ThresholdOptions,
    thr_label,
    thresholds_for,
    with_wind_speed,
)

LOG = logging.getLogger(__name__)

_CELLS = 1 << 24  # sorted members x observations handled at once


def _layout(real: torch.Tensor, fake: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, bool]:
    if real.ndim != 4:
        raise UserError(f"ensemble metrics need observations (K, C, H, W), got {tuple(real.shape)}")
    if fake.ndim == 4:
        if fake.shape[1:] != real.shape[1:]:
            raise UserError(f"ensemble {tuple(fake.shape)} does not match {tuple(real.shape)}")
        return real, fake, True
    if fake.ndim == 5 and fake.shape[0] == real.shape[0] and fake.shape[2:] == real.shape[1:]:
        return real, fake, False
    raise UserError(
        f"ensemble must be (M, C, H, W) or (K, M, C, H, W) for observations "
        f"{tuple(real.shape)}, got {tuple(fake.shape)}"
    )


def pairs(
    real: torch.Tensor, fake: torch.Tensor, channel: int
) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """Yield (sorted members (B, M), observations (B, J)) blocks for one channel."""
    real, fake, shared = _layout(real, fake)
    if shared:
        m = fake.shape[0]
        ens = fake[:, channel].reshape(m, -1)
        obs = real[:, channel].reshape(real.shape[0], -1)
        block = max(1, _CELLS // max(m, obs.shape[0]))
        for sl in chunks(ens.shape[1], block):
            s = torch.sort(ens[:, sl].t().double(), dim=1).values.contiguous()
            yield s, obs[:, sl].t().contiguous().double()
    else:
        k, m = fake.shape[:2]
        ens = fake[:, :, channel].reshape(k, m, -1).permute(0, 2, 1).reshape(-1, m)
        obs = real[:, channel].reshape(-1, 1)
        for sl in chunks(ens.shape[0], max(1, _CELLS // m)):
            yield torch.sort(ens[sl].double(), dim=1).values.contiguous(), obs[sl].double()


def _n_members(real: torch.Tensor, fake: torch.Tensor) -> int:
    return fake.shape[0] if fake.ndim == 4 else fake.shape[1]


class CRPS(MetricPlugin):
    name = "crps"
    accepts_ensembles = True
    description = "continuous ranked probability score and fair CRPS of the generated ensemble"

    class Options(PluginOptions):
        pass

    def compute(self, real: torch.Tensor, fake: torch.Tensor, ctx: EvalContext) -> MetricResult:
        res = MetricResult()
        for c, var in enumerate(ctx.variables):
            total = fair = 0.0
            count = 0
            for s, y in pairs(real, fake, c):
                a, b = es.crps_terms(s, y)
                seen = torch.isfinite(y)  # missing observations are left out
                total += float(a[seen].sum())
                fair += float(b[seen].sum())
                count += int(seen.sum())
            res.add(f"crps/{var}", total / count)
            if _n_members(real, fake) < 2:
                res.add_undefined(f"crps_fair/{var}", "the fair CRPS needs at least 2 members")
            else:
                res.add(f"crps_fair/{var}", fair / count)
        return res


class SpreadSkill(MetricPlugin):
    name = "spread_skill"
    accepts_ensembles = True
    description = "ensemble spread, RMSE of the ensemble mean and their ratio (Fortin 2014)"

    class Options(PluginOptions):
        pass

    def compute(self, real: torch.Tensor, fake: torch.Tensor, ctx: EvalContext) -> MetricResult:
        res = MetricResult()
        m = _n_members(real, fake)
        for c, var in enumerate(ctx.variables):
            sums = np.zeros(4)
            for s, y in pairs(real, fake, c):
                sums += es.spread_skill_sums(s, y)
            spread, skill = es.spread_skill_value(sums, m)
            res.add(f"skill_rmse/{var}", skill)
            ratio = f"spread_skill_ratio/{var}"
            if m < 2:
                why = "the spread needs at least 2 members"
                res.add_undefined(f"spread/{var}", why)
                res.add_undefined(ratio, why)
                continue
            res.add(f"spread/{var}", spread)
            if skill > 0:
                res.add(ratio, spread / skill)
            elif spread > 0:
                res.add_undefined(ratio, "the ensemble mean has no error (ratio infinite)")
            else:
                res.add_undefined(ratio, "zero spread and zero error (0/0)")
        return res


def rank_counts(real: torch.Tensor, fake: torch.Tensor, channel: int, seed: int) -> np.ndarray:
    """Counts of the observation's rank among the members (M + 1 bins, ties at random;
    missing observations not counted)."""
    m = _n_members(real, fake)
    gen = torch.Generator().manual_seed(seed)
    counts = torch.zeros(m + 1, dtype=torch.float64)
    for s, y in pairs(real, fake, channel):
        rank = es.ranks(s, y, gen)
        counts += torch.bincount(rank[rank >= 0], minlength=m + 1).double()
    return counts.numpy()


def unreliability(counts: np.ndarray) -> float:
    n, bins = counts.sum(), len(counts)
    m = bins - 1
    return float(((counts - n / bins) ** 2).sum() / (n * m / bins))


class RankHistogram(MetricPlugin):
    name = "rank_histogram"
    accepts_ensembles = True
    description = "rank histogram of observations among members and its unreliability"

    class Options(PluginOptions):
        pass

    def compute(self, real: torch.Tensor, fake: torch.Tensor, ctx: EvalContext) -> MetricResult:
        res = MetricResult()
        hists = {}
        for c, var in enumerate(ctx.variables):
            counts = rank_counts(real, fake, c, ctx.seed)
            res.add(f"rank_unreliability/{var}", unreliability(counts))
            res.maps[f"rank_histogram/{var}"] = counts / counts.sum()
            hists[var] = counts / counts.sum()
        if ctx.figures:
            fig, axes = figures.new(len(hists))
            for ax, (var, h) in zip(axes, hists.items(), strict=True):
                ax.bar(np.arange(len(h)), h, width=1.0)
                ax.axhline(1.0 / len(h), color="k", lw=0.8)
                ax.set_title(f"rank histogram {var}")
                ax.set_xlabel("rank")
            fig.tight_layout()
            res.figures["rank_histogram"] = fig
        return res


class Brier(MetricPlugin):
    name = "brier"
    accepts_ensembles = True
    description = "Brier score, skill score and reliability diagram at thresholds"

    class Options(ThresholdOptions):
        bins: int = Field(
            10, ge=2, description="equal probability bins for ensembles over max_levels members"
        )
        max_levels: int = Field(
            50, ge=1, description="up to this many members, one bin per probability level"
        )

    def compute(self, real: torch.Tensor, fake: torch.Tensor, ctx: EvalContext) -> MetricResult:
        real_x, names = with_wind_speed(real, ctx.variables)
        fake_x, _ = with_wind_speed(fake, ctx.variables)
        res = MetricResult()
        curves = {}
        nb = self.options.bins
        for var, ts in thresholds_for(self.options.thresholds, names, self.name).items():
            c = names.index(var)
            for t in ts:
                se = n = 0.0
                obs_sum = 0.0
                rel = 0.0
                for s, y in pairs(real_x, fake_x, c):
                    m = s.shape[1]
                    tt = torch.full((s.shape[0], 1), t, dtype=s.dtype)
                    p = (m - torch.searchsorted(s, tt, right=True)).double() / m  # P(X > t)
                    seen = torch.isfinite(y)
                    o = (y > t).double()
                    p = p.expand_as(o)
                    se += float((p - o)[seen].square().sum())
                    n += int(seen.sum())
                    obs_sum += float(o[seen].sum())
                    o = torch.where(seen, o, torch.nan)
                    levels = m if m <= self.options.max_levels else None
                    rel = rel + es.reliability_sums(p.numpy(), o.numpy(), levels, nb)
                bs = se / n
                clim = obs_sum / n
                label = f"{var}/{thr_label(t)}"
                res.add(f"brier/{label}", bs)
                ref = clim * (1 - clim)
                if ref > 0:
                    res.add(f"brier_skill/{label}", 1 - bs / ref)
                else:
                    what = "never" if clim == 0 else "always"
                    res.add_undefined(
                        f"brier_skill/{label}",
                        f"the event {what} happens in the observations (no climatological skill)",
                    )
                curve = np.stack(es.reliability_curve(rel)).astype(float)
                res.maps[f"reliability/{label}"] = curve
                curves[label] = curve
        if ctx.figures and curves:
            fig, axes = figures.new(1, 4.5, 4.2)
            ax = axes[0]
            ax.plot([0, 1], [0, 1], "k:", lw=0.8)
            for label, (fp, of, cnt) in curves.items():
                ok = cnt > 0
                ax.plot(fp[ok], of[ok], marker="o", ms=3, label=label)
            ax.set_xlabel("forecast probability")
            ax.set_ylabel("observed frequency")
            ax.legend(fontsize=6)
            res.figures["reliability"] = fig
        return res


@hookimpl
def gensemble_metrics() -> list[type]:
    return [CRPS, SpreadSkill, RankHistogram, Brier]

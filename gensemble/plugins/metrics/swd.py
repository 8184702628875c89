"""Multi-scale sliced Wasserstein distance (Karras et al. 2018; Brochet et al. 2023).

Each image goes through a Laplacian pyramid (5-tap binomial kernel, down to ``min_res``);
at every level ``patches_per_image`` random 7x7 patches of all channels are drawn, the
descriptors are normalised per channel, projected on random unit directions and the
sorted projections of the two sets compared.  Reported x1e3 per level and averaged.

Choices (documented because published variants differ):
* fields are first standardised per channel with the real set's mean/std, and
  descriptors of both sets are normalised with the real descriptors' statistics: the
  original normalises each set by its own, which hides any bias in mean or variance;
* sample i of each set uses the same patch positions, so identical sets score exactly 0.
* where the real set does not vary (a constant channel, all-zero rain, a pyramid level
  without detail) its spread cannot scale the descriptors: the spread of both sets pooled
  is used instead, and when neither varies the two sets are the same constant and the
  difference is left unscaled - so a constant generator scores a large distance, never 0,
  and no division by a clamped 1e-12 inflates a score to 1e26.
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

LOG = logging.getLogger(__name__)


def _down_last(x: torch.Tensor) -> torch.Tensor:
    """Binomial [1 4 6 4 1]/16 blur along the last axis (reflect), kept at even points."""
    left, right = x[..., 1:3].flip(-1), x[..., -3:-1].flip(-1)  # reflect, as np "reflect"
    p = torch.cat([left, x, right], dim=-1)
    n = (x.shape[-1] + 1) // 2
    tap = [p[..., k : k + 2 * n - 1 : 2] for k in range(5)]
    return (tap[0] + tap[4] + 4.0 * (tap[1] + tap[3]) + 6.0 * tap[2]) / 16.0


def _up_last(d: torch.Tensor, n_out: int) -> torch.Tensor:
    """Zero insertion then blur x2 along the last axis, computed polyphase.

    Equal to inserting zeros, blurring with reflect padding and scaling by 2: even outputs
    are (d[i-1] + 6 d[i] + d[i+1]) / 8, odd ones (d[i] + d[i+1]) / 2, where the padding of
    the zero-inserted signal makes d[-1] = d[1] and d[h] = d[h-1].
    """
    left = d[..., 1:2] if d.shape[-1] > 1 else d[..., :1]
    p = torch.cat([left, d, d[..., -1:]], dim=-1)
    even = (p[..., :-2] + 6.0 * p[..., 1:-1] + p[..., 2:]) / 8.0
    odd = (p[..., 1:-1] + p[..., 2:]) / 2.0
    return torch.stack([even, odd], dim=-1).flatten(-2)[..., :n_out]


def downsample(x: torch.Tensor) -> torch.Tensor:
    """Blur with the 5-tap binomial kernel (Burt and Adelson 1983) and keep every 2nd point."""
    return _down_last(_down_last(x).transpose(-1, -2)).transpose(-1, -2)


def upsample(x: torch.Tensor, shape: tuple[int, int]) -> torch.Tensor:
    """Zero insertion then the binomial blur x4, cropped to shape (the pyramid's expand)."""
    y = _up_last(x, shape[1])
    return _up_last(y.transpose(-1, -2), shape[0]).transpose(-1, -2)


def laplacian_pyramid(x: torch.Tensor, min_res: int) -> list[torch.Tensor]:
    """Band-pass levels from fine to coarse; the last level is the low-pass residual."""
    levels = []
    current = x
    while min(current.shape[-2:]) // 2 >= min_res:
        down = downsample(current)
        up = upsample(down, current.shape[-2:])
        levels.append(current - up)
        current = down
    levels.append(current)
    return levels


def level_shapes(h: int, w: int, min_res: int) -> list[tuple[int, int]]:
    """Sizes of the pyramid levels :func:`laplacian_pyramid` builds for h x w images."""
    shapes = [(h, w)]
    while min(h, w) // 2 >= min_res:
        h, w = (h + 1) // 2, (w + 1) // 2
        shapes.append((h, w))
    return shapes


def _patches(level: torch.Tensor, ys: torch.Tensor, xs: torch.Tensor, size: int) -> torch.Tensor:
    """(n, C, h, w) level, (n, k) positions -> (n*k, C*size*size) descriptors."""
    win = level.unfold(2, size, 1).unfold(3, size, 1)  # n, C, h', w', s, s (a view)
    n, k = ys.shape
    rows = torch.arange(n, device=level.device)[:, None].expand(n, k)
    d = win[rows.reshape(-1), :, ys.reshape(-1), xs.reshape(-1)]
    return d.reshape(n * k, -1)


def _moments(x: torch.Tensor, dims: tuple[int, ...]) -> tuple[float, torch.Tensor, torch.Tensor]:
    """(count, sum, sum of squares) over ``dims`` in float64, 64 samples at a time."""
    total = sq = None
    for sl in chunks(x.shape[0], 64):
        b = x[sl].double()
        a, q = b.sum(dim=dims, keepdim=True), b.square().sum(dim=dims, keepdim=True)
        total, sq = (a, q) if total is None else (total + a, sq + q)
    count = x.numel() / total.numel()
    return count, total, sq


def _std(count: float, total: torch.Tensor, sq: torch.Tensor) -> torch.Tensor:
    var = (sq / count - (total / count).square()).clamp_min(0)
    return (var * count / max(count - 1, 1)).sqrt()


def robust_std(
    real: torch.Tensor, fake: torch.Tensor, dims: tuple[int, ...], scale: torch.Tensor
) -> torch.Tensor:
    """The real set's standard deviation over ``dims``; where it is ~0 (relative to
    ``scale``), that of both sets pooled; where that is ~0 too, 1."""
    tiny = 1e-6 * scale.double().clamp_min(1.0)
    nr, sr, qr = _moments(real, dims)
    nf, sf, qf = _moments(fake, dims)
    sd = _std(nr, sr, qr)
    pooled = _std(nr + nf, sr + sf.to(sr), qr + qf.to(qr))
    sd = torch.where(sd > tiny, sd, pooled)
    return torch.where(sd > tiny, sd, torch.ones_like(sd)).to(real.dtype)


class SlicedWasserstein(MetricPlugin):
    name = "swd"
    description = "multi-scale sliced Wasserstein distance on Laplacian-pyramid patches (x1e3)"

    class Options(PluginOptions):
        patch: int = Field(7, ge=1)
        patches_per_image: int = Field(128, ge=1)
        directions: int = Field(128, ge=1, description="directions per repeat")
        repeats: int = Field(4, ge=1)
        min_res: int = Field(16, ge=8, description="coarsest pyramid level size")
        chunk: int = Field(64, ge=1, description="images per pyramid batch")

    def descriptors(
        self, x: torch.Tensor, mean: torch.Tensor, std: torch.Tensor, ctx: EvalContext
    ) -> list[torch.Tensor]:
        """Per-level descriptor sets of a whole sample set, built chunk by chunk."""
        o = self.options
        gen = ctx.generator()  # same positions for sample i of either set
        per_level: list[list[torch.Tensor]] = []
        for sl in chunks(x.shape[0], o.chunk):
            batch = ((x[sl].to(ctx.device, torch.float32) - mean) / std).contiguous()
            for li, level in enumerate(laplacian_pyramid(batch, o.min_res)):
                h, w = level.shape[-2:]
                p = min(o.patch, h, w)
                n = level.shape[0]
                ys = torch.randint(0, h - p + 1, (n, o.patches_per_image), generator=gen)
                xs = torch.randint(0, w - p + 1, (n, o.patches_per_image), generator=gen)
                d = _patches(level, ys.to(level.device), xs.to(level.device), p)
                if li == len(per_level):
                    per_level.append([])
                per_level[li].append(d)
        return [torch.cat(parts) for parts in per_level]

    def compute(self, real: torch.Tensor, fake: torch.Tensor, ctx: EvalContext) -> MetricResult:
        o = self.options
        dims = (0, 2, 3)
        count, total, _ = _moments(real, dims)
        mean = total / count
        std = robust_std(real, fake, dims, mean.abs())
        mean, std = mean.to(ctx.device, torch.float32), std.to(ctx.device, torch.float32)
        d_real = self.descriptors(real, mean, std, ctx)
        d_fake = self.descriptors(fake, mean, std, ctx)
        gen = ctx.generator()
        res = MetricResult()
        values = []
        shapes = level_shapes(*real.shape[-2:], o.min_res)
        for level, (dr, df) in enumerate(zip(d_real, d_fake, strict=True)):
            c = real.shape[1]
            dr = dr.view(dr.shape[0], c, -1)
            df = df.view(df.shape[0], c, -1)
            mu = dr.mean(dim=(0, 2), keepdim=True)
            sd = robust_std(dr, df, (0, 2), torch.ones_like(mu))
            dr = ((dr - mu) / sd).reshape(dr.shape[0], -1)
            df = ((df - mu) / sd).reshape(df.shape[0], -1)
            total = 0.0
            for _ in range(o.repeats):
                theta = torch.randn(dr.shape[1], o.directions, generator=gen).to(dr)
                theta /= theta.norm(dim=0, keepdim=True)
                pr = sorted_columns(dr @ theta)
                pf = sorted_columns(df @ theta)
                total += float(w1_sorted(pr, pf).mean())
            value = total / o.repeats * 1e3
            h, w = shapes[level]
            res.add(f"swd/level{level}_{h}x{w}", value)
            values.append(value)
        res.add("swd/mean", sum(values) / len(values))
        return res


@hookimpl
def gensemble_metrics() -> list[type]:
    return [SlicedWasserstein]

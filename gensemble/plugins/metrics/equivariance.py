"""EQ-T (Karras et al. 2021, section 4): how well a generator's output follows a
translation of its input.  For latent draws, the input is translated by a random integer
number of output pixels (up to 1/8 of the grid on each axis) and the output compared
with the untranslated output shifted by the same amount, on their overlap less a border
of 1/16 of the grid: PSNR in dB with the peak-to-peak range 2 sigma (sigma: the
generation's standard deviation per channel, the normalised fields' counterpart of the
[-1, 1] images in the paper).  Needs the model's input transform (``InputTransform``);
a model without one gets the score undefined, with the reason.
"""

from __future__ import annotations

import logging
import math

import torch
from pydantic import Field

from gensemble.api import (
    EvalContext,
    InputTransform,
    LatentAccess,
    MetricPlugin,
    MetricResult,
    PluginOptions,
    hookimpl,
)

LOG = logging.getLogger(__name__)


class EquivarianceOptions(PluginOptions):
    samples: int = Field(16, ge=1, description="latent draws")
    max_shift: float = Field(0.125, gt=0, le=0.5, description="largest shift, fraction of the grid")


def eq_t(model, n: int, max_shift: float, generator: torch.Generator) -> torch.Tensor:  # noqa: ANN001
    """(C,) EQ-T PSNR per channel of ``model`` (an InputTransform + LatentAccess)."""
    device = next(model.parameters()).device
    z = torch.randn(n, model.z_dim, generator=generator).to(device)
    with torch.no_grad():
        ws = model.map_z(z)
        base = model.synthesize(ws).double()
        h, w = base.shape[-2:]
        err = torch.zeros(base.shape[1], dtype=torch.float64, device=device)
        count = 0
        for i in range(n):
            dx = int(
                torch.randint(-int(max_shift * w), int(max_shift * w) + 1, (), generator=generator)
            )
            dy = int(
                torch.randint(-int(max_shift * h), int(max_shift * h) + 1, (), generator=generator)
            )
            out = model.synthesize_shifted(ws[i : i + 1], dx, dy).double()[0]
            ref = torch.roll(base[i], shifts=(dy, dx), dims=(-2, -1))
            by, bx = max(h // 16, 1), max(w // 16, 1)
            ys = slice(max(dy, 0) + by, h + min(dy, 0) - by)
            xs = slice(max(dx, 0) + bx, w + min(dx, 0) - bx)
            err += (out[:, ys, xs] - ref[:, ys, xs]).square().mean(dim=(1, 2))
            count += 1
        peak = 2 * base.std(dim=(0, 2, 3))
    return 10 * torch.log10(peak.square() / (err / count).clamp_min(1e-30))


class EquivarianceT(MetricPlugin):
    name = "eq_t"
    description = "translation equivariance of the generator (PSNR, dB; needs its input transform)"
    Options = EquivarianceOptions

    def compute(self, real: torch.Tensor, fake: torch.Tensor, ctx: EvalContext) -> MetricResult:
        res = MetricResult()
        model = ctx.model
        keys = [f"eq_t/{v}" for v in ctx.variables]
        if not (isinstance(model, InputTransform) and isinstance(model, LatentAccess)):
            arch = getattr(model, "architecture", "no model")
            for key in keys:
                res.add_undefined(key, f"{arch} exposes no input transform")
            return res
        psnr = eq_t(model, self.options.samples, self.options.max_shift, ctx.generator())
        for key, value in zip(keys, psnr.tolist(), strict=True):
            res.add(key, value if math.isfinite(value) else math.nan)
        res.add("eq_t/mean", float(psnr.mean()))
        return res


@hookimpl
def gensemble_metrics() -> list[type]:
    return [EquivarianceT]

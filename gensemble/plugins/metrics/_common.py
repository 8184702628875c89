"""Helpers shared by the built-in metrics: thresholds by variable and derived wind speed."""

from __future__ import annotations

import logging

import numpy as np
import torch
from pydantic import Field

from gensemble.api import PluginOptions, UserError

LOG = logging.getLogger(__name__)


def default_thresholds(variables: list[str]) -> dict[str, list[float]]:
    """Each variable's own verification thresholds, from its definition (the built-in
    ones follow reference/metrics.md: wind 1.39-11.11 m/s, t2m 278.15-303.15 K, rain
    1-50 mm/h; a partner's variable brings its own)."""
    from gensemble.data.variables import known_variables

    known = known_variables()
    return {v: list(known[v].thresholds) for v in variables if v in known and known[v].thresholds}


class ThresholdOptions(PluginOptions):
    """Options of the threshold-based scores (exceedance, Brier)."""

    thresholds: dict[str, list[float]] | None = Field(
        None, description="by variable (ff10 = 10 m wind speed); default: reference values"
    )


def with_wind_speed(x: torch.Tensor, variables: list[str]) -> tuple[torch.Tensor, list[str]]:
    """Append ff10 = |(u10, v10)| as a channel when both components are present."""
    if "u10" in variables and "v10" in variables and "ff10" not in variables:
        iu, iv = variables.index("u10"), variables.index("v10")
        ff = torch.hypot(x[..., iu, :, :], x[..., iv, :, :]).unsqueeze(-3)
        return torch.cat([x, ff], dim=-3), [*variables, "ff10"]
    return x, list(variables)


def thresholds_for(
    configured: dict[str, list[float]] | None, variables: list[str], metric: str
) -> dict[str, list[float]]:
    """Thresholds to use: configured ones (which must name known variables) or defaults."""
    if configured:
        unknown = sorted(set(configured) - set(variables))
        if unknown:
            raise UserError(
                f"metric {metric}: thresholds name {', '.join(unknown)}, not among the "
                f"variables {', '.join(variables)}"
            )
        for var, values in configured.items():
            labels = [thr_label(v) for v in values]
            if len(set(labels)) != len(labels):
                raise UserError(f"metric {metric}: thresholds of {var} repeat a value: {values}")
        return {k: list(v) for k, v in configured.items()}
    return default_thresholds(variables)


def thr_label(t: float) -> str:
    """Key part for threshold ``t``: its shortest exact decimal (280.0001 and 280.0002 stay
    apart; 5.0 is ``gt5``)."""
    return "gt" + np.format_float_positional(float(t), trim="-")


def center_crop(h: int, w: int, size: int) -> tuple[slice, slice]:
    sy, sx = min(size, h), min(size, w)
    y0, x0 = (h - sy) // 2, (w - sx) // 2
    return slice(y0, y0 + sy), slice(x0, x0 + sx)

"""Weather variables as the data layer uses them: looked up in the registry (the
``variable`` plugin kind), transformed for normalisation, described in CF files.

Readers map the names used by producers (met.no CF names, GRIB short names, the
prototype's channel order) onto canonical names through each variable's ``aliases``.
"""

from __future__ import annotations

import logging
import re

import numpy as np
import torch

from gensemble.api.variables import Variable
from gensemble.core.errors import UserError
from gensemble.core.registry import get_registry, unknown_name_message

LOG = logging.getLogger(__name__)

#: logit inputs are kept this far inside (0, 1)
LOGIT_EPS = 1e-4

__all__ = [
    "Variable",
    "cf_attrs",
    "forward_transform",
    "get_variable",
    "known_variables",
    "transform_forward",
    "transform_inverse",
]


def known_variables() -> dict[str, Variable]:
    """Every registered variable by name (built-in and partners')."""
    return {v.name: v for v in get_registry().all("variable")}


def get_variable(name: str) -> Variable:
    known = known_variables()
    if name not in known:
        raise UserError(unknown_name_message("variable", name, sorted(known)))
    return known[name]


def cf_attrs(var: Variable | str, units: str | None = None) -> dict[str, str]:
    """netCDF attributes of a field on a grid with a ``crs`` grid-mapping variable.

    Registered variables get units and CF names; other fields (e.g. ERA5 t850) keep bare
    attributes unless ``units`` is given.
    """
    attrs = {"grid_mapping": "crs", "coordinates": "latitude longitude"}
    if isinstance(var, str):
        var = known_variables().get(var)  # type: ignore[assignment]
    if var is not None:
        attrs.update(units=var.units, long_name=var.long_name)
        if var.standard_name:
            attrs["standard_name"] = var.standard_name
    if units is not None:
        attrs["units"] = units
    return attrs


#: the prototype's rain transform: log(1 + x) applied N times; ``sym``: its inverse takes
#: |y| first (training on randomly sign-flipped rain); ``@c``: inverse values <= c are
#: zeroed (its noise-under-threshold option).  The inverse does not clamp, as there.
_ITERATED_LOG = re.compile(r"^(sym)?log1p\^(\d+)(?:@([0-9.eE+-]+))?$")


def iterated_log1p(n: int, symmetric: bool = False, cut: float = 0.0) -> str:
    """The transform name of the prototype's rain transform (see ``_ITERATED_LOG``)."""
    return f"{'sym' if symmetric else ''}log1p^{n}" + (f"@{cut!r}" if cut > 0 else "")


def transform_forward(x: torch.Tensor, transform: str, lo: float, hi: float) -> torch.Tensor:
    """Physical values to the space statistics and normalisation work in."""
    if transform == "log1p":
        return torch.log1p(x.clamp_min(0))
    if transform == "logit":
        p = ((x - lo) / (hi - lo)).clamp(LOGIT_EPS, 1 - LOGIT_EPS)
        return torch.log(p) - torch.log1p(-p)
    if m := _ITERATED_LOG.match(transform):
        x = x.clamp_min(0)
        for _ in range(int(m.group(2))):
            x = torch.log1p(x)
        return x
    return x


def transform_inverse(y: torch.Tensor, transform: str, lo: float, hi: float) -> torch.Tensor:
    if transform == "log1p":
        return torch.expm1(y).clamp_min(0)
    if transform == "logit":
        return lo + (hi - lo) * torch.sigmoid(y)
    if m := _ITERATED_LOG.match(transform):
        if m.group(1):
            y = y.abs()
        for _ in range(int(m.group(2))):
            y = torch.expm1(y)
        if m.group(3):
            y = y * (y > float(m.group(3)))
        return y
    return y


def forward_transform(values: np.ndarray, variables: list[Variable]) -> np.ndarray:
    """Apply each channel's transform (axis -3 is the variable axis)."""
    out = torch.from_numpy(np.array(values, dtype=np.float32, copy=True))
    for i, var in enumerate(variables):
        if var.transform != "none":
            lo, hi = var.valid_range
            out[..., i, :, :] = transform_forward(out[..., i, :, :], var.transform, lo, hi)
    return out.numpy()

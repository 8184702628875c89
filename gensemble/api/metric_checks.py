"""One place every metric goes through: input checks and the degenerate-case policy.

:class:`~gensemble.api.plugins.MetricPlugin` wraps every subclass's ``compute`` with
:func:`checked_compute`, so the rules hold whether a metric is run by ``gensemble
evaluate``, the training loop, the event verification or a partner's own code.

The policy:

* **Invalid input is refused** (:class:`~gensemble.core.errors.UserError`, one line naming
  the metric): fields that are not (N, C, H, W) (or (K, M, C, H, W) ensembles for the
  ensemble scores), a channel count that differs from the context's variables, real and
  generated grids of different size, and NaN/inf values.
* **A score that is undefined for valid input is NaN, with its reason**: one member for a
  fair CRPS or a spread, constant fields for a spectrum or a correlation length, zero
  spread and zero error for a spread-skill ratio, no event for a frequency bias.  The
  reason is kept in ``MetricResult.undefined``, a :class:`DegenerateMetricWarning` names
  it, the evaluation table prints it instead of a number, and it is saved beside the
  scores (``undefined.json``); nothing undefined is logged to MLflow as a number.
* A metric that returns inf or NaN without saying why gets the generic reason "not
  finite", so no sentinel value (1e300, inf) ever passes as a score.
"""

from __future__ import annotations

import functools
import logging
import math
import warnings
from collections.abc import Callable
from typing import Any

import torch

from gensemble.core.errors import UserError

LOG = logging.getLogger(__name__)


class DegenerateMetricWarning(UserWarning):
    """A score is undefined for the input it was given (it is NaN, with a reason)."""


def _first_bad(x: torch.Tensor) -> tuple[int, tuple[int, ...]] | None:
    bad = ~torch.isfinite(x)
    if not bool(bad.any()):
        return None
    return int(bad.sum()), tuple(int(i) for i in torch.nonzero(bad)[0])


def check_inputs(metric: Any, real: Any, fake: Any, ctx: Any) -> tuple[torch.Tensor, torch.Tensor]:
    """The two sample sets as tensors, or a one-line refusal naming the metric."""
    name = f"metric {getattr(metric, 'name', type(metric).__name__)}"
    real, fake = torch.as_tensor(real), torch.as_tensor(fake)
    variables = list(getattr(ctx, "variables", []))
    if real.ndim != 4:
        raise UserError(f"{name}: real fields must be (N, C, H, W), got {tuple(real.shape)}")
    ensemble_ok = getattr(metric, "accepts_ensembles", False)
    if fake.ndim == 5 and ensemble_ok:
        if fake.shape[0] != real.shape[0]:
            raise UserError(
                f"{name}: {fake.shape[0]} ensembles (K, M, C, H, W) for {real.shape[0]} "
                "observations"
            )
        field_shape = tuple(fake.shape[2:])
    elif fake.ndim == 4:
        field_shape = tuple(fake.shape[1:])
    else:
        want = "(N, C, H, W) or (K, M, C, H, W)" if ensemble_ok else "(N, C, H, W)"
        raise UserError(f"{name}: generated fields must be {want}, got {tuple(fake.shape)}")
    if variables and real.shape[1] != len(variables):
        raise UserError(
            f"{name}: real fields have {real.shape[1]} channels for {len(variables)} "
            f"variables ({', '.join(variables)})"
        )
    if field_shape[0] != real.shape[1]:
        raise UserError(
            f"{name}: generated fields have {field_shape[0]} channels, real ones {real.shape[1]}"
        )
    if field_shape[1:] != tuple(real.shape[2:]):
        raise UserError(
            f"{name}: generated fields are {field_shape[1]}x{field_shape[2]}, real ones "
            f"{real.shape[2]}x{real.shape[3]}"
        )
    if min(real.shape[0], fake.shape[0]) < 1:
        raise UserError(f"{name}: an empty sample set")
    checked = getattr(ctx, "checked", None)
    for what, x in (("real fields", real), ("generated fields", fake)):
        key = (id(x), x._version, tuple(x.shape))
        if checked is not None and key in checked:
            continue
        bad = _first_bad(x)
        if bad is not None:
            raise UserError(
                f"{name}: {what}: {bad[0]} NaN/inf values (first at index {bad[1]}); metrics "
                "need finite fields"
            )
        if checked is not None:
            checked.add(key)
    return real, fake


def apply_policy(metric: Any, result: Any) -> Any:
    """NaN with a reason for every non-finite scalar; warn once naming the reasons."""
    for key, value in list(result.scalars.items()):
        if not math.isfinite(value):
            reason = result.undefined.get(key) or f"not finite ({value})"
            result.add_undefined(key, reason)
    if result.undefined:
        reasons = sorted(set(result.undefined.values()))
        keys = ", ".join(sorted(result.undefined)[:4])
        more = f" and {len(result.undefined) - 4} more" if len(result.undefined) > 4 else ""
        warnings.warn(
            f"metric {getattr(metric, 'name', '?')}: {keys}{more} undefined: {'; '.join(reasons)}",
            DegenerateMetricWarning,
            stacklevel=3,
        )
    return result


def checked_compute(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Wrap a metric's ``compute`` with :func:`check_inputs` and :func:`apply_policy`."""
    if getattr(fn, "_gensemble_checked", False):
        return fn

    @functools.wraps(fn)
    def compute(self: Any, real: Any, fake: Any, context: Any) -> Any:
        real, fake = check_inputs(self, real, fake, context)
        return apply_policy(self, fn(self, real, fake, context))

    compute._gensemble_checked = True  # type: ignore[attr-defined]
    return compute

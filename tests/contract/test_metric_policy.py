"""Every registered metric (partners' too) follows the degenerate-input policy.

Run directly through ``compute`` on constant fields, all-zero rain, NaN-containing and
shape-mismatched inputs: invalid input is refused with a one-line UserError naming the
metric; otherwise every score is a finite, sane number or NaN with a reason.
"""

from __future__ import annotations

import math
import warnings

import pytest
import torch

from gensemble.api.metric_checks import DegenerateMetricWarning
from gensemble.api.metric_context import EvalContext
from gensemble.api.metric_result import MetricResult
from gensemble.core.errors import UserError
from gensemble.core.registry import get_registry

METRICS = get_registry().names("metric")
VARIABLES = ["rr", "u10", "v10", "t2m"]


def realistic(n: int, seed: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 4, 32, 32, generator=g)
    rr = torch.relu(x[:, 0] * 4 - 2)  # mm/h, dry at half the points
    return torch.stack([rr, 5 * x[:, 1], 5 * x[:, 2], 280 + 3 * x[:, 3]], dim=1)


def run(name: str, real: torch.Tensor, fake: torch.Tensor) -> MetricResult:
    plugin = get_registry().get("metric", name)()
    ctx = EvalContext(VARIABLES, figures=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DegenerateMetricWarning)
        return plugin.compute(real, fake, ctx)


def assert_policy(res: MetricResult) -> None:
    for key, value in res.scalars.items():
        if math.isnan(value):
            assert res.undefined.get(key), f"{key} is NaN without a reason"
        else:
            assert math.isfinite(value) and abs(value) < 1e12, (key, value)
            assert key not in res.undefined, key


@pytest.mark.parametrize("name", METRICS)
def test_constant_generated_fields(name: str) -> None:
    real = realistic(12, 0)
    const = real.mean(dim=(0, 2, 3), keepdim=True).expand(10, -1, 32, 32).contiguous()
    assert_policy(run(name, real, const))
    assert_policy(run(name, const, real))
    assert_policy(run(name, const, const.clone()))


@pytest.mark.parametrize("name", METRICS)
def test_all_zero_rain(name: str) -> None:
    real, fake = realistic(12, 0), realistic(10, 1)
    real[:, 0] = 0.0
    assert_policy(run(name, real, fake))
    fake[:, 0] = 0.0
    assert_policy(run(name, real, fake))


@pytest.mark.parametrize("name", METRICS)
def test_nan_inputs_are_refused(name: str) -> None:
    real, fake = realistic(12, 0), realistic(10, 1)
    bad = real.clone()
    bad[3, 2, 5, 7] = torch.nan
    with pytest.raises(UserError, match=f"metric {name}: real fields: 1 NaN/inf"):
        run(name, bad, fake)
    bad = fake.clone()
    bad[:, 0] = torch.inf
    with pytest.raises(UserError, match=f"metric {name}: generated fields: .* NaN/inf"):
        run(name, real, bad)


@pytest.mark.parametrize("name", METRICS)
def test_mismatched_shapes_are_refused(name: str) -> None:
    real, fake = realistic(12, 0), realistic(10, 1)
    for bad in (fake[..., :24], fake[:, :3], fake[0]):
        with pytest.raises(UserError, match=f"metric {name}: "):
            run(name, real, bad)
    with pytest.raises(UserError, match="channels for 4 variables"):
        run(name, real[:, :3], fake[:, :3])

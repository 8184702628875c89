"""Metrics on degenerate input: one test per defect found by the independent check.

Policy (gensemble.api.metric_checks): invalid input is refused in one line; a score
undefined for valid input is NaN with its reason, never a perfect or sentinel number.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
import scipy.stats
import torch

from gensemble.api.metric_checks import DegenerateMetricWarning
from gensemble.api.metric_context import EvalContext
from gensemble.core.errors import UserError
from gensemble.core.registry import get_registry
from gensemble.evaluation.ops import w1_sorted
from gensemble.plugins.metrics.correlation import length_scale_map


def metric(name: str, **options):  # noqa: ANN201
    return get_registry().get("metric", name)(options)


def ctx(*variables: str) -> EvalContext:
    return EvalContext(list(variables), figures=False)


def quiet(fn, *args):  # noqa: ANN001, ANN201
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DegenerateMetricWarning)
        return fn(*args)


def fields(n: int = 16, c: int = 1, h: int = 32, w: int = 32, seed: int = 0) -> torch.Tensor:
    return torch.randn(n, c, h, w, generator=torch.Generator().manual_seed(seed))


def test_1_spectrum_of_constant_fields_is_undefined_not_perfect() -> None:
    x = fields()
    with pytest.warns(DegenerateMetricWarning, match="constant in space"):
        res = metric("spectrum").compute(x, torch.zeros_like(x), ctx("t2m"))
    for key in ("spectrum_dct_lsd/t2m", "spectrum_fft_lsd/t2m"):
        assert math.isnan(res.scalars[key]) and "generated fields" in res.undefined[key]
    res = quiet(metric("spectrum").compute, torch.full_like(x, 3.0), x, ctx("t2m"))
    assert "real fields" in res.undefined["spectrum_dct_lsd/t2m"]
    assert metric("spectrum").compute(x, 2 * x, ctx("t2m")).scalars["spectrum_dct_lsd/t2m"] > 0.5


def test_2_corr_length_of_constant_fields_is_undefined_not_1e300() -> None:
    x = fields(c=1) * 3 + 280
    res = quiet(metric("corr_length").compute, x, torch.full_like(x, 280.0), ctx("t2m"))
    assert math.isnan(res.scalars["corr_length/t2m"])
    assert "generated fields do not vary" in res.undefined["corr_length/t2m"]
    assert math.isnan(res.scalars["corr_length_fake_mean/t2m"])
    assert 0 < res.scalars["corr_length_real_mean/t2m"] < 100
    assert all(abs(v) < 1e10 for v in res.scalars.values() if math.isfinite(v))


def test_3_swd_with_constant_real_fields_stays_finite_and_sane() -> None:
    x = fields(c=2)
    const = torch.full_like(x, 5.0)
    res = metric("swd").compute(const, x, ctx("u10", "v10"))
    assert 10 < res.scalars["swd/mean"] < 1e5  # was ~8e26 (std clamped to 1e-12)
    assert metric("swd").compute(const, const.clone(), ctx("u10", "v10")).scalars["swd/mean"] == 0
    assert metric("swd").compute(x, torch.zeros_like(x), ctx("u10", "v10")).scalars["swd/mean"] > 10


def test_4_fair_crps_is_undefined_for_one_member() -> None:
    obs, one = fields(n=4), fields(n=1, seed=1)
    with pytest.warns(DegenerateMetricWarning, match="at least 2 members"):
        res = metric("crps").compute(obs, one, ctx("t2m"))
    assert math.isnan(res.scalars["crps_fair/t2m"]) and math.isfinite(res.scalars["crps/t2m"])
    two = metric("crps").compute(obs, fields(n=2, seed=1), ctx("t2m"))
    assert math.isfinite(two.scalars["crps_fair/t2m"])


def test_5_spread_skill_zero_over_zero_and_zero_error() -> None:
    obs = torch.ones(3, 1, 4, 4)
    res = quiet(metric("spread_skill").compute, obs, torch.ones(5, 1, 4, 4), ctx("t2m"))
    assert math.isnan(res.scalars["spread_skill_ratio/t2m"])
    assert "0/0" in res.undefined["spread_skill_ratio/t2m"]
    # members spread around an ensemble mean equal to every observation
    ens = torch.stack([torch.zeros(1, 4, 4), 2 * torch.ones(1, 4, 4)])
    res = quiet(metric("spread_skill").compute, obs, ens, ctx("t2m"))
    assert "no error" in res.undefined["spread_skill_ratio/t2m"]
    with pytest.raises(UserError, match="NaN"):  # NaN skill: the input is refused
        metric("spread_skill").compute(obs * torch.nan, ens, ctx("t2m"))
    res = quiet(metric("spread_skill").compute, obs, ens[:1], ctx("t2m"))
    assert "2 members" in res.undefined["spread/t2m"]


def _rotated_gaussian_fields(n: int, size: int, l1: float, l2: float, angle: float):  # noqa: ANN202
    """Fields with correlation exp(-r' S^-1 r / 2), S = R diag(l1^2, l2^2) R'."""
    rng = np.random.default_rng(0)
    c, s = np.cos(angle), np.sin(angle)
    rot = np.array([[c, -s], [s, c]])
    sigma = rot @ np.diag([l1**2, l2**2]) @ rot.T
    ky = np.fft.fftfreq(size)[:, None]
    kx = np.fft.fftfreq(size)[None, :]
    quad = sigma[0, 0] * kx**2 + 2 * sigma[0, 1] * kx * ky + sigma[1, 1] * ky**2
    amp = np.exp(-(np.pi**2) * quad)
    f = np.fft.ifft2(np.fft.fft2(rng.standard_normal((n, size, size))) * amp).real
    return torch.from_numpy((f / f.std()).astype(np.float32)), sigma


def test_6_corr_length_uses_the_full_metric_tensor() -> None:
    """L = 1 / (0.5 tr sqrt(g)) with g = S^-1 for a Gaussian correlation; for l1 = 12,
    l2 = 4 rotated by 45 degrees, L = 6 points, while the diagonal alone gives 5.37."""
    x, sigma = _rotated_gaussian_fields(96, 128, 12.0, 4.0, np.pi / 4)
    g = np.linalg.inv(sigma)
    eig = np.linalg.eigvalsh(g)
    expected = 1.0 / (0.5 * np.sqrt(eig).sum())
    diagonal_only = 1.0 / (0.5 * (np.sqrt(g[0, 0]) + np.sqrt(g[1, 1])))
    assert abs(diagonal_only - expected) / expected > 0.08
    got = float(length_scale_map(x, 1.0).mean())
    assert got == pytest.approx(expected, rel=0.04)


def test_7_w1_with_unequal_sizes_is_exact_in_float64() -> None:
    rng = np.random.default_rng(3)
    for n, m in ((3, 7), (1000, 999), (997, 1000)):
        a, b = np.sort(rng.normal(size=n)), np.sort(rng.normal(size=m) + 0.1)
        got = float(w1_sorted(torch.tensor(a)[None], torch.tensor(b)[None])[0])
        assert got == pytest.approx(scipy.stats.wasserstein_distance(a, b), rel=1e-13)


def test_8_threshold_labels_keep_close_thresholds_apart() -> None:
    x = fields(c=1) + 280.0
    res = metric("exceedance", thresholds={"t2m": [280.0001, 280.0002]}).compute(
        x, x.clone(), ctx("t2m")
    )
    assert "exceedance_real/t2m/gt280.0001" in res.scalars
    assert "exceedance_real/t2m/gt280.0002" in res.scalars
    assert (
        "exceedance_real/rr/gt5"
        in metric("exceedance").compute(fields().abs(), fields(seed=1).abs(), ctx("rr")).scalars
    )
    with pytest.raises(UserError, match="repeat a value"):
        metric("brier", thresholds={"t2m": [280.0, 280.0]}).compute(x, x, ctx("t2m"))


def test_9_direct_compute_validates_its_inputs() -> None:
    obs, ens = fields(n=4, c=2), fields(n=6, c=2, seed=1)
    nan_obs = torch.full_like(obs, torch.nan)
    for name in ("rank_histogram", "brier", "exceedance", "fss", "hist2d", "crps"):
        with pytest.raises(UserError, match=f"metric {name}: real fields: .* NaN"):
            metric(name).compute(nan_obs, ens, ctx("u10", "v10"))
    with pytest.raises(UserError, match="generated fields are 16x32, real ones 32x32"):
        metric("w1").compute(obs, ens[..., :16, :], ctx("u10", "v10"))
    with pytest.raises(UserError, match="1 channels, real ones 2"):
        metric("swd").compute(obs, ens[:, :1], ctx("u10", "v10"))
    with pytest.raises(UserError, match="2 channels for 3 variables"):
        metric("quantiles").compute(obs, ens, ctx("u10", "v10", "t2m"))
    with pytest.raises(UserError, match=r"must be \(N, C, H, W\)"):
        metric("w1").compute(obs[0], ens, ctx("u10", "v10"))
    per_obs = fields(n=4 * 3, c=2).reshape(4, 3, 2, 32, 32)  # (K, M, C, H, W) is fine
    assert "crps/u10" in metric("crps").compute(obs, per_obs, ctx("u10", "v10")).scalars


def test_evaluate_table_and_files_show_undefined_scores(tmp_path) -> None:  # noqa: ANN001
    import io
    import json

    from rich.console import Console

    from gensemble.evaluation.runner import print_table, run_metrics, save_result

    x = fields(c=1)
    plugins = [metric("spectrum"), metric("w1")]
    result, _ = quiet(run_metrics, plugins, x, torch.zeros_like(x), ctx("t2m"))
    out = io.StringIO()
    print_table(result, console=Console(file=out, width=200))
    assert "undefined: generated fields are constant" in out.getvalue()
    save_result(result, tmp_path)
    scalars = json.loads((tmp_path / "scalars.json").read_text())
    assert scalars["spectrum_dct_lsd/t2m"] is None and scalars["w1_mean/t2m"] > 0
    assert "spectrum_dct_lsd/t2m" in json.loads((tmp_path / "undefined.json").read_text())
    assert "eval/spectrum_dct_lsd/t2m" not in result.tracked_scalars()

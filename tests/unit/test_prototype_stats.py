"""The prototype's normalisation (dataset-handler YAML + stat files) as a Normalizer."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from scipy import ndimage

from gensemble.core.errors import UserError
from gensemble.data.prototype_stats import identity_normalizer, prototype_normalizer
from gensemble.data.variables import get_variable

VARS = [get_variable(n) for n in ("rr", "u10", "v10", "t2m")]
H, W = 6, 5


def _config(tmp: Path, kind: str, per_pixel: bool, n_log: int = 1, **rr) -> Path:
    cfg = {
        "stat_version": "rr",
        "rr_transform": {
            "log_transform_iteration": n_log,
            "symetrization": False,
            "gaussian_std": 0,
            **rr,
        },
        "normalization": {"type": kind, "per_pixel": per_pixel, "for_rr": {"blur_iteration": 2}},
    }
    path = tmp / "dataset_handler_config.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


def _physical(seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(3, 4, H, W)).astype(np.float32)
    x[:, 0] = rng.gamma(0.5, 4.0, size=(3, H, W))  # rain, mm/h
    x[:, 3] += 285.0
    return x


def test_mean_normalisation_is_the_prototypes(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    mean, c = rng.normal(size=8).astype(np.float32), rng.uniform(1, 3, 8).astype(np.float32)
    np.save(tmp_path / "mean_rr_log_log.npy", mean)
    np.save(tmp_path / "c_rr_log_log.npy", c)
    norm, described = prototype_normalizer(
        tmp_path, _config(tmp_path, "mean", False, n_log=2), VARS, (H, W)
    )
    x = _physical()
    # the prototype: rain log(1 + x) twice, then (x - mean) / (c / 0.95) on its var indices
    want = x.copy()
    want[:, 0] = np.log(1 + np.log(1 + want[:, 0]))
    idx = [0, 1, 2, 3]
    stds = c[idx] * np.float32(1 / 0.95)
    want = (want - mean[idx][None, :, None, None]) / stds[None, :, None, None]
    got = norm.forward(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)
    # its post-processing: x * c' + mean, then exp(x) - 1 as many times (no clamping)
    back = norm.inverse(torch.from_numpy(want)).numpy()
    np.testing.assert_allclose(back, x, rtol=1e-4, atol=1e-4)
    neg = norm.inverse(torch.full((1, 4, H, W), -5.0))[0, 0]
    assert float(neg.max()) < 0  # negative rain stays as the prototype leaves it
    assert described["files"] == ["mean_rr_log_log.npy", "c_rr_log_log.npy"]


def test_per_pixel_minmax_with_blur_and_older_file_names(tmp_path: Path) -> None:
    rng = np.random.default_rng(2)
    lo = rng.uniform(-2, 0, (8, H, W)).astype(np.float32)
    hi = lo + rng.uniform(1, 4, (8, H, W)).astype(np.float32)
    np.save(tmp_path / "max_rr_log_ppx.npy", hi)
    np.save(tmp_path / "min_rr_log_ppx.npy", lo)
    norm, described = prototype_normalizer(
        tmp_path, _config(tmp_path, "minmax", True), VARS, (H, W)
    )
    assert described["per_pixel"] and described["blur_iteration"] == 2
    k = np.outer([1, 4, 6, 4, 1], [1, 4, 6, 4, 1]).astype(np.float32) / 256
    hi_sel, lo_sel = hi[:4].copy(), lo[:4]
    for _ in range(2):
        hi_sel[0] = ndimage.convolve(hi_sel[0], k, mode="mirror")
    x = _physical(3)
    want = x.copy()
    want[:, 0] = np.log(1 + want[:, 0])
    want = -1 + 2 * (want - lo_sel) / (hi_sel - lo_sel)
    np.testing.assert_allclose(
        norm.forward(torch.from_numpy(x)).numpy(), want, rtol=1e-4, atol=1e-4
    )


def test_symmetrised_rain_and_threshold_in_the_inverse(tmp_path: Path) -> None:
    np.save(tmp_path / "Q99_rr.npy", np.full(8, 2.0, np.float32))
    np.save(tmp_path / "Q01_rr.npy", np.full(8, -1.0, np.float32))
    cfg = _config(tmp_path, "quant", False, n_log=0, symetrization=True, gaussian_std=0.4)
    norm, _ = prototype_normalizer(tmp_path, cfg, VARS, (H, W))
    y = torch.tensor([0.1, -0.5, 0.0, 0.5]).view(1, 4, 1, 1).expand(1, 4, H, W)
    rain = norm.inverse(y.contiguous())[0, 0, 0, 0]
    # min(rr) = -max(rr) under symmetrisation (0.1 -> 0.2 mm/h); |x|, then zeroes <= 0.5
    assert float(rain) == pytest.approx(0.0)
    assert float(norm.inverse(torch.full((1, 4, H, W), 0.9))[0, 0, 0, 0]) == pytest.approx(1.8)


def test_refusals_name_the_problem(tmp_path: Path) -> None:
    cfg = _config(tmp_path, "mean", True)
    with pytest.raises(UserError, match="mean_rr_log_ppx.npy"):
        prototype_normalizer(tmp_path, cfg, VARS, (H, W))
    np.save(tmp_path / "mean_rr_log_ppx.npy", np.zeros((8, 7, 7), np.float32))
    np.save(tmp_path / "std_rr_log_ppx.npy", np.ones((8, 7, 7), np.float32))
    with pytest.raises(UserError, match="7x7 points"):
        prototype_normalizer(tmp_path, cfg, VARS, (H, W))
    bad = np.ones((8, H, W), np.float32)
    bad[2, 1, 1] = np.nan
    np.save(tmp_path / "mean_rr_log_ppx.npy", bad)
    np.save(tmp_path / "std_rr_log_ppx.npy", np.ones((8, H, W), np.float32))
    with pytest.raises(UserError, match="NaN"):
        prototype_normalizer(tmp_path, cfg, VARS, (H, W))
    with pytest.raises(UserError, match="rr first"):
        prototype_normalizer(tmp_path, cfg, VARS[1:] + VARS[:1], (H, W))
    (tmp_path / "broken.yaml").write_text(
        "normalization: {type: zscore}\nrr_transform: {log_transform_iteration: 1}\n"
    )
    with pytest.raises(UserError, match="zscore"):
        prototype_normalizer(tmp_path, tmp_path / "broken.yaml", VARS, (H, W))


def test_identity_leaves_fields_alone() -> None:
    x = torch.randn(2, 4, H, W)
    norm = identity_normalizer(VARS)
    torch.testing.assert_close(norm.inverse(x), x)
    assert norm.state()[1]["mode"] == "identity"

"""The alias-free generator: the paper's layer schedule, rectangular grids, centre
alignment (translation equivariance measured numerically), filters, EQ-T and static
conditioning."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from gensemble.api.metric_context import EvalContext
from gensemble.core.registry import get_registry
from gensemble.plugins.architectures.stylegan3.schedule import build_schedule, lowpass
from gensemble.plugins.metrics.equivariance import eq_t

SMALL = {"z_dim": 16, "w_dim": 16, "num_layers": 6, "channel_base": 512, "channel_max": 16}


def _build(arch: str, options: dict, shape: tuple[int, int, int]):  # noqa: ANN202
    plugin = get_registry().get("architecture", arch)
    torch.manual_seed(0)
    return plugin(options).build(*shape)


def test_256_schedule_is_the_papers() -> None:
    s = build_schedule(256, 256, 4)
    sizes = [layer.out_size[0] for layer in s.layers]
    assert s.input_size == (36, 36)
    assert sizes == [36, 36, 36, 52, 52, 84, 84, 148, 148, 148, 276, 276, 276, 256, 256]
    assert [layer.out_channels for layer in s.layers][-6:] == [362, 256, 181, 128, 128, 4]
    assert [layer.out_rate for layer in s.layers][-3:] == [256, 256, 256]
    critical = [layer.index for layer in s.layers if layer.critical and not layer.torgb]
    assert critical == [12, 13]
    assert all((layer.up, layer.down) in ((2, 2), (4, 2)) for layer in s.layers[:-1])


def test_rectangular_schedule_sizes_every_axis() -> None:
    s = build_schedule(128, 192, 3)
    assert s.output_rate == 256
    assert s.layers[-1].out_size == s.layers[-2].out_size == (128, 192)
    for layer in s.layers[:-2]:
        h, w = layer.out_size
        assert h % 2 == 0 and w % 2 == 0 and h < w  # even, margins included, per axis
    # an odd grid (a MEPS crop) still aligns
    odd = build_schedule(45, 61, 2, num_layers=6, channel_base=512, channel_max=16)
    assert odd.layers[-1].out_size == (45, 61)


def test_lowpass_filters() -> None:
    f = lowpass(12, 8.0, 4.0, 64.0)
    assert f.shape == (12,) and float(f.sum()) == pytest.approx(1.0, abs=1e-6)
    assert torch.allclose(f, f.flip(0))
    r = lowpass(12, 8.0, 4.0, 64.0, radial=True)
    assert r.shape == (12, 12) and float(r.sum()) == pytest.approx(1.0, abs=1e-6)
    assert torch.allclose(r, r.T) and torch.allclose(r, r.flip(0))
    # the response at the stopband is small: frequency response of the separable filter
    freqs = np.fft.rfftfreq(512, 1 / 64.0)
    resp = np.abs(np.fft.rfft(f.numpy(), 512))
    assert resp[freqs >= 12.0].max() < 0.05 and resp[0] == pytest.approx(1.0, abs=1e-6)


@pytest.mark.parametrize("config", ["T", "R"])
def test_translation_equivariance_on_a_rectangular_grid(config: str) -> None:
    """Translating the input by k output pixels translates the output by k pixels: the
    layers are centre-aligned on every axis of a non-square grid."""
    model = _build("stylegan3", {**SMALL, "config": config}, (2, 40, 72))
    ws = model.map_z(torch.randn(3, 16, generator=torch.Generator().manual_seed(1)))
    with torch.no_grad():
        base = model.synthesize(ws)
        peak = 2 * base.std()
        for dx, dy in ((2, 0), (0, 3), (-1, 2)):
            out = model.synthesize_shifted(ws, dx, dy)
            ref = torch.roll(base, (dy, dx), (-2, -1))
            inner = (slice(None), slice(None), slice(6, -6), slice(6, -6))
            psnr = 10 * torch.log10(peak**2 / (out - ref)[inner].square().mean())
            assert psnr > 45, (dx, dy, float(psnr))
            wrong = torch.roll(base, (dy, dx + 1), (-2, -1))  # one pixel off: far worse
            psnr_wrong = 10 * torch.log10(peak**2 / (out - wrong)[inner].square().mean())
            assert psnr_wrong < psnr - 15


def test_eq_t_metric_on_both_architectures() -> None:
    sg3 = _build("stylegan3", SMALL, (2, 32, 48))
    psnr = eq_t(sg3, 4, 0.125, torch.Generator().manual_seed(0))
    assert psnr.shape == (2,) and (psnr > 40).all()
    metric = get_registry().get("metric", "eq_t")({"samples": 2})
    x = torch.randn(4, 2, 32, 48)
    ctx = EvalContext(["u10", "v10"], model=sg3)
    assert metric.compute(x, x, ctx).scalars["eq_t/mean"] > 40
    from tests.conftest import TINY_ARCH

    sg2 = _build("stylegan2", TINY_ARCH, (2, 32, 48))
    with pytest.warns(UserWarning, match="no input transform"):
        res = metric.compute(x, x, EvalContext(["u10", "v10"], model=sg2))
    assert np.isnan(res.scalars["eq_t/u10"]) and "no input transform" in res.undefined["eq_t/u10"]


def test_static_conditioning_starts_neutral_and_then_uses_the_fields() -> None:
    plain = _build("stylegan3", SMALL, (2, 24, 40))
    cond = _build("stylegan3", {**SMALL, "static_fields": ["orog", "lsm"]}, (2, 24, 40))
    yy, xx = np.mgrid[:24, :40]
    cond.set_static_fields({"orog": (yy * 50.0 + xx), "lsm": (xx > 20).astype(float)})
    assert cond.G_ema.static.shape == (1, 2, 24, 40)
    assert cond.G_ema.static[0, 0].std() > 0.9  # standardised
    ws = plain.map_z(torch.randn(2, 16, generator=torch.Generator().manual_seed(2)))
    shared = {k: v for k, v in plain.G_ema.state_dict().items() if k != "static"}
    missing, _ = cond.G_ema.load_state_dict(shared, strict=False)
    assert missing and all("static" in k for k in missing)
    with torch.no_grad():
        torch.testing.assert_close(cond.synthesize(ws), plain.synthesize(ws))
        for layer in cond.G_ema.layers:
            layer.static.weight.normal_()
        assert not torch.allclose(cond.synthesize(ws), plain.synthesize(ws))

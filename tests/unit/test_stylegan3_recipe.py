"""StyleGAN3 against NVIDIA's recipe: the D blur ramp of config R, decays tied to the
batch size, float64 training with magnitude tracking, and filters exact in float64."""

from __future__ import annotations

import pytest
import torch

from gensemble.api.model import BatchRandom, StepContext
from gensemble.core.registry import get_registry
from gensemble.inference.loaded import build_model
from gensemble.plugins.architectures.gan.layers import gaussian_blur
from gensemble.plugins.architectures.stylegan3.kernels.filtered_lrelu import filtered_lrelu
from gensemble.plugins.architectures.stylegan3.schedule import lowpass

TINY = get_registry().get("architecture", "stylegan3").tiny_options


def _ctx(step: int, batch: int = 4) -> StepContext:
    return StepContext(step, BatchRandom(0), batch, lambda m: None)


def test_config_r_blurs_what_d_sees_and_fades_it_out() -> None:
    r = build_model("stylegan3", dict(TINY, config="R"), [2, 16, 16])
    t = build_model("stylegan3", TINY, [2, 16, 16])
    fade_steps = int(200 * 4 / 32 * 1000 / 4)  # 200 x batch / 32 kimg, in steps of 4
    assert r.d_blur_sigma(_ctx(0)) == pytest.approx(10.0)
    assert 0 < r.d_blur_sigma(_ctx(fade_steps // 2)) < 10
    assert r.d_blur_sigma(_ctx(fade_steps)) == 0.0
    assert t.d_blur_sigma(_ctx(0)) == 0.0
    custom = build_model(
        "stylegan3", dict(TINY, d_blur_sigma=2.0, d_blur_fade_kimg=1.0), [2, 16, 16]
    )
    assert custom.d_blur_sigma(_ctx(125)) == pytest.approx(1.0)
    # the blur keeps a constant field and smooths a spike
    x = torch.zeros(1, 1, 16, 16)
    x[..., 8, 8] = 1.0
    y = gaussian_blur(x, 2.0)
    assert y.sum() == pytest.approx(1.0, rel=1e-5) and y.max() < 0.1
    torch.testing.assert_close(gaussian_blur(torch.ones(1, 1, 8, 8), 3.0), torch.ones(1, 1, 8, 8))


def test_magnitude_decay_follows_the_batch_size() -> None:
    """Half-life in images, as NVIDIA's recipe: a bigger batch moves the EMA further."""
    moved = {}
    for batch in (4, 16):
        m = build_model("stylegan3", TINY, [2, 16, 16])
        layer = m.G.layers[0]
        before = float(layer.magnitude_ema)
        m.generate(m.draw_ws(batch, _ctx(0, batch)), _ctx(0, batch), "G_main")
        moved[batch] = abs(float(layer.magnitude_ema) - before)
    assert moved[16] > moved[4] > 0


def test_float64_training_with_magnitude_tracking() -> None:
    m = build_model("stylegan3", dict(TINY, kernels="fast"), [2, 16, 16]).double()
    stats = m.train_step(torch.randn(4, 2, 16, 16, dtype=torch.float64), _ctx(0),
                         m.make_optimizers())  # fmt: skip
    assert all(torch.isfinite(v) for v in stats.values())
    assert m.G.layers[0].magnitude_ema.dtype == torch.float64


def test_filters_are_exact_in_float64_on_the_triton_path() -> None:
    """The taps are kept in float64 and the 2-D kernel is built in the compute dtype, so
    Triton agrees with the reference far below float32 rounding."""
    # 6 taps (not the network's 12): the interpreted Triton kernel's cost grows with the
    # product of the up- and down-filter footprints, and exactness does not depend on it
    fu = lowpass(6, 8.0, 4.0, 64.0)
    fd = lowpass(6, 8.0, 4.0, 64.0, radial=True)
    assert fu.dtype == fd.dtype == torch.float64
    x = torch.randn(1, 3, 10, 12, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    kw = dict(up=2, down=2, padding=(3, 3, 3, 3), clamp=None)
    ref = filtered_lrelu(x, fu, fd, None, impl="reference", **kw)
    tri = filtered_lrelu(x, fu, fd, None, impl="triton", **kw)
    torch.testing.assert_close(tri, ref, atol=1e-12, rtol=1e-12)
    # float32 compute casts the same taps: one rounding, as before
    x32 = filtered_lrelu(x.float(), fu, fd, None, impl="fast", **kw)
    torch.testing.assert_close(x32.double(), ref, atol=1e-5, rtol=1e-4)

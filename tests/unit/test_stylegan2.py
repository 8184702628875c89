"""StyleGAN2 plugin: shapes, demodulation, regularisers, learning signal, determinism."""

from __future__ import annotations

import pytest
import torch

from gensemble.api.model import BatchRandom, StepContext
from gensemble.core.registry import get_registry
from gensemble.plugins.architectures.gan.augment import augment
from gensemble.plugins.architectures.gan.layers import downsample2x
from gensemble.plugins.architectures.stylegan2.layers import ModulatedConv2d, upsample2x

TINY = {"z_dim": 16, "w_dim": 16, "mapping_layers": 2, "channel_base": 256, "channel_max": 16}


def build(channels: int, h: int, w: int, **extra):
    return get_registry().get("architecture", "stylegan2")({**TINY, **extra}).build(channels, h, w)


def ctx(step: int = 0, batch: int = 4, seed: int = 0) -> StepContext:
    return StepContext(step=step, rand=BatchRandom(seed), global_batch=batch, sync=lambda m: None)


@pytest.mark.parametrize("shape", [(4, 256, 256), (4, 440, 620), (3, 64, 96), (1, 37, 53)], ids=str)
def test_shapes_square_and_rectangular(shape: tuple[int, int, int]) -> None:
    torch.manual_seed(0)
    m = build(*shape)
    x = m.sample(2, torch.Generator().manual_seed(0))
    assert x.shape == (2, *shape)
    assert m.D(x).shape == (2, 1)
    assert torch.isfinite(x).all()


def test_default_size_matches_the_paper() -> None:
    m = get_registry().get("architecture", "stylegan2")({}).build(4, 256, 256)
    n_g = sum(p.numel() for p in m.G.parameters())
    assert 24e6 < n_g < 26e6  # StyleGAN2 at 256x256 with cbase 16384: ~24.8 M


def test_demodulation_gives_unit_variance() -> None:
    torch.manual_seed(0)
    conv = ModulatedConv2d(64, 64, 3, 32)
    x = torch.randn(8, 64, 32, 32)
    w = torch.randn(8, 32) * 3.0  # styles far from one
    y = conv(x, w)[..., 1:-1, 1:-1]  # borders see zero padding
    assert y.std().item() == pytest.approx(1.0, rel=0.1)
    plain = ModulatedConv2d(64, 64, 3, 32, demodulate=False)(x, w)
    assert abs(plain.std().item() - 1.0) > 0.3


def test_fir_resampling_is_consistent() -> None:
    x = torch.randn(2, 3, 8, 12)
    up = upsample2x(x)
    assert up.shape == (2, 3, 16, 24)
    torch.testing.assert_close(downsample2x(torch.ones(1, 1, 8, 8)), torch.ones(1, 1, 4, 4))
    torch.testing.assert_close(up.mean(), x.mean(), atol=1e-1, rtol=0)


def test_r1_and_path_length_have_gradients() -> None:
    torch.manual_seed(0)
    m = build(2, 32, 32, r1_interval=1, pl_interval=1, lr_g=0.002, lr_d=0.002)
    opt = m.make_optimizers()
    before = {k: v.clone() for k, v in m.G.mapping.state_dict().items()}
    logs = m.train_step(torch.randn(4, 2, 32, 32), ctx(), opt)
    assert logs["reg_r1"] > 0 and logs["reg_pl"] > 0
    assert float(m.pl_mean) > 0
    changed = [k for k, v in m.G.mapping.state_dict().items() if not torch.equal(v, before[k])]
    assert changed
    # the penalties alone produce gradients on their networks
    real = torch.randn(4, 2, 32, 32, requires_grad=True)
    (g,) = torch.autograd.grad(m.D(real).sum(), real, create_graph=True)
    g.square().sum().backward()
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in m.D.parameters())
    m.G.zero_grad()
    m._path_length(4, ctx()).backward()
    assert m.G.mapping.layers[0].weight.grad.abs().sum() > 0


def test_losses_move_when_overfitting_one_batch() -> None:
    torch.manual_seed(0)
    m = build(2, 32, 32, r1_interval=0, pl_interval=0, mixing_prob=0.0, lr_g=0.01, lr_d=0.01)
    opt = m.make_optimizers()
    real = torch.randn(4, 2, 32, 32) * 0.5 + 1.0
    losses = [m.train_step(real, ctx(step=i), opt)["loss_D"] for i in range(15)]
    assert losses[-1] < losses[0] - 0.05


def test_fixed_seed_is_deterministic_on_cpu() -> None:
    def run() -> dict[str, torch.Tensor]:
        torch.manual_seed(3)
        m = build(2, 32, 48, r1_interval=2, pl_interval=2, augment=True, augment_p=0.3)
        opt = m.make_optimizers()
        c = ctx(seed=5)
        for i in range(3):
            c.step = i
            m.train_step(torch.ones(4, 2, 32, 48), c, opt)
        return m.state_dict()

    a, b = run(), run()
    for k in a:
        assert torch.equal(a[k], b[k]), k


def test_augmentation_is_identity_at_p0_and_differentiable() -> None:
    x = torch.randn(4, 2, 24, 24, requires_grad=True)
    assert torch.equal(augment(x, 0.0, BatchRandom(0)), x)
    y = augment(x, 1.0, BatchRandom(0))
    assert not torch.equal(y, x)
    y.sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0


def test_truncation_pulls_towards_the_average() -> None:
    torch.manual_seed(0)
    m = build(1, 16, 16)
    m.G_ema.mapping.w_avg.normal_()
    z = torch.randn(6, 16)
    w_full = m.G_ema.ws_from_z(z, 1.0)
    w_half = m.G_ema.ws_from_z(z, 0.5)
    avg = m.G_ema.mapping.w_avg
    torch.testing.assert_close(w_half - avg, 0.5 * (w_full - avg))

"""The up-sampling modulated convolution as a stride-2 transposed convolution + FIR:
the same function class as up-sampling then convolving, a fraction of the FLOPs, and
older checkpoints never silently computed with the other one."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch.utils.flop_counter import FlopCounterMode

from gensemble.core.errors import UserError
from gensemble.inference.loaded import LoadedModel, build_model, check_architecture
from gensemble.plugins.architectures.stylegan2.layers import ModulatedConv2d
from tests.conftest import ROOT

FIXTURES = ROOT / "tests" / "fixtures" / "checkpoints"


def equivalent_kernel(weight: torch.Tensor) -> torch.Tensor:
    """The 6x6 kernel of up-sampling then convolving: the full convolution of the 3x3
    kernel with the [1 3 3 1] x [1 3 3 1] / 16 FIR (gain 4)."""
    g = torch.tensor([1.0, 3.0, 3.0, 1.0], dtype=torch.float64) / 4
    fir = torch.outer(g, g)
    out, inp = weight.shape[:2]
    k = torch.zeros(out, inp, 6, 6, dtype=torch.float64)
    for a in range(3):
        for b in range(3):
            k[:, :, a : a + 4, b : b + 4] += weight[:, :, a, b, None, None].double() * fir
    return k


def reference_upconv(x: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """float64: zero insertion, then one correlation with the equivalent 6x6 kernel, with
    zeros outside the field (half-pixel phase: output 2i is 3/4 x[i] + 1/4 x[i-1] before
    the 3x3 kernel)."""
    b, c, h, w = x.shape
    u = torch.zeros(b, c, 2 * h, 2 * w, dtype=torch.float64)
    u[..., ::2, ::2] = x.double()
    return F.conv2d(F.pad(u, (3, 2, 3, 2)), equivalent_kernel(weight))


def layer(mode: str, seed: int = 0) -> ModulatedConv2d:
    torch.manual_seed(seed)
    m = ModulatedConv2d(6, 5, 3, 8, demodulate=False, upsample=True, upsample_mode=mode)
    with torch.no_grad():
        m.affine.weight.zero_()  # style = bias = 1: the layer is a plain up-convolution
    return m


@pytest.mark.parametrize("shape", [(2, 6, 8, 8), (1, 6, 5, 7)], ids=str)
def test_transposed_equals_upsample_then_convolve_in_float64(shape: tuple) -> None:
    m = layer("transposed")
    x = torch.randn(*shape)
    got = m(x, torch.zeros(shape[0], 8))
    want = reference_upconv(x, m.weight * m.scale)
    assert got.shape == (shape[0], 5, 2 * shape[2], 2 * shape[3])
    torch.testing.assert_close(got.double(), want, atol=1e-5, rtol=1e-5)


def test_reference_is_upsample_then_convolve_away_from_the_border() -> None:
    x, w = torch.randn(1, 3, 8, 8, dtype=torch.float64), torch.randn(2, 3, 3, 3)
    up = F.interpolate(x, scale_factor=2.0, mode="bilinear", align_corners=False)
    direct = F.conv2d(up, w.double(), padding=1)
    torch.testing.assert_close(reference_upconv(x, w)[..., 2:-2, 2:-2], direct[..., 2:-2, 2:-2])


def test_same_interior_as_the_first_release_layer() -> None:
    """With the same weights, the two orders agree away from the border (the first
    release replicated edges before convolving)."""
    new, old = layer("transposed"), layer("resample_conv")
    old.load_state_dict(new.state_dict())
    x, w = torch.randn(2, 6, 10, 12), torch.randn(2, 8)
    a, b = new(x, w), old(x, w)
    torch.testing.assert_close(a[..., 2:-2, 2:-2], b[..., 2:-2, 2:-2], atol=1e-5, rtol=1e-5)
    assert not torch.allclose(a, b)  # but not at the border: another function


def test_demodulated_layer_gradients_flow() -> None:
    torch.manual_seed(0)
    m = ModulatedConv2d(4, 4, 3, 8, upsample=True)
    x = torch.randn(2, 4, 6, 6, requires_grad=True)
    m(x, torch.randn(2, 8)).square().sum().backward()
    assert x.grad is not None and m.weight.grad.abs().sum() > 0


def test_generator_flops_fall() -> None:
    options = {"channel_base": 1024, "channel_max": 64, "z_dim": 16, "w_dim": 16}
    flops = {}
    for mode in ("transposed", "resample_conv"):
        torch.manual_seed(0)
        model = build_model("stylegan2", {**options, "upsample": mode}, [4, 64, 64])
        with FlopCounterMode(display=False) as fc, torch.no_grad():
            model.sample(2, torch.Generator().manual_seed(0))
        flops[mode] = fc.get_total_flops()
    assert flops["transposed"] < 0.65 * flops["resample_conv"], flops


def test_older_checkpoints_keep_their_upsampling_and_are_never_misloaded() -> None:
    old = FIXTURES / "stylegan2-format3.safetensors"
    loaded = LoadedModel(old)
    assert loaded.model.options.upsample == "resample_conv"
    with pytest.raises(UserError, match="upsample=resample_conv.*upsample=transposed"):
        check_architecture(old, "stylegan2", {"upsample": "transposed"})
    check_architecture(old, "stylegan2", {"upsample": "resample_conv"})
    new = LoadedModel(FIXTURES / "stylegan2-format4.safetensors")
    assert new.model.options.upsample == "transposed"


def test_reduced_precision_generation_runs_and_is_clamped() -> None:
    """The GPU path's bf16 autocast, exercised on the CPU (CUDA runs it in fp16/bf16)."""
    torch.manual_seed(0)
    model = build_model("stylegan2", {"channel_base": 256, "channel_max": 16}, [4, 32, 48])
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
        x = model.sample(2, torch.Generator().manual_seed(0))
    ref = model.sample(2, torch.Generator().manual_seed(0))
    assert x.dtype == torch.float32 and torch.isfinite(x).all()
    assert float((x - ref).abs().mean()) < 0.1 * float(ref.abs().mean())
    conv = model.G_ema.blocks[1].conv0
    big = torch.full((1, conv.conv.weight.shape[1], 4, 6), 1e4, dtype=torch.bfloat16)
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
        out = conv(big, torch.zeros(1, model.G.w_dim), None)
    assert float(out.abs().max()) <= conv.conv_clamp


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_gpu_generation_matches_cpu() -> None:
    torch.manual_seed(0)
    model = build_model("stylegan2", {"channel_base": 256, "channel_max": 16}, [4, 32, 48])
    cpu = model.sample(2, torch.Generator().manual_seed(0))
    gpu = model.cuda().sample(2, torch.Generator().manual_seed(0), "cuda").cpu()
    torch.testing.assert_close(gpu, cpu, atol=1e-3, rtol=1e-3)


def test_compiled_networks_train_through_the_lazy_penalties_and_sample_alike() -> None:
    """torch.compile (here its aot_eager backend: no code generation in CI) wraps G's
    synthesis and D; R1 and path length keep the plain modules (double backward)."""
    from gensemble.api.model import BatchRandom, StepContext

    torch.manual_seed(0)
    opts = {
        "channel_base": 128,
        "channel_max": 8,
        "z_dim": 8,
        "w_dim": 8,
        "mapping_layers": 2,
        "r1_interval": 1,
        "pl_interval": 1,
    }
    model = build_model("stylegan2", opts, [2, 16, 24])
    before = model.sample(2, torch.Generator().manual_seed(1))
    assert model.compile_networks("aot_eager", training=True)
    torch.testing.assert_close(model.sample(2, torch.Generator().manual_seed(1)), before)
    opt = model.make_optimizers()
    ctx = StepContext(step=0, rand=BatchRandom(0), global_batch=4, sync=lambda m: None)
    logs = model.train_step(torch.randn(4, 2, 16, 24), ctx, opt)
    assert logs["reg_r1"] > 0 and logs["reg_pl"] > 0
    assert all(k.startswith(("G.", "G_ema.", "D.", "pl_", "ada_")) for k in model.state_dict())

"""The alias-free kernels against their float64 definitions: Triton (under
TRITON_INTERPRET=1 on the CPU, natively on a GPU) and the polyphase fast path, forward
and gradients of x and bias, on a grid of factors, filters, paddings (negative too),
odd rectangular shapes, clamps that fire, slopes, gains and flipped filters; the
adjoint identity; opcheck of the custom operators; a compiled layer without graph break."""

from __future__ import annotations

import itertools

import pytest
import torch

from gensemble.plugins.architectures.stylegan3.kernels import fast
from gensemble.plugins.architectures.stylegan3.kernels import reference as ref
from gensemble.plugins.architectures.stylegan3.kernels.filtered_lrelu import (
    filtered_lrelu,
    filtered_lrelu_op,
)
from gensemble.plugins.architectures.stylegan3.kernels.ops import (
    bias_act,
    resolve_impl,
    triton_available,
    upfirdn2d,
    upfirdn2d_op,
)

needs_triton = pytest.mark.skipif(not triton_available(), reason="triton is not installed")
CUDA = torch.cuda.is_available()


def _filter(taps: int, radial: bool, seed: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    shape = (taps, taps + 1) if radial else (taps,)  # 2-D filters need not be square
    return torch.rand(shape, generator=g, dtype=torch.float64) + 0.1


# (up, down, padding (x0, x1, y0, y1), 2-D filter, flip, shape (h, w))
CASES = [
    (1, 1, (0, 0, 0, 0), False, False, (5, 7)),
    (2, 1, (2, 1, -1, 2), False, True, (4, 5)),
    (1, 2, (1, 1, 0, 2), True, False, (7, 6)),
    (4, 1, (3, 2, 1, 4), False, False, (3, 5)),
    (1, 4, (-1, 2, 3, -2), False, True, (9, 11)),
    (2, 2, (-2, 1, 2, -1), True, True, (5, 4)),
    (4, 2, (1, -3, 0, 2), False, False, (3, 4)),
]


@needs_triton
@pytest.mark.parametrize("case", CASES, ids=lambda c: f"up{c[0]}-down{c[1]}-pad{c[2]}-2d{c[3]}")
def test_upfirdn2d_triton_and_fast_match_the_definition(case: tuple) -> None:
    up, down, pad, radial, flip, (h, w) = case
    torch.manual_seed(0)
    x = torch.randn(2, 3, h, w, dtype=torch.float64)
    f = _filter(2 * max(up, down) + 1, radial, 1)
    expected = ref.upfirdn2d_ref(x, f, up, down, pad, 1.5, flip)
    for impl in ("triton", "fast"):
        xi = x.clone().requires_grad_(True)
        got = upfirdn2d(xi, f, up, down, pad, 1.5, flip, impl=impl)
        torch.testing.assert_close(got, expected, rtol=1e-10, atol=1e-10)
        g = torch.randn_like(got)
        (got * g).sum().backward()
        xr = x.clone().requires_grad_(True)
        (ref.upfirdn2d_ref(xr, f, up, down, pad, 1.5, flip) * g).sum().backward()
        torch.testing.assert_close(xi.grad, xr.grad, rtol=1e-10, atol=1e-10)


FLRELU = [
    # up, down, pad, radial down filter, flip, shape, gain, slope, clamp
    (2, 2, (3, 2, 2, 3), False, False, (4, 5), 2**0.5, 0.2, 0.8),
    (4, 2, (-1, 2, 1, 0), False, True, (3, 4), 1.3, 0.1, None),
    (1, 1, (0, 0, 0, 0), False, False, (5, 3), 1.0, 1.0, 0.5),
    (2, 4, (4, 4, 3, 5), True, False, (5, 6), 2**0.5, 0.3, 0.6),
    (1, 2, (1, 0, 0, 1), True, True, (6, 5), 1.7, 0.2, None),
]


@needs_triton
@pytest.mark.parametrize("case", FLRELU, ids=lambda c: f"up{c[0]}-down{c[1]}-clamp{c[8]}")
def test_filtered_lrelu_triton_and_fast_match_the_composite(case: tuple) -> None:
    up, down, pad, radial, flip, (h, w), gain, slope, clamp = case
    torch.manual_seed(1)
    x = torch.randn(2, 3, h, w, dtype=torch.float64)
    b = torch.randn(3, dtype=torch.float64)
    fu = _filter(2 * up, False, 2) if up > 1 else torch.ones(1, dtype=torch.float64)
    fd = _filter(2 * down, radial, 3) if down > 1 else torch.ones(1, dtype=torch.float64)
    if radial:
        fd = fd[:, : fd.shape[0]]
    args = (fu, fd)
    kw = dict(up=up, down=down, padding=pad, gain=gain, slope=slope, clamp=clamp, flip=flip)
    xr, br = x.clone().requires_grad_(True), b.clone().requires_grad_(True)
    expected = ref.filtered_lrelu_ref(xr, *args, br, **kw)
    if clamp is not None:
        assert (expected.abs() > 0).all()
    g = torch.randn_like(expected)
    (expected * g).sum().backward()
    for impl in ("triton", "fast"):
        xi, bi = x.clone().requires_grad_(True), b.clone().requires_grad_(True)
        got = filtered_lrelu(xi, *args, bi, impl=impl, **kw)
        torch.testing.assert_close(got, expected, rtol=1e-10, atol=1e-10)
        (got * g).sum().backward()
        torch.testing.assert_close(xi.grad, xr.grad, rtol=1e-10, atol=1e-10)
        torch.testing.assert_close(bi.grad, br.grad, rtol=1e-10, atol=1e-10)


@needs_triton
def test_the_triton_state_is_the_fast_paths_and_clamped_samples_get_no_gradient() -> None:
    torch.manual_seed(2)
    x = torch.randn(1, 2, 4, 5, dtype=torch.float64) * 3
    fu = torch.tensor([0.25, 0.75, 0.75, 0.25], dtype=torch.float64)
    fd = fu.clone()
    geo = ([2, 2], [2, 2], [2, 2, 2, 2], 2**0.5, 0.2, 0.5, False)
    b = torch.zeros(2, dtype=torch.float64)
    out_t, state_t = filtered_lrelu_op(x, fu, fd, b, *geo, "triton")
    out_f, state_f = filtered_lrelu_op(x, fu, fd, b, *geo, "fast")
    torch.testing.assert_close(out_t, out_f)
    assert state_t.dtype == torch.uint8 and torch.equal(state_t, state_f)
    codes = fast.unpack_state(state_t, fast.intermediate_hw((4, 5), fu, 2, (2, 2, 2, 2))[1])
    assert (codes == 2).any() and (codes == 0).any() and (codes == 1).any()
    # without gradients the forward writes no state and gives the same output
    for impl in ("triton", "fast"):
        with torch.no_grad():
            plain = filtered_lrelu(x, fu, fd, b, 2, 2, (2, 2, 2, 2), clamp=0.5, impl=impl)
        torch.testing.assert_close(plain, out_t)
    # every intermediate sample clamped: no gradient reaches x
    xc = (torch.ones(1, 2, 4, 5, dtype=torch.float64) * 50).requires_grad_(True)
    for impl in ("triton", "fast"):
        y = filtered_lrelu(xc, fu, fd, None, 2, 2, (2, 2, 2, 2), clamp=0.5, impl=impl)
        (gx,) = torch.autograd.grad(y.sum(), xc)
        assert torch.count_nonzero(gx) == 0


def test_fast_path_adjoint_identity() -> None:
    """<J v, w> = <v, J^T w> for the polyphase filtered lrelu's backward at a point."""
    torch.manual_seed(3)
    for up, down in itertools.product((1, 2, 4), (1, 2)):
        x = torch.randn(2, 2, 5, 6, dtype=torch.float64)
        fu = _filter(2 * up, False, 4) if up > 1 else torch.ones(1, dtype=torch.float64)
        fd = _filter(2 * down, False, 5) if down > 1 else torch.ones(1, dtype=torch.float64)
        pad = (2, 1, 1, 2)
        out, state, _ = fast.filtered_lrelu_fwd(x, fu, fd, None, up, down, pad, 1.4, 0.2, None)
        v = torch.randn_like(x) * 1e-7  # small enough to keep every sign
        jv = (fast.filtered_lrelu_fwd(x + v, fu, fd, None, up, down, pad, 1.4, 0.2, None)[0]
              - out)  # fmt: skip
        w = torch.randn_like(out)
        jtw = fast.filtered_lrelu_bwd(w, state, fu, fd, (5, 6), up, down, pad, 1.4, 0.2)
        assert torch.isclose((jv * w).sum(), (v * jtw).sum(), rtol=1e-6)


@needs_triton
def test_bias_act_triton() -> None:
    torch.manual_seed(4)
    x = torch.randn(3, 5, 4, 3, dtype=torch.float64)
    b = torch.randn(5, dtype=torch.float64)
    for clamp in (None, 0.7):
        xt, bt = x.clone().requires_grad_(True), b.clone().requires_grad_(True)
        xr, br = x.clone().requires_grad_(True), b.clone().requires_grad_(True)
        y = bias_act(xt, bt, 0.1, 1.3, clamp, impl="triton")
        e = ref.bias_act_ref(xr, br, 0.1, 1.3, clamp)
        torch.testing.assert_close(y, e)
        g = torch.randn_like(e)
        (y * g).sum().backward()
        (e * g).sum().backward()
        torch.testing.assert_close(xt.grad, xr.grad)
        torch.testing.assert_close(bt.grad, br.grad)


def test_opcheck_and_compiled_layer_without_graph_break() -> None:
    torch.manual_seed(5)
    x = torch.randn(1, 2, 5, 4, dtype=torch.float64, requires_grad=True)
    f = _filter(4, False, 6)
    torch.library.opcheck(upfirdn2d_op, (x, f, [2, 2], [1, 1], [1, 2, 2, 1], 4.0, False, "fast"))
    b = torch.randn(2, dtype=torch.float64, requires_grad=True)
    flr_args = (x, f, f, b, [2, 2], [2, 2], [2, 2, 2, 2], 1.4, 0.2, 0.5, False, "fast")
    torch.library.opcheck(filtered_lrelu_op, flr_args, test_utils=(
        "test_schema", "test_autograd_registration", "test_faketensor"))  # fmt: skip

    from gensemble.core.registry import get_registry

    plugin = get_registry().get("architecture", "stylegan3")
    model = plugin(plugin.tiny_options).build(2, 12, 20)
    layer = model.G.layers[1]
    compiled = torch.compile(layer, fullgraph=True, backend="aot_eager")
    ws = torch.randn(2, 8)
    xin = torch.randn(2, layer.spec.in_channels, *layer.spec.in_size)
    torch.testing.assert_close(compiled(xin, ws), layer(xin, ws))


def test_selection_is_automatic_and_overridable(monkeypatch: pytest.MonkeyPatch) -> None:
    from gensemble.core.errors import UserError

    assert resolve_impl("auto", torch.device("cpu")) == "fast"
    with pytest.raises(ValueError, match="choose one of"):
        resolve_impl("cuda", torch.device("cpu"))
    if triton_available():  # Triton asked for on the CPU, outside the interpreter
        monkeypatch.delenv("TRITON_INTERPRET", raising=False)
        with pytest.raises(UserError, match="use kernels: auto or fast"):
            resolve_impl("triton", torch.device("cpu"))


@pytest.mark.skipif(not CUDA or not triton_available(), reason="needs a GPU and triton")
@pytest.mark.parametrize("dtype", [torch.float32, torch.float16, torch.bfloat16])
def test_gpu_kernels_in_low_precision(dtype: torch.dtype) -> None:
    tol = {torch.float32: 1e-4, torch.float16: 2e-2, torch.bfloat16: 6e-2}[dtype]
    torch.manual_seed(6)
    x = torch.randn(4, 37, 36, 36, device="cuda")
    b = torch.randn(37, device="cuda")
    fu = torch.tensor([0.1, 0.4, 0.4, 0.1] * 3, device="cuda")
    fu = fu / fu.sum()
    kw = dict(up=2, down=2, padding=(11, 10, 11, 10), clamp=2.0)
    expected = ref.filtered_lrelu_ref(x.double(), fu.double(), fu.double(), b.double(), **kw)
    xi = x.to(dtype).requires_grad_(True)
    got = filtered_lrelu(xi, fu, fu, b.to(dtype), impl="triton", **kw)
    torch.testing.assert_close(got.double(), expected, rtol=tol, atol=tol)
    got.float().sum().backward()
    xr = x.double().requires_grad_(True)
    ref.filtered_lrelu_ref(xr, fu.double(), fu.double(), b.double(), **kw).sum().backward()
    torch.testing.assert_close(xi.grad.double(), xr.grad, rtol=tol * 10, atol=tol * 10)

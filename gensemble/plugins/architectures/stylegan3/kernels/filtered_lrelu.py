"""The fused filtered leaky ReLU as a custom operator: (out, 2-bit state) forward, and a
backward operator that reads the state (see :mod:`.triton_kernels` and :mod:`.fast`).

``impl="reference"`` differentiates the materialised composite with autograd instead
(the definition every other path is tested against)."""

from __future__ import annotations

import logging

import torch

from gensemble.plugins.architectures.stylegan3.kernels import fast
from gensemble.plugins.architectures.stylegan3.kernels import reference as ref
from gensemble.plugins.architectures.stylegan3.kernels.ops import (
    BLOCK,
    _acc,
    _kernel,
    resolve_impl,
    triton_cdiv,
)

LOG = logging.getLogger(__name__)


def _geometry(x_hw, fu, fd, up, down, padding) -> dict:  # noqa: ANN001
    (ux, uy), (dx, dy) = ref.pair(up), ref.pair(down)
    tuh, tuw = ref.kernel2d(fu).shape
    tdh, tdw = ref.kernel2d(fd).shape
    zh, zw = fast.intermediate_hw(tuple(x_hw), fu, up, padding)
    oh, ow = (zh - tdh) // dy + 1, (zw - tdw) // dx + 1
    if min(zh, zw, oh, ow) <= 0:
        raise ValueError(f"filtered_lrelu: padding {padding} leaves no output for {x_hw}")
    return dict(ZH=zh, ZW=zw, ZWB=-(-zw // 4), OH=oh, OW=ow, TUH=tuh, TUW=tuw, TDH=tdh,
                TDW=tdw, UY=uy, UX=ux, DY=dy, DX=dx, PY0=padding[2], PX0=padding[0])  # fmt: skip


def _triton_fwd(x, fu, fd, b, up, down, padding, gain, slope, clamp, flip, write_state=True):  # noqa: ANN001, ANN202
    from gensemble.plugins.architectures.stylegan3.kernels import triton_kernels as tk

    x = (x + b.reshape(1, -1, 1, 1).to(x.dtype)).contiguous()
    n, c, h, w = x.shape
    geo = _geometry((h, w), fu, fd, up, down, padding)
    ku = _kernel(fu, flip, geo["UX"] * geo["UY"], x)
    kd = _kernel(fd, flip, 1.0, x)
    y = x.new_empty(n, c, geo["OH"], geo["OW"])
    state_hw = (geo["ZH"], geo["ZWB"]) if write_state else (0, 0)
    state = torch.empty(n, c, *state_hw, dtype=torch.uint8, device=x.device)
    work = max(geo["OH"] * geo["OW"], state_hw[0] * state_hw[1])
    par = torch.tensor([slope, gain, max(clamp, 0.0)], dtype=ku.dtype, device=x.device)
    tk.filtered_lrelu_fwd_kernel[(triton_cdiv(work, BLOCK), n * c)](
        x, ku, kd, y, state, par, h, w, *geo.values(),
        HAS_CLAMP=clamp >= 0, WRITE_STATE=write_state, BLOCK=BLOCK, ACC=_acc(x),
    )  # fmt: skip
    return y, state


def _triton_bwd(g, state, fu, fd, x_hw, up, down, padding, gain, slope, flip):  # noqa: ANN001, ANN202
    from gensemble.plugins.architectures.stylegan3.kernels import triton_kernels as tk

    g = g.contiguous()
    n, c = g.shape[:2]
    h, w = x_hw
    geo = _geometry((h, w), fu, fd, up, down, padding)
    ku = _kernel(fu, flip, geo["UX"] * geo["UY"], g)
    kd = _kernel(fd, flip, 1.0, g)
    gx = g.new_empty(n, c, h, w)
    levels = torch.tensor([gain, gain * slope, 0.0, 0.0], dtype=ku.dtype, device=g.device)
    tk.filtered_lrelu_bwd_kernel[(triton_cdiv(h * w, BLOCK), n * c)](
        g, state.contiguous(), ku, kd, gx, levels, h, w, *geo.values(),
        BLOCK=BLOCK, ACC=_acc(g),
    )  # fmt: skip
    return gx


def _out_like(x: torch.Tensor, shape: tuple, impl: str) -> torch.Tensor:
    """The output as each path lays it out: NCHW planes from Triton, channels-last from
    the PyTorch path (whose convolutions run fastest in it on the CPU)."""
    out = x.new_empty(shape)
    return out if impl == "triton" else out.contiguous(memory_format=torch.channels_last)


@torch.library.custom_op("gensemble_sg3::filtered_lrelu", mutates_args=())
def filtered_lrelu_op(
    x: torch.Tensor, fu: torch.Tensor, fd: torch.Tensor, b: torch.Tensor,
    up: list[int], down: list[int], padding: list[int],
    gain: float, slope: float, clamp: float, flip: bool, impl: str,
) -> tuple[torch.Tensor, torch.Tensor]:  # fmt: skip
    args = (x, fu, fd, b, tuple(up), tuple(down), tuple(padding), gain, slope, clamp, flip)
    if impl == "triton":
        return _triton_fwd(*args)
    out, state, _ = fast.filtered_lrelu_fwd(*args[:-2], clamp if clamp >= 0 else None, flip)
    return out, state


@filtered_lrelu_op.register_fake
def _(x, fu, fd, b, up, down, padding, gain, slope, clamp, flip, impl):  # noqa: ANN001, ANN202
    geo = _geometry(x.shape[-2:], fu, fd, up, down, padding)
    n, c = x.shape[:2]
    state = x.new_empty(n, c, geo["ZH"], geo["ZWB"], dtype=torch.uint8)
    return _out_like(x, (n, c, geo["OH"], geo["OW"]), impl), state


@torch.library.custom_op("gensemble_sg3::filtered_lrelu_infer", mutates_args=())
def filtered_lrelu_infer_op(
    x: torch.Tensor, fu: torch.Tensor, fd: torch.Tensor, b: torch.Tensor,
    up: list[int], down: list[int], padding: list[int],
    gain: float, slope: float, clamp: float, flip: bool, impl: str,
) -> torch.Tensor:  # fmt: skip
    """The forward alone, no state (generation, inversion targets without gradients)."""
    args = (x, fu, fd, b, tuple(up), tuple(down), tuple(padding), gain, slope, clamp, flip)
    if impl == "triton":
        return _triton_fwd(*args, write_state=False)[0]
    c = clamp if clamp >= 0 else None
    return fast.filtered_lrelu_fwd(*args[:-2], c, flip, state=False)[0]


@filtered_lrelu_infer_op.register_fake
def _(x, fu, fd, b, up, down, padding, gain, slope, clamp, flip, impl):  # noqa: ANN001, ANN202
    geo = _geometry(x.shape[-2:], fu, fd, up, down, padding)
    return _out_like(x, (*x.shape[:2], geo["OH"], geo["OW"]), impl)


@torch.library.custom_op("gensemble_sg3::filtered_lrelu_backward", mutates_args=())
def filtered_lrelu_backward_op(
    g: torch.Tensor, state: torch.Tensor, fu: torch.Tensor, fd: torch.Tensor,
    x_hw: list[int], up: list[int], down: list[int], padding: list[int],
    gain: float, slope: float, flip: bool, impl: str,
) -> torch.Tensor:  # fmt: skip
    args = (g, state, fu, fd, tuple(x_hw), tuple(up), tuple(down), tuple(padding), gain, slope)
    if impl == "triton":
        return _triton_bwd(*args, flip)
    return fast.filtered_lrelu_bwd(*args, flip).contiguous()


@filtered_lrelu_backward_op.register_fake
def _(g, state, fu, fd, x_hw, up, down, padding, gain, slope, flip, impl):  # noqa: ANN001, ANN202
    return g.new_empty(*g.shape[:2], *x_hw)


def _setup(ctx, inputs, output) -> None:  # noqa: ANN001
    x, fu, fd, b, up, down, padding, gain, slope, clamp, flip, impl = inputs
    ctx.save_for_backward(output[1], fu, fd)
    ctx.args = (list(x.shape[-2:]), up, down, padding, gain, slope, flip, impl)
    ctx.dtypes = (x.dtype, b.dtype)


def _backward(ctx, grad, _grad_state):  # noqa: ANN001, ANN202
    state, fu, fd = ctx.saved_tensors
    gx = filtered_lrelu_backward_op(grad, state, fu, fd, *ctx.args)
    gb = gx.sum(dim=(0, 2, 3)).to(ctx.dtypes[1])
    return gx.to(ctx.dtypes[0]), None, None, gb, None, None, None, None, None, None, None, None


filtered_lrelu_op.register_autograd(_backward, setup_context=_setup)


def filtered_lrelu(
    x: torch.Tensor,
    fu: torch.Tensor,
    fd: torch.Tensor,
    b: torch.Tensor | None = None,
    up: ref.Pair = 1,
    down: ref.Pair = 1,
    padding: tuple[int, int, int, int] = (0, 0, 0, 0),
    gain: float = 2**0.5,
    slope: float = 0.2,
    clamp: float | None = None,
    flip: bool = False,
    impl: str = "auto",
) -> torch.Tensor:
    """bias -> up (zero insertion + fu) -> gain -> leaky ReLU -> clamp -> fd -> down."""
    impl = resolve_impl(impl, x.device)
    if b is None:
        b = x.new_zeros(x.shape[1])
    # the filters in the accumulation precision (float64 runs keep exact taps)
    acc = torch.float64 if x.dtype == torch.float64 else torch.float32
    fu, fd = fu.to(x.device, acc), fd.to(x.device, acc)
    if impl == "reference":
        return ref.filtered_lrelu_ref(x, fu, fd, b, up, down, padding, gain, slope, clamp, flip)
    needs_grad = torch.is_grad_enabled() and (x.requires_grad or b.requires_grad)
    op = filtered_lrelu_op if needs_grad else filtered_lrelu_infer_op
    out = op(
        x, fu, fd, b.to(x.dtype), list(ref.pair(up)), list(ref.pair(down)),
        [int(p) for p in padding], float(gain), float(slope),
        -1.0 if clamp is None else float(clamp), bool(flip), impl,
    )  # fmt: skip
    return out[0] if needs_grad else out

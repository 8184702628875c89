"""The kernels as ``torch.library`` custom operators with autograd, and path selection.

Each operator takes ``impl``: ``triton`` (the fused kernels; on a CPU only under
``TRITON_INTERPRET=1``), ``fast`` (polyphase PyTorch) or ``reference`` (the step-by-step
definition).  ``auto`` picks Triton for CUDA tensors when it is installed, the fast path
otherwise.  Custom operators are opaque to ``torch.compile``, so a compiled synthesis
layer has no graph break, and ``torch.library.opcheck`` checks their registrations.
"""

from __future__ import annotations

import functools
import logging
import os

import torch

from gensemble.core.errors import UserError
from gensemble.plugins.architectures.stylegan3.kernels import fast
from gensemble.plugins.architectures.stylegan3.kernels import reference as ref

LOG = logging.getLogger(__name__)

IMPLS = ("auto", "triton", "fast", "reference")
BLOCK = 256


@functools.cache
def triton_available() -> bool:
    try:
        import triton  # noqa: F401
    except ImportError:
        return False
    return True


def resolve_impl(impl: str, device: torch.device) -> str:
    if impl not in IMPLS:
        raise ValueError(f"kernel implementation {impl!r}: choose one of {', '.join(IMPLS)}")
    if impl == "auto":
        return "triton" if device.type == "cuda" and triton_available() else "fast"
    if impl == "triton":
        if not triton_available():
            raise UserError(
                "stylegan3 kernels: 'triton' needs the triton package (pip install triton)"
            )
        if device.type != "cuda" and os.environ.get("TRITON_INTERPRET") != "1":
            raise UserError(
                "stylegan3 kernels: 'triton' runs on CUDA tensors (on the CPU only under "
                "TRITON_INTERPRET=1); use kernels: auto or fast"
            )
    return impl


def _kernel(f: torch.Tensor, flip: bool, gain: float, like: torch.Tensor) -> torch.Tensor:
    """The 2-D true-convolution kernel the Triton kernels take, gain folded, built in the
    accumulation precision (float64 for float64 inputs, else float32) from the taps."""
    dtype = torch.float64 if like.dtype == torch.float64 else torch.float32
    k = ref.kernel2d(f.to(device=like.device, dtype=dtype))
    k = k.flip(0, 1) if flip else k
    return (k * gain).contiguous()


def _acc(x: torch.Tensor):  # noqa: ANN202
    import triton.language as tl

    return tl.float64 if x.dtype == torch.float64 else tl.float32


def _upfirdn_shape(x: torch.Tensor, f: torch.Tensor, up, down, padding) -> tuple:  # noqa: ANN001
    (ux, uy), (dx, dy) = ref.pair(up), ref.pair(down)
    th, tw = ref.kernel2d(f).shape
    oh = ref.out_size(x.shape[-2], th, uy, dy, padding[2], padding[3])
    ow = ref.out_size(x.shape[-1], tw, ux, dx, padding[0], padding[1])
    return (*x.shape[:2], oh, ow)


def _triton_upfirdn(x, f, up, down, padding, gain, flip) -> torch.Tensor:  # noqa: ANN001
    from gensemble.plugins.architectures.stylegan3.kernels import triton_kernels as tk

    (ux, uy), (dx, dy) = ref.pair(up), ref.pair(down)
    x = x.contiguous()
    k = _kernel(f, flip, gain, x)
    n, c, h, w = x.shape
    y = x.new_empty(_upfirdn_shape(x, f, up, down, padding))
    oh, ow = y.shape[-2:]
    grid = (triton_cdiv(oh * ow, BLOCK), n * c)
    tk.upfirdn2d_kernel[grid](x, k, y, h, w, oh, ow, k.shape[0], k.shape[1], uy, ux, dy, dx,
                              padding[2], padding[0], BLOCK=BLOCK, ACC=_acc(x))  # fmt: skip
    return y


def triton_cdiv(a: int, b: int) -> int:
    return max(1, -(-a // b))


# -- upfirdn2d ----------------------------------------------------------------------------
@torch.library.custom_op("gensemble_sg3::upfirdn2d", mutates_args=())
def upfirdn2d_op(
    x: torch.Tensor,
    f: torch.Tensor,
    up: list[int],
    down: list[int],
    padding: list[int],
    gain: float,
    flip: bool,
    impl: str,
) -> torch.Tensor:
    args = (x, f, tuple(up), tuple(down), tuple(padding), gain, flip)
    if impl == "triton":
        return _triton_upfirdn(*args)
    if impl == "reference":
        return ref.upfirdn2d_ref(*args).contiguous()
    return fast.upfirdn2d_fast(*args).contiguous()


@upfirdn2d_op.register_fake
def _(x, f, up, down, padding, gain, flip, impl):  # noqa: ANN001, ANN202
    return x.new_empty(_upfirdn_shape(x, f, up, down, padding))


def _upfirdn_setup(ctx, inputs, output) -> None:  # noqa: ANN001
    x, f, up, down, padding, gain, flip, impl = inputs
    ctx.save_for_backward(f)
    ctx.args = (tuple(x.shape[-2:]), up, down, padding, gain, flip, impl)


def _upfirdn_backward(ctx, grad):  # noqa: ANN001, ANN202
    (f,) = ctx.saved_tensors
    in_hw, up, down, padding, gain, flip, impl = ctx.args
    (ux, uy), (dx, dy) = ref.pair(up), ref.pair(down)
    th, tw = ref.kernel2d(f).shape
    qx = fast.adjoint_padding(in_hw[1], grad.shape[-1], tw, ux, dx, padding[0])
    qy = fast.adjoint_padding(in_hw[0], grad.shape[-2], th, uy, dy, padding[2])
    gx = upfirdn2d_op(grad, f, [dx, dy], [ux, uy], [*qx, *qy], gain, not flip, impl)
    return gx, None, None, None, None, None, None, None


upfirdn2d_op.register_autograd(_upfirdn_backward, setup_context=_upfirdn_setup)


def upfirdn2d(x, f, up=1, down=1, padding=(0, 0, 0, 0), gain=1.0, flip=False, impl="auto"):  # noqa: ANN001, ANN201
    """Up-sample, FIR-filter, down-sample (see :mod:`.reference` for the definition)."""
    impl = resolve_impl(impl, x.device)
    return upfirdn2d_op(x, f.to(x.device), list(ref.pair(up)), list(ref.pair(down)),
                        [int(p) for p in padding], float(gain), bool(flip), impl)  # fmt: skip


# -- bias_act -----------------------------------------------------------------------------
def _triton_bias_act(x, b, g, slope, gain, clamp, backward) -> torch.Tensor:  # noqa: ANN001
    from gensemble.plugins.architectures.stylegan3.kernels import triton_kernels as tk

    x = x.contiguous()
    y = torch.empty_like(x)
    hw = x[0, 0].numel() if x.ndim > 2 else 1
    tk.bias_act_kernel[(triton_cdiv(x.numel(), BLOCK),)](
        x, b if b is not None else x, g.contiguous() if g is not None else x, y, x.numel(),
        x.shape[1], hw, slope, gain, clamp if clamp >= 0 else 0.0,
        HAS_BIAS=b is not None, HAS_CLAMP=clamp >= 0, BACKWARD=backward, BLOCK=BLOCK,
        ACC=_acc(x),
    )  # fmt: skip
    return y


@torch.library.custom_op("gensemble_sg3::bias_act", mutates_args=())
def bias_act_op(
    x: torch.Tensor, b: torch.Tensor, slope: float, gain: float, clamp: float, impl: str
) -> torch.Tensor:
    if impl == "triton":
        return _triton_bias_act(x, b, None, slope, gain, clamp, False)
    return ref.bias_act_ref(x, b, slope, gain, clamp if clamp >= 0 else None).contiguous()


@bias_act_op.register_fake
def _(x, b, slope, gain, clamp, impl):  # noqa: ANN001, ANN202
    return torch.empty_like(x)


@torch.library.custom_op("gensemble_sg3::bias_act_backward", mutates_args=())
def bias_act_backward_op(
    g: torch.Tensor, x: torch.Tensor, b: torch.Tensor, slope: float, gain: float,
    clamp: float, impl: str,
) -> torch.Tensor:  # fmt: skip
    if impl == "triton":
        return _triton_bias_act(x, b, g, slope, gain, clamp, True)
    z = x + b.reshape(1, -1, *([1] * (x.ndim - 2)))
    d = torch.where(z >= 0, gain, gain * slope)
    if clamp >= 0:
        d = torch.where((torch.where(z >= 0, z, z * slope) * gain).abs() > clamp, 0.0, d)
    return (g * d).to(x.dtype).contiguous()


@bias_act_backward_op.register_fake
def _(g, x, b, slope, gain, clamp, impl):  # noqa: ANN001, ANN202
    return torch.empty_like(x)


def _bias_act_setup(ctx, inputs, output) -> None:  # noqa: ANN001
    x, b, slope, gain, clamp, impl = inputs
    ctx.save_for_backward(x, b)
    ctx.args = (slope, gain, clamp, impl)


def _bias_act_backward(ctx, grad):  # noqa: ANN001, ANN202
    x, b = ctx.saved_tensors
    gx = bias_act_backward_op(grad, x, b, *ctx.args)
    gb = gx.sum(dim=[d for d in range(gx.ndim) if d != 1]).to(b.dtype)
    return gx, gb, None, None, None, None


bias_act_op.register_autograd(_bias_act_backward, setup_context=_bias_act_setup)


def bias_act(x, b, slope=0.2, gain=2**0.5, clamp=None, impl="auto"):  # noqa: ANN001, ANN201
    """clamp(leaky_relu(x + b) * gain) with the bias per channel (dimension 1)."""
    impl = resolve_impl(impl, x.device)
    c = -1.0 if clamp is None else float(clamp)
    return bias_act_op(x, b.to(x.dtype), float(slope), float(gain), c, impl)

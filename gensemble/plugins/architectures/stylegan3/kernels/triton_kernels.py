"""Triton kernels: upfirdn2d, bias_act and the fused filtered leaky ReLU (forward, backward).

Triton compiles at run time from Python, so nothing is built at install time (the
reference implementation's CUDA extensions fail to build on many platforms).  On a CPU
the same kernels run under ``TRITON_INTERPRET=1``, which is how CI tests them.

Every kernel takes contiguous NCHW planes, one program per block of output samples of
one (n, c) plane, so any H, W and any channel count work.  Filters arrive as 2-D
true-convolution kernels (outer products for separable filters, gain folded in).

Fused filtered_lrelu, forward: each output sample sums, over the down filter's taps,
the activated intermediate samples, each computed on the spot from the input by the
up filter's polyphase taps - the up-sampled intermediate is never written to memory.
The same launch writes the 2-bit state of every intermediate sample (positive /
negative / clamped, four per byte), which is all the backward needs.  Backward: each
input sample gathers d out / d z = state-dependent gain over the intermediate samples
it feeds, each of them the down filter's adjoint applied to the output gradient.
"""

from __future__ import annotations

import logging

import triton
import triton.language as tl

LOG = logging.getLogger(__name__)


@triton.jit
def _mod(a, m):
    return ((a % m) + m) % m


@triton.jit
def _upfir_at(x_plane, k_ptr, iy, ix, valid, H, W, TH, TW, UY, UX, PY0, PX0, ACC: tl.constexpr):
    """sum_t K[t] v[i + T - 1 - t] at intermediate positions (iy, ix), v = x zero-stuffed
    by (UY, UX) and padded by (PY0, PX0); only the taps that meet an input sample."""
    acc = tl.zeros(iy.shape, dtype=ACC)
    my = iy + TH - 1 - PY0
    mx = ix + TW - 1 - PX0
    ry = _mod(my, UY)
    rx = _mod(mx, UX)
    for ky in range(0, tl.cdiv(TH, UY)):
        ty = ry + ky * UY
        jy = (my - ty) // UY
        oky = valid & (ty < TH) & (jy >= 0) & (jy < H)
        for kx in range(0, tl.cdiv(TW, UX)):
            tx = rx + kx * UX
            jx = (mx - tx) // UX
            ok = oky & (tx < TW) & (jx >= 0) & (jx < W)
            wgt = tl.load(k_ptr + ty * TW + tx, mask=ok, other=0.0).to(ACC)
            val = tl.load(x_plane + jy * W + jx, mask=ok, other=0.0).to(ACC)
            acc += wgt * val
    return acc


@triton.jit
def upfirdn2d_kernel(
    x_ptr, k_ptr, y_ptr, H, W, OH, OW, TH, TW, UY, UX, DY, DX, PY0, PX0,
    BLOCK: tl.constexpr, ACC: tl.constexpr,
):  # fmt: skip
    plane = tl.program_id(1).to(tl.int64)
    offs = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    valid = offs < OH * OW
    oy = offs // OW
    ox = offs % OW
    acc = _upfir_at(x_ptr + plane * H * W, k_ptr, oy * DY, ox * DX, valid, H, W, TH, TW,
                    UY, UX, PY0, PX0, ACC)  # fmt: skip
    tl.store(y_ptr + plane * OH * OW + offs, acc.to(y_ptr.dtype.element_ty), mask=valid)


@triton.jit
def bias_act_kernel(
    x_ptr, b_ptr, g_ptr, y_ptr, N, C, HW, slope, gain, clamp,
    HAS_BIAS: tl.constexpr, HAS_CLAMP: tl.constexpr, BACKWARD: tl.constexpr,
    BLOCK: tl.constexpr, ACC: tl.constexpr,
):  # fmt: skip
    """Forward: y = clamp(lrelu(x + b) * gain).  Backward: y = g * d y / d x."""
    offs = tl.program_id(0).to(tl.int64) * BLOCK + tl.arange(0, BLOCK)
    valid = offs < N
    x = tl.load(x_ptr + offs, mask=valid, other=0.0).to(ACC)
    if HAS_BIAS:
        x += tl.load(b_ptr + (offs // HW) % C, mask=valid, other=0.0).to(ACC)
    a = tl.where(x >= 0, x, x * slope) * gain
    if BACKWARD:
        d = tl.where(x >= 0, gain, gain * slope)
        if HAS_CLAMP:
            d = tl.where(tl.abs(a) > clamp, 0.0, d)
        out = tl.load(g_ptr + offs, mask=valid, other=0.0).to(ACC) * d
    else:
        out = a
        if HAS_CLAMP:
            out = tl.minimum(tl.maximum(out, -clamp), clamp)
    tl.store(y_ptr + offs, out.to(y_ptr.dtype.element_ty), mask=valid)


@triton.jit
def _activate(z, slope, gain, clamp, HAS_CLAMP: tl.constexpr):
    a = tl.where(z >= 0, z, z * slope) * gain
    code = tl.where(z < 0, 1, 0)
    if HAS_CLAMP:
        code = tl.where(tl.abs(a) > clamp, 2, code)
        a = tl.minimum(tl.maximum(a, -clamp), clamp)
    return a, code


@triton.jit
def filtered_lrelu_fwd_kernel(
    x_ptr, ku_ptr, kd_ptr, y_ptr, s_ptr, par_ptr,
    H, W, ZH, ZW, ZWB, OH, OW, TUH, TUW, TDH, TDW, UY, UX, DY, DX, PY0, PX0,
    HAS_CLAMP: tl.constexpr, WRITE_STATE: tl.constexpr, BLOCK: tl.constexpr,
    ACC: tl.constexpr,
):  # fmt: skip
    # slope, gain, clamp in the accumulator's precision (Python floats arrive as fp32)
    slope = tl.load(par_ptr).to(ACC)
    gain = tl.load(par_ptr + 1).to(ACC)
    clamp = tl.load(par_ptr + 2).to(ACC)
    plane = tl.program_id(1).to(tl.int64)
    x_plane = x_ptr + plane * H * W
    offs = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    # outputs of this block
    valid = offs < OH * OW
    oy = offs // OW
    ox = offs % OW
    acc = tl.zeros([BLOCK], dtype=ACC)
    for ty in range(0, TDH):
        iy = oy * DY + TDH - 1 - ty
        for tx in range(0, TDW):
            ix = ox * DX + TDW - 1 - tx
            z = _upfir_at(x_plane, ku_ptr, iy, ix, valid, H, W, TUH, TUW, UY, UX, PY0, PX0, ACC)
            a, _ = _activate(z, slope, gain, clamp, HAS_CLAMP)
            acc += tl.load(kd_ptr + ty * TDW + tx).to(ACC) * a
    tl.store(y_ptr + plane * OH * OW + offs, acc.to(y_ptr.dtype.element_ty), mask=valid)
    if WRITE_STATE:  # the intermediate samples' state: four 2-bit codes per byte along x
        bvalid = offs < ZH * ZWB
        zy = offs // ZWB
        bx = offs % ZWB
        byte = tl.zeros([BLOCK], dtype=tl.int32)
        for q in tl.static_range(4):
            zx = bx * 4 + q
            ok = bvalid & (zx < ZW)
            z = _upfir_at(x_plane, ku_ptr, zy, zx, ok, H, W, TUH, TUW, UY, UX, PY0, PX0, ACC)
            _, code = _activate(z, slope, gain, clamp, HAS_CLAMP)
            byte = byte | (tl.where(ok, code, 0) << (2 * q))
        tl.store(s_ptr + plane * ZH * ZWB + offs, byte.to(tl.uint8), mask=bvalid)


@triton.jit
def filtered_lrelu_bwd_kernel(
    g_ptr,
    s_ptr,
    ku_ptr,
    kd_ptr,
    gx_ptr,
    lv_ptr,
    H,
    W,
    ZH,
    ZW,
    ZWB,
    OH,
    OW,
    TUH,
    TUW,
    TDH,
    TDW,
    UY,
    UX,
    DY,
    DX,
    PY0,
    PX0,
    BLOCK: tl.constexpr,
    ACC: tl.constexpr,
):
    """lv_ptr: d out / d z for the codes 0, 1, 2 (gain, gain * slope, 0)."""  # fmt: skip
    plane = tl.program_id(1).to(tl.int64)
    g_plane = g_ptr + plane * OH * OW
    s_plane = s_ptr + plane * ZH * ZWB
    offs = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    valid = offs < H * W
    jy = offs // W
    jx = offs % W
    acc = tl.zeros([BLOCK], dtype=ACC)
    for ty in range(0, TUH):
        iy = jy * UY + PY0 - TUH + 1 + ty
        oky = valid & (iy >= 0) & (iy < ZH)
        for tx in range(0, TUW):
            ix = jx * UX + PX0 - TUW + 1 + tx
            ok = oky & (ix >= 0) & (ix < ZW)
            byte = tl.load(s_plane + iy * ZWB + ix // 4, mask=ok, other=0).to(tl.int32)
            code = (byte >> (2 * (ix % 4))) & 3
            deriv = tl.load(lv_ptr + code, mask=ok, other=0.0).to(ACC)
            # d loss / d z at (iy, ix): the down filter's adjoint of the output gradient
            gz = _upfir_adjoint_at(g_plane, kd_ptr, iy, ix, ok, OH, OW, TDH, TDW, DY, DX, ACC)
            wgt = tl.load(ku_ptr + ty * TUW + tx).to(ACC)
            acc += tl.where(ok, wgt * deriv * gz, 0.0)
    tl.store(gx_ptr + plane * H * W + offs, acc.to(gx_ptr.dtype.element_ty), mask=valid)


@triton.jit
def _upfir_adjoint_at(g_plane, k_ptr, iy, ix, valid, OH, OW, TH, TW, DY, DX, ACC: tl.constexpr):
    """sum over outputs o with i = o * D + T - 1 - t of K[t] g[o] (the valid, unpadded
    down-sampling filter's transpose) at intermediate positions (iy, ix)."""
    acc = tl.zeros(iy.shape, dtype=ACC)
    by = iy - TH + 1
    bx = ix - TW + 1
    ry = _mod(-by, DY)
    rx = _mod(-bx, DX)
    for ky in range(0, tl.cdiv(TH, DY)):
        ty = ry + ky * DY
        oy = (by + ty) // DY
        oky = valid & (ty < TH) & (oy >= 0) & (oy < OH)
        for kx in range(0, tl.cdiv(TW, DX)):
            tx = rx + kx * DX
            ox = (bx + tx) // DX
            ok = oky & (tx < TW) & (ox >= 0) & (ox < OW)
            wgt = tl.load(k_ptr + ty * TW + tx, mask=ok, other=0.0).to(ACC)
            acc += wgt * tl.load(g_plane + oy * OW + ox, mask=ok, other=0.0).to(ACC)
    return acc

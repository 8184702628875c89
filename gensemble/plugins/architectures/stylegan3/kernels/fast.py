"""Fast PyTorch paths of the kernels (CPU, and GPUs without Triton): polyphase resampling.

Zero insertion followed by a T-tap filter is a transposed convolution with stride
``up`` (each input sample scatters the filter): no multiply by an inserted zero, 1/up^2
of the reference's work.  Filtering then keeping every ``down``-th sample is a strided
convolution: 1/down^2 of the work.  A separable filter runs as two 1-D passes (T + T
instead of T^2 multiply-adds per sample).

``filtered_lrelu_fwd`` also returns the 2-bit state of each intermediate sample
(0: positive, 1: negative, 2: clamped; four per byte along x), which is all the backward
needs: d out / d z is gain, gain * slope or 0.  The Triton kernels store and read the
same state, so the two paths can be mixed and compared.
"""

from __future__ import annotations

import logging

import torch
import torch.nn.functional as F

from gensemble.plugins.architectures.stylegan3.kernels.reference import Pair, kernel2d, pair

LOG = logging.getLogger(__name__)


def _pass(x: torch.Tensor, k: torch.Tensor, up: tuple[int, int], down: tuple[int, int],
          padding: tuple[int, int, int, int]) -> torch.Tensor:  # fmt: skip
    """One (possibly 1-D along x or y) upfirdn with a (Th, Tw) true-convolution kernel."""
    n, c, h, w = x.shape
    (ux, uy), (dx, dy) = up, down
    px0, px1, py0, py1 = padding
    th, tw = k.shape
    weight = k.to(x.dtype)[None, None].expand(c, 1, th, tw)
    if ux > 1 or uy > 1:
        # full convolution of the zero-stuffed signal = transposed convolution
        z = F.conv_transpose2d(x, weight, stride=(uy, ux), groups=c)
        # positions: the full convolution has n*up + T - 1 samples, the last up - 1 of them
        # zero (conv_transpose2d leaves them out; the window pads them back only where it
        # reaches them, so the large intermediate is copied at most once); the padded
        # valid one starts at T - 1 - p0
        ow = w * ux + px0 + px1 - tw + 1
        oh = h * uy + py0 + py1 - th + 1
        z = _window(z, tw - 1 - px0, ow, th - 1 - py0, oh)
        return z[:, :, ::dy, ::dx]
    if any(padding):  # (constant_pad_nd copies even when it pads nothing)
        x = F.pad(x, [px0, px1, py0, py1])
    return F.conv2d(x, weight.flip(2, 3), stride=(dy, dx), groups=c)


def _window(z: torch.Tensor, x0: int, nw: int, y0: int, nh: int) -> torch.Tensor:
    """z[..., y0:y0+nh, x0:x0+nw] with zeros where the window leaves z."""
    h, w = z.shape[-2:]
    pads = [max(-x0, 0), max(x0 + nw - w, 0), max(-y0, 0), max(y0 + nh - h, 0)]
    if any(pads):  # otherwise a view: no copy of the (large) intermediate
        z = F.pad(z, pads)
    x0, y0 = max(x0, 0), max(y0, 0)
    return z[..., y0 : y0 + nh, x0 : x0 + nw]


def upfirdn2d_fast(
    x: torch.Tensor,
    f: torch.Tensor,
    up: Pair = 1,
    down: Pair = 1,
    padding: tuple[int, int, int, int] = (0, 0, 0, 0),
    gain: float = 1.0,
    flip: bool = False,
) -> torch.Tensor:
    up, down = pair(up), pair(down)
    f = f.to(x.dtype)
    if flip:
        f = f.flip(list(range(f.ndim)))
    if f.ndim == 2:
        return _pass(x, f * gain, up, down, padding)
    px0, px1, py0, py1 = padding
    x = _pass(x, (f * gain)[None, :], (up[0], 1), (down[0], 1), (px0, px1, 0, 0))
    return _pass(x, f[:, None], (1, up[1]), (1, down[1]), (0, 0, py0, py1))


def _codes(z: torch.Tensor, slope: float, gain: float, clamp: float | None, state: bool) -> tuple:
    """leaky_relu(z) clamped to +-clamp / gain, in place on z (a temporary of ours: the
    intermediate is the largest tensor of the layer, so every saved pass counts; the
    gain is folded into the down-filter, leaky ReLU being positively homogeneous), and
    (when ``state``) the codes: 0 positive, 1 negative, 2 clamped."""
    code = (z < 0).to(torch.uint8) if state else None
    a = F.leaky_relu_(z, slope)
    if clamp is not None:
        bound = clamp / gain
        if state:
            code.masked_fill_(a.abs() > bound, 2)
        a.clamp_(-bound, bound)
    return a, code


def pack_state(code: torch.Tensor) -> torch.Tensor:
    """(N, C, H, W) codes 0..2 -> (N, C, H, ceil(W / 4)) bytes, 2 bits each along x."""
    w = code.shape[-1]
    c = F.pad(code, [0, (-w) % 4]).reshape(*code.shape[:-1], -1, 4)
    return c[..., 0] | (c[..., 1] << 2) | (c[..., 2] << 4) | (c[..., 3] << 6)


def unpack_state(state: torch.Tensor, width: int) -> torch.Tensor:
    shifts = torch.tensor([0, 2, 4, 6], dtype=torch.int32, device=state.device)
    code = (state.to(torch.int32)[..., None] >> shifts) & 3
    return code.reshape(*state.shape[:-1], -1)[..., :width]


def filtered_lrelu_fwd(x, fu, fd, b, up, down, padding, gain, slope, clamp, flip=False, state=True):  # noqa: ANN001, ANN201
    """(out, state or None, intermediate size (h, w))."""
    ux, uy = pair(up)
    # channels-last: PyTorch's depthwise convolutions run 2-3x faster on the CPU in NHWC
    x = x.contiguous(memory_format=torch.channels_last)
    if b is not None:
        x = x + b.reshape(1, -1, 1, 1).to(x.dtype)
    z = upfirdn2d_fast(x, fu, up=up, padding=padding, gain=ux * uy, flip=flip)
    zhw = tuple(z.shape[-2:])
    a, code = _codes(z, slope, gain, clamp, state)
    # stays channels-last: the next layer's convolution takes it as it is (two copies of
    # every layer's output saved)
    out = upfirdn2d_fast(a, fd, down=down, flip=flip, gain=gain)
    out = out.contiguous(memory_format=torch.channels_last)
    return out, (pack_state(code.contiguous()) if state else None), zhw


def adjoint_padding(n_in: int, n_out: int, taps: int, up: int, down: int, p0: int) -> tuple:
    """Padding of the adjoint upfirdn (filter flipped, up and down swapped) along one axis."""
    q0 = taps - 1 - p0
    return q0, n_in * up + taps - 1 - n_out * down - q0


def upfirdn2d_adjoint(g, f, in_hw, up, down, padding, gain, flip, op=upfirdn2d_fast):  # noqa: ANN001, ANN201
    """J^T g of upfirdn2d (x of size in_hw -> g): the same operation, filter flipped."""
    (ux, uy), (dx, dy) = pair(up), pair(down)
    k = kernel2d(f)
    th, tw = k.shape
    h, w = in_hw
    qx = adjoint_padding(w, g.shape[-1], tw, ux, dx, padding[0])
    qy = adjoint_padding(h, g.shape[-2], th, uy, dy, padding[2])
    return op(g, f, up=(dx, dy), down=(ux, uy), padding=(*qx, *qy), gain=gain, flip=not flip)


def intermediate_hw(in_hw: tuple[int, int], fu: torch.Tensor, up: Pair, padding: tuple) -> tuple:
    """Size of filtered_lrelu's up-sampled intermediate."""
    (ux, uy), (th, tw) = pair(up), kernel2d(fu).shape
    h, w = in_hw
    return h * uy + padding[2] + padding[3] - th + 1, w * ux + padding[0] + padding[1] - tw + 1


def filtered_lrelu_bwd(g, state, fu, fd, in_hw, up, down, padding, gain, slope, flip=False):  # noqa: ANN001, ANN201
    """d loss / d x from d loss / d out and the stored state (bias gradient: its sum)."""
    ux, uy = pair(up)
    zhw = intermediate_hw(in_hw, fu, up, padding)
    gz = upfirdn2d_adjoint(g, fd, zhw, 1, down, (0, 0, 0, 0), 1.0, flip)
    code = unpack_state(state, gz.shape[-1])
    levels = torch.tensor([gain, gain * slope, 0.0, 0.0], dtype=gz.dtype, device=gz.device)
    gz = gz * levels[code.to(torch.int32)]
    return upfirdn2d_adjoint(gz, fu, in_hw, up, 1, padding, ux * uy, flip)

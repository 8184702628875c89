"""Pure PyTorch definitions of the alias-free kernels: exact in float64, always available.

Conventions (one axis; the 2-D operations apply them to x and y):

* ``upfirdn2d(x, f, up, down, padding, gain)``: insert ``up - 1`` zeros after every
  sample, pad with ``p0`` zeros before and ``p1`` after (negative: crop), convolve (true
  convolution, ``flip=True`` for correlation) with the FIR filter f keeping the
  "valid" part, multiply by ``gain``, keep every ``down``-th sample.  Output length
  ``(n * up + p0 + p1 - T) // down + 1`` for a T-tap filter.  A 1-D filter is separable
  (the 2-D kernel is its outer product), a 2-D one (radial, config R) is used as is.
* ``bias_act(x, b, slope, gain, clamp)``: leaky ReLU of x + b (per channel) times gain,
  clipped to +-clamp.
* ``filtered_lrelu``: bias -> up-sample (zero insertion + FIR ``fu`` with gain up^2 and
  the padding) -> gain -> leaky ReLU -> clamp -> FIR ``fd`` -> down-sample.  The
  intermediate is computed at ``up`` times the input rate, which is what keeps the
  non-linearity's new frequencies from aliasing (Karras et al. 2021, section 3.2).

Padding is (x0, x1, y0, y1); factors are an int or an (x, y) pair.
"""

from __future__ import annotations

import logging

import torch
import torch.nn.functional as F

LOG = logging.getLogger(__name__)

Pair = int | tuple[int, int]


def pair(v: Pair) -> tuple[int, int]:
    return (int(v), int(v)) if isinstance(v, int) else (int(v[0]), int(v[1]))


def kernel2d(f: torch.Tensor) -> torch.Tensor:
    """The (Th, Tw) kernel of a separable (T,) or 2-D (Th, Tw) filter."""
    return torch.outer(f, f) if f.ndim == 1 else f


def out_size(n: int, taps: int, up: int, down: int, p0: int, p1: int) -> int:
    return (n * up + p0 + p1 - taps) // down + 1


def upfirdn2d_ref(
    x: torch.Tensor,
    f: torch.Tensor,
    up: Pair = 1,
    down: Pair = 1,
    padding: tuple[int, int, int, int] = (0, 0, 0, 0),
    gain: float = 1.0,
    flip: bool = False,
) -> torch.Tensor:
    """The definition, step by step (zero stuffing at the full rate)."""
    (ux, uy), (dx, dy) = pair(up), pair(down)
    n, c, h, w = x.shape
    f = f.to(x.dtype)
    if not flip:  # true convolution = correlation with the flipped kernel
        f = f.flip(list(range(f.ndim)))
    z = x.new_zeros(n, c, h * uy, w * ux)
    z[:, :, ::uy, ::ux] = x
    z = F.pad(z, list(padding)).reshape(n * c, 1, h * uy + sum(padding[2:]), -1)
    if f.ndim == 1:  # the outer-product kernel, applied as its two 1-D factors
        z = F.conv2d(F.conv2d(z, (f * gain)[None, None, None, :]), f[None, None, :, None])
    else:
        z = F.conv2d(z, (f * gain)[None, None])
    z = z[:, :, ::dy, ::dx]
    return z.reshape(n, c, *z.shape[-2:])


def lrelu_clamp(x: torch.Tensor, slope: float, gain: float, clamp: float | None) -> torch.Tensor:
    y = torch.where(x >= 0, x, x * slope) * gain
    return y if clamp is None else y.clamp(-clamp, clamp)


def bias_act_ref(
    x: torch.Tensor,
    b: torch.Tensor | None,
    slope: float = 0.2,
    gain: float = 2**0.5,
    clamp: float | None = None,
) -> torch.Tensor:
    if b is not None:
        x = x + b.reshape(1, -1, *([1] * (x.ndim - 2)))
    return lrelu_clamp(x, slope, gain, clamp)


def filtered_lrelu_ref(
    x: torch.Tensor,
    fu: torch.Tensor,
    fd: torch.Tensor,
    b: torch.Tensor | None,
    up: Pair = 1,
    down: Pair = 1,
    padding: tuple[int, int, int, int] = (0, 0, 0, 0),
    gain: float = 2**0.5,
    slope: float = 0.2,
    clamp: float | None = None,
    flip: bool = False,
) -> torch.Tensor:
    """The composite: every step materialised (what the fused kernels must equal)."""
    (ux, uy) = pair(up)
    if b is not None:
        x = x + b.reshape(1, -1, 1, 1).to(x.dtype)
    z = upfirdn2d_ref(x, fu, up=up, padding=padding, gain=ux * uy, flip=flip)
    a = lrelu_clamp(z, slope, gain, clamp)
    return upfirdn2d_ref(a, fd, down=down, flip=flip)

"""Batched kernels used by several metrics (torch on CPU or GPU).

* :func:`sorted_columns` — per-point sorting of a sample set. On CPU it goes through
  numpy's vectorised sort on contiguous rows, which is 3-10x faster than ``torch.sort``
  on this hardware (see benchmarks/metrics.py); on GPU it is ``torch.sort``.
* :func:`dct2` — orthonormal 2-D DCT-II, identical to ``scipy.fft.dctn(norm="ortho")``.
* :func:`box_mean` — moving average with zero padding through an integral image, so large
  neighbourhoods cost the same as small ones (equal to scipy's ``uniform_filter`` with
  ``mode="constant"``).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterator

import numpy as np
import scipy.fft
import torch

LOG = logging.getLogger(__name__)

#: points sorted together on CPU (bounded memory, cache friendly)
_SORT_BLOCK = 4096


def sorted_columns(x: torch.Tensor) -> torch.Tensor:
    """Sort a (N, P) set of N samples at P points along N; returns (P, N) sorted rows."""
    if x.device.type != "cpu":
        return torch.sort(x.t().contiguous(), dim=1).values
    n, p = x.shape
    src = x.detach().numpy()
    out = np.empty((p, n), dtype=src.dtype)
    for start in range(0, p, _SORT_BLOCK):
        stop = min(start + _SORT_BLOCK, p)
        block = np.ascontiguousarray(src[:, start:stop].T)
        block.sort(axis=1)
        out[start:stop] = block
    return torch.from_numpy(out)


def chunks(n: int, size: int) -> Iterator[slice]:
    for start in range(0, n, size):
        yield slice(start, min(start + size, n))


def dct_matrix(n: int, device: torch.device | str = "cpu", dtype=torch.float32) -> torch.Tensor:
    """Orthonormal DCT-II matrix D (n x n): dct(x) = D @ x."""
    k = torch.arange(n, dtype=torch.float64)[:, None]
    i = torch.arange(n, dtype=torch.float64)[None, :]
    d = math.sqrt(2.0 / n) * torch.cos(math.pi * (2 * i + 1) * k / (2 * n))
    d[0] /= math.sqrt(2.0)
    return d.to(device=device, dtype=dtype)


def dct2(x: torch.Tensor) -> torch.Tensor:
    """Orthonormal 2-D DCT-II over the last two dimensions.

    On CPU this is scipy's pocketfft (O(n log n), all torch threads); on GPU two matrix
    products, which run on the tensor cores and beat an FFT-based DCT at these sizes.
    """
    if x.device.type == "cpu":
        out = scipy.fft.dctn(
            x.detach().numpy(), axes=(-2, -1), norm="ortho", workers=torch.get_num_threads()
        )
        return torch.from_numpy(out)
    h, w = x.shape[-2:]
    return dct_matrix(h, x.device, x.dtype) @ x @ dct_matrix(w, x.device, x.dtype).T


def radial_index_dct(h: int, w: int) -> tuple[torch.Tensor, int]:
    """Bin of each DCT coefficient by normalised wavenumber, and the number of bins.

    Coefficient (i, j) has wavenumber k = sqrt((i/h)^2 + (j/w)^2) in half-cycles per grid
    spacing; bins are k * min(h, w) rounded, up to min(h, w) - 1 (wavelength 2*dx*min/k).
    """
    n = min(h, w)
    ky = torch.arange(h, dtype=torch.float64)[:, None] / h
    kx = torch.arange(w, dtype=torch.float64)[None, :] / w
    r = torch.round(torch.sqrt(ky**2 + kx**2) * n).long()
    return r, n


def radial_index_fft(h: int, w: int) -> tuple[torch.Tensor, int]:
    """pysteps' ``rapsd`` binning for an unshifted FFT: integer radius in index units."""
    ky = torch.fft.fftfreq(h, d=1.0 / h, dtype=torch.float64)[:, None]
    kx = torch.fft.fftfreq(w, d=1.0 / w, dtype=torch.float64)[None, :]
    r = torch.round(torch.sqrt(ky**2 + kx**2)).long()
    size = max(h, w)
    nbins = size // 2 + 1 if size % 2 else size // 2
    return r, nbins


def radial_average(values: torch.Tensor, index: torch.Tensor, nbins: int) -> torch.Tensor:
    """Mean of ``values`` (..., H, W) over each radial bin -> (..., nbins)."""
    flat = values.reshape(*values.shape[:-2], -1).to(torch.float64)
    idx = index.reshape(-1).to(flat.device)
    keep = idx < nbins
    flat, idx = flat[..., keep], idx[keep]
    sums = torch.zeros((*flat.shape[:-1], nbins), dtype=torch.float64, device=flat.device)
    sums.index_add_(-1, idx, flat)
    counts = torch.bincount(idx, minlength=nbins).to(sums)
    return sums / counts.clamp_min(1)


def box_mean(x: torch.Tensor, size: int) -> torch.Tensor:
    """Moving average over size x size windows of (..., H, W), zero outside the field.

    Windows are placed like scipy.ndimage.uniform_filter (origin 0): size//2 points
    before and (size-1)//2 after.
    """
    if size <= 1:
        return x.to(torch.float64)
    before, after = size // 2, (size - 1) // 2
    x = x.to(torch.float64)
    pad = torch.nn.functional.pad(x, (before + 1, after, before + 1, after))
    ii = pad.cumsum(-1).cumsum(-2)
    h, w = x.shape[-2:]
    s = size
    total = ii[..., s:, s:] - ii[..., :-s, s:] - ii[..., s:, :-s] + ii[..., :-s, :-s]
    return total[..., :h, :w] / (s * s)


def w1_sorted(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Exact Wasserstein-1 distance between rows of two sorted sample sets.

    ``a`` (P, n) and ``b`` (P, m) hold sorted samples at P points (or directions).  The
    distance is the integral of |F_a^-1(u) - F_b^-1(u)| over u in (0, 1); both quantile
    functions are step functions whose steps lie at i/n and j/m, so the integral is an
    exact weighted sum (the same value as scipy.stats.wasserstein_distance).
    """
    n, m = a.shape[1], b.shape[1]
    if n == m:
        return (a - b).abs().mean(dim=1)
    # breakpoints i/n and j/m as exact integers over the common denominator n*m
    ends = torch.unique(torch.cat([torch.arange(1, n + 1) * m, torch.arange(1, m + 1) * n]))
    starts = torch.cat([torch.zeros(1, dtype=ends.dtype), ends[:-1]])
    weight = ((ends - starts).double() / (n * m)).to(a.device, a.dtype)
    # on (starts, ends] the quantile functions take sample ceil(u n) - 1 and ceil(u m) - 1
    ia = (torch.div(ends + m - 1, m, rounding_mode="floor") - 1).to(a.device)
    ib = (torch.div(ends + n - 1, n, rounding_mode="floor") - 1).to(a.device)
    return ((a[:, ia] - b[:, ib]).abs() * weight).sum(dim=1)


def quantiles_sorted(s: torch.Tensor, qs: list[float]) -> torch.Tensor:
    """Quantiles of sorted rows (P, n) -> (len(qs), P), numpy's default linear method."""
    n = s.shape[1]
    out = []
    for q in qs:
        pos = q * (n - 1)
        lo = int(math.floor(pos))
        hi = min(lo + 1, n - 1)
        frac = pos - lo
        out.append(s[:, lo] * (1 - frac) + s[:, hi] * frac)
    return torch.stack(out)

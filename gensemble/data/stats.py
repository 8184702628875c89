"""Normalisation statistics computed in one streaming pass (Chan et al. parallel update).

Statistics are kept in float64 on the *transformed* values (precipitation as log1p), both
global per variable and per pixel, NaN-aware, so any number of samples can be summarised
batch by batch without holding them in memory.
"""

from __future__ import annotations

import logging

import numpy as np

LOG = logging.getLogger(__name__)


class StreamingStats:
    """Running count/mean/M2/min/max over samples of shape (variable, y, x)."""

    def __init__(self, n_var: int, shape: tuple[int, int]) -> None:
        full = (n_var, *shape)
        self.count = np.zeros(full, np.float64)
        self.mean = np.zeros(full, np.float64)
        self.m2 = np.zeros(full, np.float64)
        self.min = np.full(full, np.inf)
        self.max = np.full(full, -np.inf)

    def update(self, batch: np.ndarray) -> None:
        """Merge a batch (n, variable, y, x); NaNs are skipped."""
        x = np.asarray(batch, np.float64)
        valid = np.isfinite(x)
        n_b = valid.sum(axis=0).astype(np.float64)
        if not n_b.any():
            return
        xz = np.where(valid, x, 0.0)
        mean_b = np.divide(xz.sum(axis=0), n_b, out=np.zeros_like(n_b), where=n_b > 0)
        dev = np.where(valid, x - mean_b, 0.0)
        m2_b = (dev * dev).sum(axis=0)
        n = self.count + n_b
        delta = mean_b - self.mean
        w = np.divide(n_b, n, out=np.zeros_like(n), where=n > 0)
        self.mean += delta * w
        self.m2 += m2_b + delta * delta * self.count * w
        self.count = n
        self.min = np.minimum(self.min, np.where(valid, x, np.inf).min(axis=0))
        self.max = np.maximum(self.max, np.where(valid, x, -np.inf).max(axis=0))

    def pixel(self) -> dict[str, np.ndarray]:
        std = np.sqrt(
            np.divide(self.m2, self.count, out=np.zeros_like(self.m2), where=self.count > 0)
        )
        return {"mean": self.mean, "std": std, "min": self.min, "max": self.max}

    def global_(self) -> dict[str, np.ndarray]:
        """Per-variable statistics, combining the per-pixel accumulators exactly."""
        cnt = self.count.sum(axis=(1, 2))
        mean = np.divide(
            (self.mean * self.count).sum(axis=(1, 2)), cnt, out=np.zeros_like(cnt), where=cnt > 0
        )
        m2 = (self.m2 + self.count * (self.mean - mean[:, None, None]) ** 2).sum(axis=(1, 2))
        std = np.sqrt(np.divide(m2, cnt, out=np.zeros_like(m2), where=cnt > 0))
        return {
            "mean": mean,
            "std": std,
            "min": self.min.min(axis=(1, 2)),
            "max": self.max.max(axis=(1, 2)),
            "count": cnt,
        }

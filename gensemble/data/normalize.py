"""Normalisation of fields for training and its inverse for generation.

Modes (the prototype's choices):
* ``standard`` — (x - mean) / std;
* ``maxabs``   — (x - mean) / max|x - mean| (values in [-1, 1]);
* ``minmax``   — to [-1, 1] from min/max.
Statistics are global per variable or per pixel, always on transformed values
(rr → log1p(rr)).  The state travels inside checkpoints as tensors, so generated members
are de-normalised with the statistics of the domain the model was trained on.
"""

from __future__ import annotations

import logging
from typing import Any, Literal

import numpy as np
import torch

from gensemble.data.variables import Variable, transform_forward, transform_inverse

LOG = logging.getLogger(__name__)

Mode = Literal["standard", "maxabs", "minmax"]


def offsets_scales(stats: dict[str, np.ndarray], mode: Mode) -> tuple[np.ndarray, np.ndarray]:
    mean, lo, hi = stats["mean"], stats["min"], stats["max"]
    if mode == "standard":
        offset, scale = mean, stats["std"]
    elif mode == "maxabs":
        offset, scale = mean, np.maximum(hi - mean, mean - lo)
    else:
        offset, scale = (hi + lo) / 2, (hi - lo) / 2
    scale = np.where(np.isfinite(scale) & (scale > 1e-12), scale, 1.0)
    offset = np.where(np.isfinite(offset), offset, 0.0)
    return offset.astype(np.float32), scale.astype(np.float32)


def _bound(value: Any, default: float) -> float:
    """A range end; JSON has no infinity, so an open end may come back as null."""
    return default if value is None else float(value)


class Normalizer:
    """x_norm = (T(x) - offset) / scale, per variable (global) or per pixel."""

    def __init__(
        self,
        offset: np.ndarray | torch.Tensor,
        scale: np.ndarray | torch.Tensor,
        log1p: list[bool],
        mode: str = "standard",
        per_pixel: bool = False,
        transforms: list[str] | None = None,
        bounds: list[tuple[float, float]] | None = None,
    ) -> None:
        self.offset = torch.as_tensor(np.asarray(offset), dtype=torch.float32)
        self.scale = torch.as_tensor(np.asarray(scale), dtype=torch.float32)
        if self.offset.ndim == 1:
            self.offset = self.offset[:, None, None]
            self.scale = self.scale[:, None, None]
        self.transforms = list(transforms or ["log1p" if b else "none" for b in log1p])
        self.bounds = (
            [(_bound(b[0], -np.inf), _bound(b[1], np.inf)) for b in bounds]
            if bounds
            else [(-np.inf, np.inf) for _ in self.transforms]
        )
        self.log1p = torch.tensor([t == "log1p" for t in self.transforms], dtype=torch.bool)
        self.mode = mode
        self.per_pixel = per_pixel

    @classmethod
    def from_stats(
        cls,
        global_stats: dict[str, np.ndarray],
        pixel_stats: dict[str, np.ndarray],
        variables: list[Variable],
        mode: Mode = "standard",
        per_pixel: bool = False,
    ) -> Normalizer:
        offset, scale = offsets_scales(pixel_stats if per_pixel else global_stats, mode)
        return cls(
            offset,
            scale,
            [v.transform == "log1p" for v in variables],
            mode,
            per_pixel,
            [v.transform for v in variables],
            [v.valid_range for v in variables],
        )

    def _bcast(self, t: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        return t.to(device=x.device, dtype=x.dtype)

    def _transformed(self, x: torch.Tensor, fn) -> torch.Tensor:  # noqa: ANN001
        if all(t == "none" for t in self.transforms):
            return x
        channels = [
            fn(x[..., c, :, :], t, *self.bounds[c]) if t != "none" else x[..., c, :, :]
            for c, t in enumerate(self.transforms)
        ]
        return torch.stack(channels, dim=-3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Physical (…, C, H, W) to normalised."""
        x = self._transformed(x, transform_forward)
        return (x - self._bcast(self.offset, x)) / self._bcast(self.scale, x)

    def forward_(self, x: torch.Tensor) -> torch.Tensor:
        """In-place :meth:`forward` (the loader's hot path)."""
        for c, t in enumerate(self.transforms):
            if t == "log1p":
                x[..., c, :, :].clamp_(min=0).log1p_()
            elif t != "none":
                x[..., c, :, :] = transform_forward(x[..., c, :, :], t, *self.bounds[c])
        return x.sub_(self._bcast(self.offset, x)).div_(self._bcast(self.scale, x))

    def inverse(self, x: torch.Tensor) -> torch.Tensor:
        """Normalised to physical units."""
        y = x * self._bcast(self.scale, x) + self._bcast(self.offset, x)
        return self._transformed(y, transform_inverse)

    def state(self) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
        """Tensors (for safetensors) and JSON metadata."""
        return (
            {"norm.offset": self.offset.contiguous(), "norm.scale": self.scale.contiguous()},
            {
                "mode": self.mode,
                "per_pixel": self.per_pixel,
                "log1p": [bool(b) for b in self.log1p],
                "transforms": self.transforms,
                "bounds": [[float(v) for v in b] for b in self.bounds],
            },
        )

    @classmethod
    def from_state(cls, tensors: dict[str, torch.Tensor], meta: dict[str, Any]) -> Normalizer:
        return cls(
            tensors["norm.offset"],
            tensors["norm.scale"],
            meta["log1p"],
            meta["mode"],
            meta["per_pixel"],
            meta.get("transforms"),
            meta.get("bounds"),
        )

"""Training statistics kept on the device between log intervals.

A step's statistics are 0-d tensors where they were computed; adding them up there and
reading the sums once per log interval replaces the 4-8 host synchronisations a step
would make with one per interval (NVIDIA's ``training_stats`` does the same).
"""

from __future__ import annotations

import logging
import math

import torch

LOG = logging.getLogger(__name__)


class StatsAccumulator:
    """Sums of each statistic since the last read, and how many steps reported it."""

    def __init__(self) -> None:
        self._sums: dict[str, torch.Tensor] = {}
        self._counts: dict[str, int] = {}
        self.first_step: int | None = None

    def add(self, stats: dict[str, torch.Tensor | float], step: int) -> None:
        if self.first_step is None:
            self.first_step = step
        for name, value in stats.items():
            v = value.detach().float() if isinstance(value, torch.Tensor) else float(value)
            self._sums[name] = self._sums[name] + v if name in self._sums else v
            self._counts[name] = self._counts.get(name, 0) + 1

    @property
    def pending(self) -> bool:
        return bool(self._sums)

    def read(self) -> dict[str, float]:
        """Means since the last read, in one transfer to the host; then starts afresh."""
        names = list(self._sums)
        if not names:
            return {}
        tensors = [v for v in self._sums.values() if isinstance(v, torch.Tensor)]
        device = tensors[0].device if tensors else torch.device("cpu")
        stacked = torch.stack([torch.as_tensor(self._sums[n], device=device) for n in names])
        sums = stacked.float().cpu().tolist()  # the one synchronisation
        out = {n: s / self._counts[n] for n, s in zip(names, sums, strict=True)}
        self._sums.clear()
        self._counts.clear()
        self.first_step = None
        return out


def non_finite(values: dict[str, float]) -> dict[str, float]:
    return {k: v for k, v in values.items() if not math.isfinite(v)}

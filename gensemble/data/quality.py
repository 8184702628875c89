"""What preparing a store found wrong in its values: NaNs and values outside a variable's
valid range, counted per variable with the first positions, so a store that training
would refuse says where to look."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from gensemble.data.variables import Variable

LOG = logging.getLogger(__name__)


@dataclass
class QualityReport:
    """NaNs and out-of-range values found while preparing, with their first positions."""

    nan_count: dict[str, int] = field(default_factory=dict)
    out_of_range: dict[str, int] = field(default_factory=dict)
    first_positions: list[str] = field(default_factory=list)

    def check(self, block: np.ndarray, start: int, variables: list[Variable]) -> None:
        for i, var in enumerate(variables):
            a = block[:, i]
            nan = ~np.isfinite(a)
            lo, hi = var.valid_range
            bad = ~nan & ((a < lo) | (a > hi))
            for kind, mask, tally in (
                ("NaN", nan, self.nan_count),
                ("out of range", bad, self.out_of_range),
            ):
                n = int(mask.sum())
                if n:
                    tally[var.name] = tally.get(var.name, 0) + n
                    if len(self.first_positions) < 10:
                        s, y, x = (int(v[0]) for v in np.nonzero(mask))
                        self.first_positions.append(
                            f"{var.name} {kind} at sample {start + s}, y={y}, x={x}"
                        )

    @property
    def clean(self) -> bool:
        return not self.nan_count and not self.out_of_range

    def summary(self) -> str:
        if self.clean:
            return "no NaNs, all values in range"
        parts = [f"NaN {k}: {v}" for k, v in self.nan_count.items()]
        parts += [f"out of range {k}: {v}" for k, v in self.out_of_range.items()]
        return "; ".join(parts) + " (first: " + "; ".join(self.first_positions[:3]) + ")"

    def to_json(self) -> dict[str, Any]:
        return {
            "nan_count": self.nan_count,
            "out_of_range": self.out_of_range,
            "first_positions": self.first_positions,
        }

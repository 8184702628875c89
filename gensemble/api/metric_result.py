"""What a metric returns: named scalars, maps and figures.

Scalars are named ``<metric>/<variable>`` (or ``<metric>/<detail>/<variable>``) so that
MLflow groups them and runs can be compared key by key.  A score that is undefined for the
input (one member, constant fields, no event) is NaN with its reason in ``undefined``
(:mod:`gensemble.api.metric_checks` states the policy), never a made-up number.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

LOG = logging.getLogger(__name__)

#: prefix of evaluation scalars in MLflow (``eval/swd/mean``), read back by ``compare``
EVAL_PREFIX = "eval/"


@dataclass
class MetricResult:
    """Numbers (logged as MLflow metrics), arrays (saved as npz) and matplotlib figures."""

    scalars: dict[str, float] = field(default_factory=dict)
    maps: dict[str, np.ndarray] = field(default_factory=dict)
    figures: dict[str, Any] = field(default_factory=dict)
    #: key -> why its value is NaN (the score is undefined for this input)
    undefined: dict[str, str] = field(default_factory=dict)

    def add(self, key: str, value: float) -> None:
        self.scalars[key] = float(value)

    def add_undefined(self, key: str, reason: str) -> None:
        """Record that ``key`` has no meaningful value for this input, and why."""
        self.scalars[key] = math.nan
        self.undefined[key] = reason

    def update(self, other: MetricResult) -> MetricResult:
        self.scalars.update(other.scalars)
        self.undefined.update(other.undefined)
        self.maps.update(other.maps)
        self.figures.update(other.figures)
        return self

    def finite_scalars(self) -> dict[str, float]:
        """Scalars MLflow can store (it refuses NaN in some backends)."""
        return {k: v for k, v in self.scalars.items() if math.isfinite(v)}

    def tracked_scalars(self) -> dict[str, float]:
        """Finite scalars under their MLflow names (``eval/...``)."""
        return {f"{EVAL_PREFIX}{k}": v for k, v in self.finite_scalars().items()}

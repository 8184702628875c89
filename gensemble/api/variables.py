"""What a weather variable is: the data a ``gensemble_variables`` hook returns.

Variables are a plugin kind whose plugins are data: a partner package returns
:class:`Variable` instances, and everything downstream (readers, store statistics,
normalisation, synthetic data, CF attributes of written files, metric thresholds,
transfer's mapping by name) follows the definition.
"""

from __future__ import annotations

import logging
import math
from dataclasses import asdict, dataclass, field
from typing import Any, ClassVar

LOG = logging.getLogger(__name__)

#: value transforms applied before normalisation
TRANSFORMS = ("none", "log1p", "logit")


@dataclass(frozen=True)
class Variable:
    """One model variable (a channel) and how producers, files and scores see it.

    * ``transform``: ``none``; ``log1p`` for heavy-tailed positive fields (precipitation);
      ``logit`` for bounded fractions (cloud cover, humidity): logit of the value mapped
      to (0, 1) by ``valid_range``, clipped 1e-4 inside the bounds.
    * ``valid_range``: physically plausible values in ``units`` (others are reported).
    * ``aliases``: names producers use (CF names, GRIB short names, met.no names).
    * ``conversions``: source units -> (factor, offset) to reach ``units``
      (e.g. ``{"Pa": (0.01, 0.0)}`` for hPa from Pa).
    * ``vector``: (group, component) for vector pairs, e.g. ("wind10m", 0) for u.
    * ``thresholds``: default verification thresholds (exceedance, Brier, events).
    * ``synthetic``: name of the synthetic-data recipe (see :mod:`gensemble.data.synth`);
      None refuses synthetic data for this variable.
    """

    kind: ClassVar[str] = "variable"

    name: str
    units: str
    long_name: str
    standard_name: str = ""
    transform: str = "none"
    valid_range: tuple[float, float] = (-math.inf, math.inf)
    aliases: tuple[str, ...] = field(default_factory=tuple)
    conversions: tuple[tuple[str, float, float], ...] = field(default_factory=tuple)
    vector: tuple[str, int] | None = None
    thresholds: tuple[float, ...] = field(default_factory=tuple)
    synthetic: str | None = None

    @property
    def description(self) -> str:
        return f"{self.long_name} ({self.units}, transform {self.transform})"

    def validate(self) -> None:
        """Raise ValueError naming what is wrong with this definition."""
        if not self.name or not self.name.replace("_", "").isalnum():
            raise ValueError(f"variable name {self.name!r} must be letters, digits or _")
        if self.transform not in TRANSFORMS:
            known = ", ".join(TRANSFORMS)
            raise ValueError(f"{self.name}: unknown transform {self.transform!r} (known: {known})")
        lo, hi = self.valid_range
        if not lo < hi:
            raise ValueError(f"{self.name}: valid_range min {lo} is not below max {hi}")
        if self.transform == "logit" and not (math.isfinite(lo) and math.isfinite(hi)):
            raise ValueError(f"{self.name}: the logit transform needs a finite valid_range")
        if self.vector is not None and self.vector[1] not in (0, 1):
            raise ValueError(f"{self.name}: vector component must be 0 or 1")

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["valid_range"] = [_json_float(v) for v in self.valid_range]
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Variable:
        d = dict(d)
        d["valid_range"] = tuple(float(v) for v in d.get("valid_range", (-math.inf, math.inf)))
        for key in ("aliases", "thresholds"):
            d[key] = tuple(d.get(key) or ())
        d["conversions"] = tuple(tuple(c) for c in d.get("conversions") or ())
        if d.get("vector") is not None:
            d["vector"] = tuple(d["vector"])
        return cls(**d)


def _json_float(v: float) -> float | str:
    return v if math.isfinite(v) else ("inf" if v > 0 else "-inf")

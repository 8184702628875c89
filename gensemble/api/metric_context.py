"""What a metric may need to know besides the two sample sets."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

import torch

LOG = logging.getLogger(__name__)


@dataclass
class EvalContext:
    """Names of the channels, grid spacing (m), device and seed for the random parts.

    Fields handed to metrics are in physical units (rr in mm/h, t2m in K), shape
    (N, C, H, W); metrics that need another scale normalise internally.
    """

    variables: list[str]
    dx_m: float = 2500.0
    device: torch.device | str = "cpu"
    seed: int = 0
    figures: bool = True
    #: the model being evaluated, for metrics that query it (e.g. its input transform);
    #: None when only samples are given
    model: Any = field(default=None, repr=False, compare=False)
    #: tensors already checked finite (id, version, shape), so a list of metrics run on
    #: the same sets checks them once
    checked: set = field(default_factory=set, repr=False, compare=False)

    def channel(self, name: str) -> int:
        return self.variables.index(name)

    def generator(self) -> torch.Generator:
        return torch.Generator(device="cpu").manual_seed(self.seed)

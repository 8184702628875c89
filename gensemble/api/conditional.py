"""Conditional sampling: members of one forecast drawn given K seed members of it.

The contract is architecture-neutral - a conditional StyleGAN implements it, and a
diffusion model could (SEEDS, Li et al. 2024).  A model that declares
:class:`ConditionalSampling` says what it trains on (:class:`ConditionSpec`: K seeds, and
how often the target is the verifying truth instead of another member), and the training
loop then hands its ``train_step`` a :class:`ForecastBatch` instead of a tensor of fields:
for each row, K members of one forecast as the condition and one *other* member (or that
date's truth) as the target.

``condition`` tensors are normalised fields (K, C, H, W) of one forecast; the model must
not depend on the order of the K members.
"""

from __future__ import annotations

import logging
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any

import torch

from gensemble.core.errors import UserError

LOG = logging.getLogger(__name__)


@dataclass(frozen=True)
class ConditionSpec:
    """What a conditional model trains on.

    ``truth_fraction`` is the probability that a row's target is the verifying truth of
    its date rather than another member: 0 emulates the ensemble, 1 is generative
    post-processing, in between mixes the two.  Forecasts without a truth always take a
    member as the target (and are not used at all when ``truth_fraction`` is 1).
    """

    seeds: int
    truth_fraction: float = 0.0


@dataclass
class ForecastBatch:
    """One training batch of a conditional model: per row, K seeds and a target."""

    seeds: torch.Tensor  # (B, K, C, H, W) normalised members of one forecast
    target: torch.Tensor  # (B, C, H, W) another member of it, or its date's truth
    truth: torch.Tensor  # (B,) bool: the target is the truth

    @property
    def shape(self) -> torch.Size:
        return self.target.shape

    def to(self, device: Any, non_blocking: bool = False) -> ForecastBatch:
        return ForecastBatch(
            self.seeds.to(device, non_blocking=non_blocking),
            self.target.to(device, non_blocking=non_blocking),
            self.truth.to(device, non_blocking=non_blocking),
        )

    def pin_memory(self) -> ForecastBatch:
        return ForecastBatch(self.seeds.pin_memory(), self.target.pin_memory(), self.truth)


class ConditionalSampling(ABC):
    """A model that draws members of one forecast given seed members of it."""

    @abstractmethod
    def condition_spec(self) -> ConditionSpec:
        """The number of seeds and the target mix the model trains on."""

    @abstractmethod
    def sample_conditional(
        self,
        n: int,
        condition: torch.Tensor,
        generator: torch.Generator,
        device: torch.device | str = "cpu",
    ) -> torch.Tensor:
        """n normalised fields (n, C, H, W) of the forecast whose seed members are
        ``condition`` (K, C, H, W), K >= 1 in any order."""


def check_condition(condition: torch.Tensor, shape: tuple[int, ...]) -> torch.Tensor:
    """``condition`` as (K, C, H, W) for a model of field shape (C, H, W), or a one-line
    refusal naming what is wrong (shape, no member, non-finite values)."""
    if condition.dim() == 3:
        condition = condition.unsqueeze(0)
    if condition.dim() != 4 or tuple(condition.shape[1:]) != tuple(shape):
        raise UserError(
            f"a condition is K seed members of shape {tuple(shape)}; got {tuple(condition.shape)}"
        )
    if condition.shape[0] < 1:
        raise UserError("a condition needs at least one seed member")
    if not torch.isfinite(condition).all():
        raise UserError("the seed members hold NaN/inf values")
    return condition

"""Learning-rate schedules of the configured optimisers (``training.optimizer``).

The schedule is a function of the step alone - each group's lr is its base lr times
:func:`lr_factor` - so a resumed run continues it exactly with no scheduler state to save.
The base lr is the one the architecture asked for (after a transfer's scaling), kept in
each parameter group as ``base_lr``.
"""

from __future__ import annotations

import logging
import math

import torch

from gensemble.core.config import OptimizerConfig

LOG = logging.getLogger(__name__)


def lr_factor(cfg: OptimizerConfig, step: int, total_steps: int) -> float:
    """Multiplier of the base learning rate at ``step`` (0-based) of ``total_steps``:
    a linear warm-up to 1 over ``warmup_steps``, then constant or a cosine decay to
    ``min_lr_factor`` at the last step."""
    if step < cfg.warmup_steps:
        return (step + 1) / cfg.warmup_steps
    if cfg.schedule == "constant":
        return 1.0
    span = max(1, total_steps - cfg.warmup_steps - 1)
    t = min(1.0, (step - cfg.warmup_steps) / span)
    return cfg.min_lr_factor + (1 - cfg.min_lr_factor) * 0.5 * (1 + math.cos(math.pi * t))


def is_scheduled(cfg: OptimizerConfig) -> bool:
    return cfg.schedule != "constant" or cfg.warmup_steps > 0


def remember_base_lr(optimizers: dict[str, torch.optim.Optimizer]) -> None:
    """Keep each group's learning rate as the base the schedule scales."""
    for opt in optimizers.values():
        for group in opt.param_groups:
            group["base_lr"] = group["lr"]


def apply_schedule(
    optimizers: dict[str, torch.optim.Optimizer], cfg: OptimizerConfig, step: int, total: int
) -> None:
    """Set every group's lr for ``step`` (nothing to do for a constant schedule)."""
    if not is_scheduled(cfg):
        return
    factor = lr_factor(cfg, step, total)
    for opt in optimizers.values():
        for group in opt.param_groups:
            group["lr"] = group["base_lr"] * factor

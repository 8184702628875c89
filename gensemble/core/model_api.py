"""The contract between the training loop and an architecture's model.

An architecture plugin's ``build`` returns a :class:`GenerativeModel`; the generic loop
(:mod:`gensemble.training`) only calls the methods below, so any architecture that
implements them trains, checkpoints, resumes, generates and transfers the same way.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch


class BatchRandom:
    """Random draws that do not depend on how a batch is split across ranks.

    Every rank draws the *global* batch from the same generator and keeps its own rows,
    so a 2-process run sees exactly the numbers a 1-process run with the same global
    batch sees.  The generator state is part of every checkpoint (exact resume).
    """

    def __init__(self, seed: int, rank: int = 0, world: int = 1, device: Any = "cpu") -> None:
        self.generator = torch.Generator(device="cpu").manual_seed(seed)
        self.rank, self.world, self.device = rank, world, torch.device(device)

    def randn(self, local_batch: int, *shape: int) -> torch.Tensor:
        full = torch.randn(local_batch * self.world, *shape, generator=self.generator)
        part = full[self.rank * local_batch : (self.rank + 1) * local_batch]
        return part.to(self.device, non_blocking=True)

    def rand(self, local_batch: int, *shape: int) -> torch.Tensor:
        full = torch.rand(local_batch * self.world, *shape, generator=self.generator)
        part = full[self.rank * local_batch : (self.rank + 1) * local_batch]
        return part.to(self.device, non_blocking=True)

    def uniform(self) -> float:
        """One number shared by all ranks (e.g. a style-mixing cut-off)."""
        return float(torch.rand((), generator=self.generator))

    def get_state(self) -> torch.Tensor:
        return self.generator.get_state()

    def set_state(self, state: torch.Tensor) -> None:
        self.generator.set_state(state)


@dataclass
class StepContext:
    """What the loop hands to :meth:`GenerativeModel.train_step`."""

    step: int
    rand: BatchRandom
    global_batch: int
    #: all-reduces the gradients of a module across ranks (identity on one process)
    sync: Callable[[torch.nn.Module], None]
    #: sums a tensor over ranks (identity on one process)
    reduce: Callable[[torch.Tensor], torch.Tensor] = lambda t: t
    amp: bool = False


class GenerativeModel(torch.nn.Module):
    """A trainable generator with its critic, losses and optimisers."""

    architecture: str = "?"

    def networks(self) -> dict[str, torch.nn.Module]:
        """Named sub-networks saved in checkpoints (e.g. G, G_ema, D)."""
        raise NotImplementedError

    def make_optimizers(
        self, lr_g: float, lr_d: float, betas: tuple[float, float]
    ) -> dict[str, torch.optim.Optimizer]:
        raise NotImplementedError

    def train_step(
        self, real: torch.Tensor, ctx: StepContext, optimizers: dict[str, torch.optim.Optimizer]
    ) -> dict[str, float]:
        """One optimisation step on a batch of normalised fields; returns losses to log."""
        raise NotImplementedError

    def generate(
        self,
        n: int,
        generator: torch.Generator,
        truncation: float = 1.0,
        device: torch.device | str = "cpu",
    ) -> torch.Tensor:
        """n normalised fields (n, C, H, W) from the averaged (EMA) generator."""
        raise NotImplementedError

    def channel_layers(self) -> dict[str, tuple[str, int]]:
        """Parameters whose dimension ``dim`` runs over the domain's variables
        (name -> dim); used to map channels by name when transferring to a new domain."""
        return {}

    def size_dependent(self) -> list[str]:
        """Parameter-name prefixes that depend on the grid size (re-created on transfer)."""
        return []

    def layer_groups(self) -> dict[str, list[str]]:
        """Named groups of parameter prefixes for freezing strategies."""
        return {}

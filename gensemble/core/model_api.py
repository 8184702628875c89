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


@dataclass(frozen=True)
class ChannelLayer:
    """A parameter whose dimension ``dim`` runs over the domain's variables.

    ``fan_in`` is set when that dimension is the layer's fan-in under an equalised
    learning rate (weights scaled by 1/sqrt(fan_in) at run time): transferred weights
    are then rescaled so each kept variable contributes exactly as before.
    """

    dim: int
    fan_in: bool = False


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

    def channel_layers(self) -> dict[str, ChannelLayer]:
        """Parameters with one slice per domain variable (name -> :class:`ChannelLayer`);
        used to map channels by variable name when transferring to another domain."""
        return {}

    def size_dependent(self) -> list[str]:
        """Parameter-name prefixes whose shape depends on the grid size (re-created on
        transfer when the target grid differs)."""
        return []

    def layer_groups(self) -> dict[str, list[str]]:
        """Named groups of parameter-name prefixes, used by the freezing strategies:
        ``mapping``, ``g_block{i}`` counted from the coarsest generator block and
        ``d_block{i}`` counted from the discriminator's input (finest) side."""
        return {}

    def transfer_key(self, name: str) -> str:
        """A name for parameter ``name`` that does not depend on the grid size.

        Layers indexed from the fine end of a network (a discriminator's first blocks)
        change index when the number of resolution levels changes; returning e.g.
        ``D.level3.conv0.weight`` lets a checkpoint trained on a 256x256 grid feed a model
        for a 128x192 grid level by level.  The default is the name itself.
        """
        return name

    def set_trainable(self, frozen: set[str]) -> None:
        """Freeze the named parameters for the rest of training (transfer strategies).

        Architectures that toggle ``requires_grad`` during a step must honour this set;
        the default simply marks the parameters.
        """
        for name, p in self.named_parameters():
            if name in frozen:
                p.requires_grad_(False)

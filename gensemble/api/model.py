"""The minimal contract between the generic training loop and an architecture's model.

An architecture plugin's ``build`` returns a :class:`GenerativeModel`.  The loop, the
checkpoints and generation only use what is declared here: a training step, optimisers
as a mapping built from :class:`OptimizerSpec`, and ``sample``.  Everything else an
architecture can do (latent access for inversion, transfer between domains, truncated
sampling) is an optional capability in :mod:`gensemble.api.capabilities` that code asks
for.  Nothing here is specific to GANs: the GAN architectures share their training step
in their own package, and a diffusion model implements ``train_step`` its own way.

A step returns its statistics as tensors left on the device (:data:`StepStats`): the loop
sums them there and reads them once per log interval, so a step never waits for the GPU.

Freezing is honoured by construction: :meth:`GenerativeModel.make_optimizers` never hands
a frozen parameter to an optimiser, and :meth:`GenerativeModel.enable_grad` never turns
its gradient on, whatever an architecture's step does.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import torch

from gensemble.core.errors import UserError

LOG = logging.getLogger(__name__)


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


#: what a training step returns: named scalar statistics, left where they were computed
StepStats = dict[str, torch.Tensor]


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
    #: the reduced precision of the forward passes (autocast), None for full precision
    amp_dtype: torch.dtype | None = None
    #: clip each optimiser's gradients to this global L2 norm before its step (None: never)
    grad_clip: float | None = None

    def autocast(self, device: torch.device) -> Any:
        """The autocast context of this step on ``device`` (a no-op without AMP)."""
        enabled = self.amp_dtype is not None
        return torch.autocast(device.type, dtype=self.amp_dtype or torch.float32, enabled=enabled)


@dataclass
class OptimizerSpec:
    """One optimiser an architecture asks for: its parameters and hyper-parameters (the
    optimiser's kind - Adam by default - comes from the experiment's configuration)."""

    params: list[torch.nn.Parameter]
    lr: float
    betas: tuple[float, float] = (0.9, 0.999)
    eps: float = 1e-8


class GenerativeModel(torch.nn.Module):
    """A trainable generative model (generator with its critic, losses and optimisers)."""

    architecture: str = "?"

    # -- what every architecture implements ----------------------------------------------
    def optimizer_specs(self) -> dict[str, OptimizerSpec]:
        """Named optimisers (e.g. one per network) with their parameters and settings."""
        raise NotImplementedError

    def train_step(
        self, real: torch.Tensor, ctx: StepContext, optimizers: dict[str, torch.optim.Optimizer]
    ) -> StepStats:
        """One optimisation step on a batch of normalised fields; returns the statistics
        to log as 0-d tensors (detached, on the device: the loop reads them in bulk)."""
        raise NotImplementedError

    def sample(
        self, n: int, generator: torch.Generator, device: torch.device | str = "cpu"
    ) -> torch.Tensor:
        """n normalised fields (n, C, H, W) from the model used for inference."""
        raise NotImplementedError

    def progress_keys(self) -> tuple[str, ...]:
        """Logged values worth showing on the progress bar (default: the first two)."""
        return ()

    def compile_networks(
        self, backend: str = "inductor", mode: str | None = None, training: bool = True
    ) -> bool:
        """Compile the networks in place (``torch.compile``) for training or inference;
        returns False where the architecture does not support it (the default)."""
        return False

    def divergence_hint(self) -> str:
        """What to try when a loss turns NaN/inf (named in the error message)."""
        return "lower the learning rates in architecture.options"

    # -- freezing, by construction -----------------------------------------------------------
    @property
    def frozen(self) -> frozenset[str]:
        return frozenset(getattr(self, "_frozen_names", frozenset()))

    def set_trainable(self, frozen: Iterable[str]) -> None:
        """Freeze the named parameters for the rest of training (transfer strategies)."""
        names = frozenset(frozen)
        unknown = names - {n for n, _ in self.named_parameters()}
        if unknown:
            raise KeyError(f"no such parameters: {sorted(unknown)[:5]}")
        self._frozen_names = names
        self._frozen_ids = {id(p) for n, p in self.named_parameters() if n in names}
        for name, p in self.named_parameters():
            if name in names:
                p.requires_grad_(False)

    def is_frozen(self, p: torch.nn.Parameter) -> bool:
        return id(p) in getattr(self, "_frozen_ids", ())

    def enable_grad(self, module: torch.nn.Module, on: bool = True) -> None:
        """``requires_grad`` on/off for a sub-network; frozen parameters always stay off."""
        for p in module.parameters():
            p.requires_grad_(on and not self.is_frozen(p))

    def trainable(self, module: torch.nn.Module) -> list[torch.nn.Parameter]:
        """The parameters of ``module`` that are not frozen."""
        return [p for p in module.parameters() if not self.is_frozen(p)]

    def make_optimizers(
        self, kind: str = "adam", weight_decay: float = 0.0
    ) -> dict[str, torch.optim.Optimizer]:
        """Optimisers of ``kind`` (``adam`` or ``adamw``) from :meth:`optimizer_specs`,
        frozen parameters left out."""
        classes = {"adam": torch.optim.Adam, "adamw": torch.optim.AdamW}
        if kind not in classes:
            raise UserError(f"unknown optimizer {kind!r}; known: {', '.join(classes)}")
        out = {}
        for name, spec in self.optimizer_specs().items():
            params = [p for p in spec.params if not self.is_frozen(p)]
            if not params:
                raise UserError(f"optimizer {name!r}: every one of its parameters is frozen")
            out[name] = classes[kind](
                params, lr=spec.lr, betas=spec.betas, eps=spec.eps, weight_decay=weight_decay
            )
        return out

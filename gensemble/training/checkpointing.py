"""Saving and restoring the training state: model, optimisers, batch RNG, metadata.

A checkpoint holds everything an exact resume needs (the model's state, every
optimiser's moments, the batch random generator, the step and images seen) plus the
typed metadata that lets ``generate``/``evaluate``/``transfer`` use it without the
experiment file.  Step checkpoints are pruned to the newest ``keep``; ``last`` and
``best`` are links to step files, never second serialisations.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

import torch

from gensemble import __version__
from gensemble.api.model import BatchRandom, GenerativeModel
from gensemble.core.config import Experiment
from gensemble.core.errors import UserError
from gensemble.data.normalize import Normalizer
from gensemble.data.store import Store
from gensemble.inference.checkpoint_io import (
    link_checkpoint,
    model_tensors,
    optimizer_meta,
    optimizer_tensors,
    restore_optimizer,
    save_checkpoint,
)
from gensemble.inference.metadata import CheckpointMeta, PluginSpec

LOG = logging.getLogger(__name__)


class Checkpointer:
    """Writes the checkpoints of one run into ``run_dir/checkpoints``."""

    def __init__(
        self,
        exp: Experiment,
        store: Store,
        normalizer: Normalizer,
        shape: list[int],
        world_size: int,
        keep: int,
    ) -> None:
        self.exp, self.store, self.normalizer = exp, store, normalizer
        self.shape, self.world_size, self.keep = shape, world_size, keep
        self.run_id: str | None = None
        self.run_dir: Path = Path(exp.output_dir)
        self.last_path: Path | None = None
        self.best_path: Path | None = None

    def metadata(self, step: int, state: Any) -> CheckpointMeta:
        e = self.exp
        return CheckpointMeta(
            package_version=__version__,
            step=step,
            images_seen=state.images_seen,
            run_id=self.run_id,
            run_dir=str(self.run_dir),
            architecture=PluginSpec(name=e.architecture.name, options=e.architecture.options),
            domain=PluginSpec(name=e.domain.name, options=e.domain.options),
            grid=self.store.grid.to_attrs(),
            variables=self.store.variable_names,
            variable_defs=[v.to_dict() for v in self.store.variables],
            units=[v.units for v in self.store.variables],
            shape=self.shape,
            normalizer=self.normalizer.state()[1],
            optimizers={k: optimizer_meta(o) for k, o in state.optimizers.items()},
            experiment=e.model_dump(mode="json", by_alias=True),
            world_size=self.world_size,
            best_value=state.best_value,
            init=state.init_report,
            saved_at=time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        )

    def save(self, step: int, state: Any, name: str | None = None) -> Path:
        """A step checkpoint, linked as ``last`` (and as ``name``, e.g. ``best``)."""
        tensors = {f"model.{k}": v for k, v in state.model.state_dict().items()}
        for opt_name, opt in state.optimizers.items():
            tensors.update(optimizer_tensors(f"optim.{opt_name}", opt))
        tensors.update(self.normalizer.state()[0])
        tensors["rng.batch"] = state.rand.get_state()
        folder = self.run_dir / "checkpoints"
        path = save_checkpoint(
            folder / f"step_{step:07d}.safetensors", tensors, self.metadata(step, state)
        )
        self.last_path = link_checkpoint(path, folder / "last.safetensors")
        if name:
            path = link_checkpoint(path, folder / f"{name}.safetensors")
            if name == "best":
                self.best_path = path
        for old in sorted(folder.glob("step_*.safetensors"))[: -self.keep]:
            old.unlink(missing_ok=True)
        return path


def restore(
    model: GenerativeModel,
    optimizers: dict[str, torch.optim.Optimizer],
    rand: BatchRandom,
    tensors: dict[str, torch.Tensor],
    meta: CheckpointMeta,
    device: torch.device,
) -> None:
    """Put a checkpoint's model, optimiser and RNG state back (exact resume)."""
    model.load_state_dict({k: v.to(device) for k, v in model_tensors(tensors).items()}, strict=True)
    for name, opt in optimizers.items():
        if name not in meta.optimizers:
            have = ", ".join(meta.optimizers) or "none"
            raise UserError(f"the checkpoint has no state for optimizer {name!r} (has {have})")
        restore_optimizer(opt, f"optim.{name}", tensors, meta.optimizers[name])
    rand.set_state(tensors["rng.batch"])

"""A trained model rebuilt from its checkpoint, producing fields in physical units."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import torch
from pydantic import ValidationError

from gensemble.api.capabilities import Truncatable, require
from gensemble.api.model import GenerativeModel
from gensemble.core.config import Experiment
from gensemble.core.errors import UserError
from gensemble.core.registry import get_registry
from gensemble.data.grid import Grid
from gensemble.data.normalize import Normalizer
from gensemble.inference.checkpoint_io import load_checkpoint, model_tensors, read_metadata
from gensemble.inference.metadata import CheckpointMeta

LOG = logging.getLogger(__name__)


def build_model(arch_name: str, arch_options: dict[str, Any], shape: list[int]) -> GenerativeModel:
    """The architecture's model for fields of ``shape`` (C, H, W)."""
    plugin_cls = get_registry().get("architecture", arch_name)
    try:
        plugin = plugin_cls(arch_options)
    except ValidationError as exc:  # e.g. a checkpoint written by another version
        detail = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        raise UserError(f"{arch_name} options are not valid here: {detail}") from None
    return plugin.build(*shape)


@torch.no_grad()
def sample_physical(
    model: GenerativeModel,
    normalizer: Normalizer,
    n: int,
    generator: torch.Generator,
    device: Any = "cpu",
    truncation: float = 1.0,
    batch: int = 16,
) -> torch.Tensor:
    """n fields in physical units (n, C, H, W) on the CPU, drawn ``batch`` at a time;
    truncation (psi != 1) needs a model that declares it."""
    truncated = None
    if truncation != 1.0:
        truncated = require(model, Truncatable, "truncated sampling")
    out = []
    for start in range(0, n, batch):
        k = min(batch, n - start)
        if truncated is not None:
            x = truncated.sample_truncated(k, generator, device, truncation)
        else:
            x = model.sample(k, generator, device)
        out.append(normalizer.inverse(x.cpu()))
    return torch.cat(out) if out else torch.empty(0)


class LoadedModel:
    """A trained model with everything needed to produce physical fields on its grid."""

    def __init__(self, path: Path) -> None:
        tensors, meta = load_checkpoint(path)
        self.path, self.meta = Path(path), meta
        arch = meta.architecture
        self.model = build_model(arch.name, arch.options, meta.shape)
        missing, unexpected = self.model.load_state_dict(model_tensors(tensors), strict=False)
        if missing or unexpected:
            raise UserError(
                f"{path}: checkpoint does not match architecture {arch.name} "
                f"({len(missing)} missing, {len(unexpected)} unexpected tensors)"
            )
        self.model.eval()
        self.normalizer = Normalizer.from_state(tensors, meta.normalizer)
        self.grid = Grid.from_attrs(meta.grid)
        self.variables: list[str] = meta.variables

    def generate_physical(
        self, n: int, generator: torch.Generator, truncation: float = 1.0, device: Any = "cpu"
    ) -> torch.Tensor:
        self.model.to(device)  # no-op once there
        return sample_physical(self.model, self.normalizer, n, generator, device, truncation, n)


def check_architecture(
    path: Path, expected: str, options: dict[str, Any] | None = None
) -> CheckpointMeta:
    """The checkpoint's metadata, or a refusal when it is of another architecture or its
    functional options (same shapes, another computation) differ from ``options``."""
    meta = read_metadata(path)
    if meta.architecture.name != expected:
        raise UserError(
            f"{path}: checkpoint of architecture {meta.architecture.name!r} cannot be used "
            f"with {expected!r}"
        )
    if options is not None:
        check_functional_options(path, expected, meta.architecture.options, options)
    return meta


def check_functional_options(
    path: Path, arch: str, saved: dict[str, Any], wanted: dict[str, Any]
) -> None:
    """Refuse weights trained under other values of options that change the computation
    but no shape (they would load, and silently compute something else)."""
    plugin = get_registry().get("architecture", arch)
    defaults = plugin.Options().model_dump(mode="json")
    for key in getattr(plugin, "functional_options", ()):
        a, b = saved.get(key, defaults.get(key)), wanted.get(key, defaults.get(key))
        if a != b:
            raise UserError(
                f"{path}: checkpoint computed with {key}={a}, the experiment asks for "
                f"{key}={b}; set architecture.options.{key}: {a} to use it"
            )


def experiment_of(meta: CheckpointMeta) -> Experiment:
    """The experiment a checkpoint was trained with (already migrated with its metadata)."""
    return Experiment.model_validate(meta.experiment)

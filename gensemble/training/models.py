"""Rebuild a model from a checkpoint, and find checkpoints from a run id or a path."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

import torch

from gensemble.core.cache import cache_root
from gensemble.core.config import Experiment
from gensemble.core.errors import UserError, one_line
from gensemble.core.model_api import GenerativeModel
from gensemble.core.registry import get_registry
from gensemble.core.tracking import Tracker
from gensemble.data.grid import Grid
from gensemble.data.normalize import Normalizer
from gensemble.training.checkpoint import load_checkpoint, read_metadata

TAG_RUN_DIR = "gensemble.run_dir"


def build_model(arch_name: str, arch_options: dict[str, Any], shape: list[int]) -> GenerativeModel:
    plugin = get_registry().get("architecture", arch_name)(arch_options)
    return plugin.build(*shape)


def model_tensors(tensors: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    return {k[len("model.") :]: v for k, v in tensors.items() if k.startswith("model.")}


class LoadedModel:
    """A trained model with everything needed to produce physical fields on its grid."""

    def __init__(self, path: Path) -> None:
        tensors, meta = load_checkpoint(path)
        self.path, self.meta = Path(path), meta
        arch = meta["architecture"]
        self.model = build_model(arch["name"], arch["options"], meta["shape"])
        missing, unexpected = self.model.load_state_dict(model_tensors(tensors), strict=False)
        if missing or unexpected:
            raise UserError(
                f"{path}: checkpoint does not match architecture {arch['name']} "
                f"({len(missing)} missing, {len(unexpected)} unexpected tensors)"
            )
        self.model.eval()
        self.normalizer = Normalizer.from_state(tensors, meta["normalizer"])
        self.grid = Grid.from_attrs(meta["grid"])
        self.variables: list[str] = meta["variables"]

    @torch.no_grad()
    def generate_physical(
        self, n: int, generator: torch.Generator, truncation: float = 1.0, device: Any = "cpu"
    ) -> torch.Tensor:
        x = self.model.generate(n, generator, truncation, device)
        return self.normalizer.inverse(x.cpu())


def check_architecture(path: Path, expected: str) -> dict[str, Any]:
    meta = read_metadata(path)
    got = meta.get("architecture", {}).get("name")
    if got != expected:
        raise UserError(
            f"{path}: checkpoint of architecture {got!r} cannot be used with {expected!r}"
        )
    return meta


def resolve_checkpoint(
    ref: str, tracking_uri: str | None = None, experiment: str = "gensemble", which: str = "last"
) -> Path:
    """A checkpoint file from a path (file or run folder), an MLflow run id or a registered
    model version (``models:/NAME/VERSION``, ``models:/NAME/latest``, ``models:/NAME@ALIAS``)."""
    from gensemble.training import registry

    if ref.startswith(registry.PREFIX):
        tracker = Tracker(tracking_uri, experiment)
        tracker.check(create=False)
        run_id, registered = registry.resolve_model_version(tracker.client, ref)
        return resolve_checkpoint(run_id, tracking_uri, experiment, registered)
    p = Path(ref)
    if p.is_file():
        return p
    if p.is_dir():
        cand = p / "checkpoints" / f"{which}.safetensors"
        if not cand.is_file():
            cand = p / f"{which}.safetensors"
        if cand.is_file():
            return cand
        raise UserError(f"{p}: no {which}.safetensors in this folder")
    if "/" in ref or ref.endswith(".safetensors") or ref.endswith(".pt"):
        raise UserError(f"checkpoint not found: {ref}")
    tracker = Tracker(tracking_uri, experiment)
    tracker.check(create=False)
    try:
        run = tracker.client.get_run(ref)
    except Exception:
        raise UserError(
            f"{ref!r} is neither a checkpoint path nor a run id in {tracker.uri}"
        ) from None
    run_dir = run.data.tags.get(TAG_RUN_DIR)
    if run_dir:
        local = Path(run_dir) / "checkpoints" / f"{which}.safetensors"
        if local.is_file():
            return local
    return fetch_checkpoint(tracker, ref, which)


def fetch_checkpoint(tracker: Tracker, run_id: str, which: str) -> Path:
    """A run's checkpoint artifact, downloaded once into the cache.

    A cached copy whose size matches the artifact is reused (``gensemble transfer`` and
    the trainer both resolve the source); a new copy is downloaded beside it and renamed
    into place, so ranks fetching at the same time never read a partial file.
    """
    import mlflow.artifacts

    name = f"{which}.safetensors"
    try:
        sizes = {
            Path(a.path).name: a.file_size
            for a in tracker.client.list_artifacts(run_id, "checkpoints")
        }
    except Exception as exc:
        raise UserError(f"run {run_id}: cannot list its checkpoints ({one_line(exc)})") from None
    if name not in sizes:
        raise UserError(f"run {run_id}: no {which} checkpoint found")
    folder = cache_root() / "checkpoints" / run_id
    local = folder / name
    if local.is_file() and local.stat().st_size == sizes[name]:
        return local
    folder.mkdir(parents=True, exist_ok=True)
    try:
        with tempfile.TemporaryDirectory(dir=folder) as tmp:
            got = mlflow.artifacts.download_artifacts(
                run_id=run_id,
                artifact_path=f"checkpoints/{name}",
                dst_path=tmp,
                tracking_uri=tracker.uri,
            )
            os.replace(got, local)
    except Exception as exc:
        raise UserError(f"run {run_id}: cannot download its {which} checkpoint ({exc})") from None
    return local


def experiment_of(meta: dict[str, Any]) -> Experiment:
    return Experiment.model_validate(meta["experiment"])

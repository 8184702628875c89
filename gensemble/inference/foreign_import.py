"""Checkpoints written by other code made into gensemble checkpoints.

The architecture that reads the foreign format (``ArchitecturePlugin.foreign_formats``)
builds and fills the model; this module checks it against the domain and the variables,
attaches the normalisation, writes the safetensors checkpoint with its provenance and,
on request, makes it an MLflow run and a registered model version - the root of a
lineage, so ``gensemble transfer --from`` and ``gensemble lineage`` work on it.
"""

from __future__ import annotations

import logging
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

from gensemble import __version__
from gensemble.api.plugins import ForeignWeights
from gensemble.api.variables import Variable
from gensemble.core.config import Experiment, PluginRef, flatten
from gensemble.core.errors import DataError, UserError
from gensemble.core.registry import get_registry
from gensemble.data.normalize import Normalizer
from gensemble.inference.checkpoint_io import save_checkpoint
from gensemble.inference.metadata import CheckpointMeta, PluginSpec

LOG = logging.getLogger(__name__)


def importer_for(fmt: str) -> tuple[str, Any]:
    """(architecture name, plugin class) of the architecture that reads ``fmt``."""
    registry = get_registry()
    for name in registry.names("architecture"):
        cls = registry.get("architecture", name)
        if fmt in getattr(cls, "foreign_formats", ()):
            return name, cls
    raise UserError(f"no installed architecture imports {fmt} checkpoints")


def check_fit(weights: ForeignWeights, grid_shape: tuple[int, int], variables: list[str]) -> None:
    """The generator must make the domain's grid and one field per variable."""
    c, h, w = weights.shape
    if (h, w) != tuple(grid_shape):
        raise UserError(
            f"the generator makes {h}x{w} fields, the domain's grid is "
            f"{grid_shape[0]}x{grid_shape[1]}; choose a domain or crop of that size "
            "(its ny and nx options)",
            "domain_options",
        )
    if len(variables) != c:
        raise UserError(
            f"the generator makes {c} fields, {len(variables)} variables are named "
            f"({', '.join(variables)})",
            "variables",
        )


def set_truncation_centre(model: Any, path: Path) -> str:
    """Make the w in ``path`` (.npy, (w_dim,) or (1, w_dim)) the centre truncation pulls
    towards (the model's ``w_center``); returns how it is described in the provenance."""
    import numpy as np
    import torch

    from gensemble.api.capabilities import LatentAccess, require

    latent = require(model, LatentAccess, "a truncation centre")
    try:
        arr = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as exc:
        raise DataError(f"{path}: not a readable .npy array ({exc})", "w_avg") from None
    arr = np.asarray(arr, dtype=np.float32).reshape(-1)
    if arr.shape != (latent.w_dim,) or not np.all(np.isfinite(arr)):
        raise UserError(
            f"{path}: expected {latent.w_dim} finite values, found shape {np.shape(arr)}",
            "w_avg",
        )
    latent.set_w_center(torch.from_numpy(arr))
    return f"given: {Path(path).name}"


def foreign_metadata(
    arch: str,
    weights: ForeignWeights,
    domain: Any,
    variables: list[Variable],
    normalizer: Normalizer,
    provenance: dict[str, Any],
    run_id: str | None = None,
) -> CheckpointMeta:
    """Metadata of an imported checkpoint: the experiment it amounts to, no optimiser."""
    experiment = Experiment(
        domain=PluginRef(name=domain.name, options=domain.options.model_dump(mode="json")),
        architecture=PluginRef(name=arch, options=weights.options),
    )
    return CheckpointMeta(
        package_version=__version__,
        step=weights.step,
        run_id=run_id,
        architecture=PluginSpec(name=arch, options=weights.options),
        domain=PluginSpec(name=domain.name, options=domain.options.model_dump(mode="json")),
        grid=domain.grid().to_attrs(),
        variables=[v.name for v in variables],
        variable_defs=[v.to_dict() for v in variables],
        units=[v.units for v in variables],
        shape=list(weights.shape),
        normalizer=normalizer.state()[1],
        experiment=experiment.model_dump(mode="json", by_alias=True),
        saved_at=time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        provenance=provenance,
    )


def write_imported(
    out: Path, weights: ForeignWeights, normalizer: Normalizer, meta: CheckpointMeta
) -> Path:
    """The checkpoint file (model and normalisation tensors), written atomically."""
    tensors = {f"model.{k}": v for k, v in weights.model.state_dict().items()}
    tensors.update(normalizer.state()[0])
    return save_checkpoint(out, tensors, meta)


def register_imported(
    out: Path,
    weights: ForeignWeights,
    normalizer: Normalizer,
    meta: CheckpointMeta,
    model_name: str,
    tracking_uri: str | None,
    experiment: str,
) -> tuple[str, str]:
    """An MLflow run holding the imported checkpoint and a new version of ``model_name``;
    the file at ``out`` is rewritten with the run id.  Returns (run id, version)."""
    from gensemble.core.tracking import TAG_ARCH, TAG_DOMAIN, TAG_MODEL, TAG_STRATEGY, Tracker
    from gensemble.inference.model_registry import register_run

    tracker = Tracker(tracking_uri, experiment)
    prov = meta.provenance
    run_name = f"{meta.domain.name} {meta.architecture.name} <- {prov.get('file', 'import')}"
    tags = {
        TAG_DOMAIN: meta.domain.name,
        TAG_ARCH: meta.architecture.name,
        TAG_STRATEGY: f"imported ({prov.get('format', 'foreign')})",
        "gensemble.imported_from": str(prov.get("format", "")),
        "gensemble.source_sha256": str(prov.get("sha256", "")),
    }
    run_id = tracker.start(run_name, tags)
    meta = meta.model_copy(update={"run_id": run_id})
    path = write_imported(out, weights, normalizer, meta)
    params = {k: v for k, v in flatten(meta.experiment).items() if not k.startswith("training.")}
    params.update({"training.steps": meta.step, "provenance.file": prov.get("file", "")})
    tracker.log_params(params)
    # a run's checkpoint is found as checkpoints/last.safetensors
    with tempfile.TemporaryDirectory() as tmp:
        last = Path(tmp) / "last.safetensors"
        shutil.copyfile(path, last)
        if not tracker.log_artifact(last, "checkpoints"):
            raise UserError(f"MLflow tracking URI {tracker.uri}: the checkpoint was not stored")
    version = register_run(tracker.client, run_id, model_name, "last", meta)
    tracker.set_tags({TAG_MODEL: f"models:/{model_name}/{version}"})
    tracker.end("FINISHED")
    return run_id, version

"""Find a checkpoint from what a user types: a file, a run folder, an MLflow run id or a
registered model version (``models:/NAME/VERSION``, ``models:/NAME/latest``,
``models:/NAME@ALIAS``).  A run's local folder is preferred; otherwise its artifact is
downloaded once into the cache."""

from __future__ import annotations

import logging
import os
import tempfile
from pathlib import Path

from gensemble.core.cache import cache_root
from gensemble.core.errors import NotFoundError, UserError
from gensemble.core.server_errors import lookup_failure
from gensemble.core.tracking import Tracker
from gensemble.inference import model_registry

LOG = logging.getLogger(__name__)

#: run tag holding the run's local folder (checkpoints are looked for there first)
TAG_RUN_DIR = "gensemble.run_dir"


def resolve_checkpoint(
    ref: str, tracking_uri: str | None = None, experiment: str = "gensemble", which: str = "last"
) -> Path:
    """A checkpoint file from a path (file or run folder), an MLflow run id or a registered
    model version (``models:/NAME/VERSION``, ``models:/NAME/latest``, ``models:/NAME@ALIAS``)."""
    if ref.startswith(model_registry.PREFIX):
        tracker = Tracker(tracking_uri, experiment)
        tracker.check(create=False)
        run_id, registered = model_registry.resolve_model_version(tracker.client, ref)
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
    except Exception as exc:
        failure = lookup_failure(exc, f"run {ref!r}", tracker.uri)
        if isinstance(failure, NotFoundError):
            failure = NotFoundError(
                f"{ref!r} is neither a checkpoint path nor a run id in {tracker.uri}"
            )
        raise failure from None
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
        raise lookup_failure(exc, f"the checkpoints of run {run_id}", tracker.uri) from None
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

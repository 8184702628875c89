"""Trained generators in the MLflow model registry.

A finished run registers its checkpoint as a new version of a registered model (by
default ``<domain>-<architecture>``), tagged with the domain, architecture, variables,
grid shape and step, so ``models:/se_france-stylegan2/3`` (or ``@alias``, or ``/latest``)
can be given wherever a checkpoint is expected, e.g. as ``init.from`` of a transfer.
The version points at the run's artifact (``runs:/RUN_ID/checkpoints/...``); resolving
it prefers the run's local folder and downloads the artifact otherwise.
"""

from __future__ import annotations

import logging
import re
from typing import Any

from gensemble.core.config import MODEL_NAME_PATTERN
from gensemble.core.errors import UserError
from gensemble.core.server_errors import Failure, classify, lookup_failure
from gensemble.core.tracking import TAG_ARCH, TAG_DOMAIN
from gensemble.inference.metadata import CheckpointMeta

LOG = logging.getLogger(__name__)

PREFIX = "models:/"
TAG_CHECKPOINT = "gensemble.checkpoint"
_NAME_OK = re.compile(MODEL_NAME_PATTERN)


def default_model_name(domain: str, architecture: str) -> str:
    return f"{domain}-{architecture}"


def register_run(
    client: Any,
    run_id: str,
    name: str,
    which: str,
    meta: CheckpointMeta,
) -> str:
    """Register ``checkpoints/<which>.safetensors`` of ``run_id`` as a new version of
    ``name`` (created when absent); returns the version number."""
    if not _NAME_OK.match(name):
        raise UserError(f"model name {name!r}: use letters, digits, '_', '-', '.' or spaces")
    tags = {
        TAG_DOMAIN: meta.domain.name,
        TAG_ARCH: meta.architecture.name,
    }
    try:
        client.get_registered_model(name)
    except Exception as exc:
        if classify(exc) is not Failure.NOT_FOUND:
            raise lookup_failure(exc, f"registered model {name!r}", None) from None
        client.create_registered_model(
            name,
            tags=tags,
            description=f"{tags[TAG_ARCH]} generators for domain {tags[TAG_DOMAIN]}",
        )
    version_tags = {
        **tags,
        TAG_CHECKPOINT: which,
        "gensemble.variables": ",".join(meta.variables),
        "gensemble.shape": "x".join(str(s) for s in meta.shape),
        "gensemble.step": str(meta.step),
    }
    mv = client.create_model_version(
        name,
        source=f"runs:/{run_id}/checkpoints/{which}.safetensors",
        run_id=run_id,
        tags=version_tags,
        description=f"step {meta.step} of run {run_id} ({which} checkpoint)",
    )
    return str(mv.version)


def parse_model_uri(ref: str) -> tuple[str, str | None, str | None]:
    """``models:/NAME/VERSION`` | ``models:/NAME/latest`` | ``models:/NAME@ALIAS`` ->
    (name, version or None for latest, alias)."""
    body = ref[len(PREFIX) :].strip("/")
    if "@" in body:
        name, alias = body.rsplit("@", 1)
        if name and alias:
            return name, None, alias
    elif "/" in body:
        name, version = body.rsplit("/", 1)
        if name and (version.isdigit() or version == "latest"):
            return name, None if version == "latest" else version, None
    raise UserError(
        f"{ref!r}: expected models:/NAME/VERSION, models:/NAME/latest or models:/NAME@ALIAS"
    )


def resolve_model_version(client: Any, ref: str) -> tuple[str, str]:
    """(run_id, which checkpoint) of a registered model version."""
    name, version, alias = parse_model_uri(ref)
    try:
        if alias is not None:
            mv = client.get_model_version_by_alias(name, alias)
        elif version is not None:
            mv = client.get_model_version(name, version)
        else:
            found = client.search_model_versions(f"name='{name}'")
            if not found:
                raise UserError(f"{ref}: registered model {name!r} has no versions")
            mv = max(found, key=lambda v: int(v.version))
    except UserError:
        raise
    except Exception as exc:
        raise lookup_failure(exc, f"{ref} in the model registry", None) from None
    if not mv.run_id:
        raise UserError(f"{ref}: model version has no run to take the checkpoint from")
    return mv.run_id, (mv.tags or {}).get(TAG_CHECKPOINT, "last")


def register_checkpoint(run_id: str, name: str | None, which: str, uri: str | None) -> str:
    """Register the ``which`` checkpoint of ``run_id`` (a new version of ``name``, default
    DOMAIN-ARCH), tag the run with it and return ``models:/NAME/VERSION``."""
    from gensemble.core.tracking import TAG_MODEL, Tracker
    from gensemble.inference.checkpoint_io import read_metadata
    from gensemble.inference.resolve import resolve_checkpoint

    if which not in ("last", "best"):
        raise UserError(f"the checkpoint must be last or best, got {which!r}", "which")
    tracker = Tracker(uri)
    tracker.check(create=False)
    meta = read_metadata(resolve_checkpoint(run_id, uri, which=which))
    name = name or default_model_name(meta.domain.name, meta.architecture.name)
    version = register_run(tracker.client, run_id, name, which, meta)
    tracker.run_id = run_id
    model_uri = f"models:/{name}/{version}"
    tracker.set_tags({TAG_MODEL: model_uri})
    return model_uri

"""One ``calibrate`` job, and calibration records: where they are read from and how
they are logged beside the model they calibrate.

A record is read from a JSON file, from a calibration run's artifact, or from a model
run tagged with its calibration (:data:`TAG_CALIBRATION`), so ``enrich`` and event
verification find it the same way.
"""

from __future__ import annotations

import json
import logging
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from gensemble.core.atomic import atomic_path
from gensemble.core.errors import DataError, NotFoundError, UserError
from gensemble.enrichment.calibrate import (
    Calibration,
    CalibrationConfig,
    split_members,
)
from gensemble.enrichment.calibrate import calibrate as run_calibration
from gensemble.enrichment.invert import InversionConfig
from gensemble.enrichment.io import read_store
from gensemble.enrichment.job import ModelSource
from gensemble.enrichment.perturb import PerturbConfig

LOG = logging.getLogger(__name__)

#: tag on a model's run naming its latest calibration run
TAG_CALIBRATION = "gensemble.calibration"


def read_calibration(ref: str, uri: str | None) -> dict[str, Any]:
    """A calibration record from a JSON file, a calibration run, or a model run tagged
    with its calibration."""
    path = Path(ref)
    if path.is_file():
        try:
            return json.loads(path.read_text())
        except json.JSONDecodeError as exc:
            raise DataError(f"{ref}: not JSON ({exc})", "calibration") from None
    from gensemble.core.server_errors import lookup_failure
    from gensemble.core.tracking import Tracker

    tracker = Tracker(uri)
    tracker.check(create=False)
    try:
        run = tracker.client.get_run(ref)
        run_id = run.data.tags.get(TAG_CALIBRATION, ref)
        folder = tracker.client.download_artifacts(run_id, "calibration")
    except Exception as exc:
        failure = lookup_failure(exc, f"calibration {ref!r}", tracker.uri)
        if isinstance(failure, NotFoundError) or isinstance(exc, OSError):
            raise NotFoundError(
                f"{ref}: neither a calibration file nor a run with a calibration in {tracker.uri}",
                "calibration",
            ) from None
        raise failure from None
    return json.loads((Path(folder) / "calibration.json").read_text())


def lead_hours(store: Any, ref: np.datetime64, leads: list[float] | None) -> list[float]:
    """The lead times of forecast ``ref`` to use: those given, or every one the store
    holds for that reference time (0 for a store without lead times)."""
    if leads:
        return list(leads)
    valid = store.times()
    lead_h = store.lead_times().astype(float)
    starts = valid - (np.nan_to_num(lead_h) * 3600).astype("timedelta64[s]")
    return sorted(set(lead_h[starts == ref].tolist())) or [0.0]


@dataclass
class CalibrateJob:
    """Past forecasts of a store to learn (a, b) on, with the inversion's settings."""

    model: ModelSource
    store: Path
    dates: list[str]
    out: Path = Path("calibration.json")
    leads: list[float] | None = None
    config: CalibrationConfig = field(default_factory=CalibrationConfig)
    inversion: InversionConfig = field(default_factory=InversionConfig)
    levels: list[int] | None = None


@dataclass
class CalibrateResult:
    record: dict[str, Any]
    path: Path
    forecasts: int
    model_run: str | None
    experiment: dict[str, Any]


def run_calibrate(
    job: CalibrateJob,
    on_step: Callable[[int], None] | None = None,
    on_start: Callable[[int], None] | None = None,
) -> CalibrateResult:
    """Invert the dates' members, search (a, b), write the record atomically."""
    from gensemble.data.store import Store

    enricher, path = job.model.load()
    loaded = enricher.loaded
    if not Path(job.store).exists():
        raise DataError(f"store {job.store} does not exist", "store")
    store = Store(Path(job.store))
    forecasts = []
    for d in job.dates:
        try:
            ref = np.datetime64(d, "s")
        except ValueError:
            raise UserError(f"{d!r} is not an ISO date/time", "dates") from None
        for h in lead_hours(store, ref, job.leads):
            case = read_store(job.store, loaded.variables, tuple(loaded.meta.shape), d, h)[0]
            forecasts.append(case.members)
    if on_start is not None:
        objective = job.config.objective
        on_start(job.inversion.steps * sum(len(split_members(m, objective)[0]) for m in forecasts))
    base = PerturbConfig(levels=job.levels, seed=job.config.seed)
    calib = Calibration(enricher, forecasts, job.config, job.inversion, base, on_step)
    record = run_calibration(calib)
    record |= {
        "checkpoint": str(path),
        "run_id": loaded.meta.run_id,
        "dates": ",".join(job.dates),
        # what enrich compares its own inversion with (a, b fit these reconstructions)
        "inversion": job.inversion.model_dump(mode="json"),
    }
    with atomic_path(job.out) as tmp:
        tmp.write_text(json.dumps(record, indent=1))
    return CalibrateResult(record, Path(job.out), len(forecasts), loaded.meta.run_id,
                           loaded.meta.experiment)  # fmt: skip


def log_calibration(result: CalibrateResult, uri: str | None) -> str | None:
    """A calibration run under the model's run, its record as an artifact, and the model's
    run tagged with it; None (with a warning) when the model's run is not in the store."""
    from gensemble.core.tracking import TAG_PARENT, Tracker

    record, out, model_run = result.record, result.path, result.model_run
    tracking = result.experiment.get("tracking") or {}
    name = tracking.get("experiment", "gensemble")
    parent = Tracker(uri or tracking.get("uri"), name)
    try:
        parent.attach(model_run)
    except UserError as exc:  # not there, or the server is out of reach: the file stays
        LOG.warning("%s: the calibration is only in %s", exc, out)
        return None
    tracker = Tracker(uri or tracking.get("uri"), name)
    run_id = tracker.start(
        f"calibrate <- {model_run[:8]}",
        {TAG_PARENT: model_run, "gensemble.kind": "calibration"},
    )
    tracker.log_params({f"calibration.{k}": v for k, v in record["settings"].items()})
    tracker.log_metrics(
        {"calibration/before": record["value_before"], "calibration/after": record["value_after"]},
        0,
    )
    with tempfile.TemporaryDirectory() as tmp:  # the artifact's name is fixed
        copy = Path(tmp) / "calibration.json"
        copy.write_text(out.read_text())
        tracker.log_artifact(copy, "calibration")
    tracker.end()
    parent.set_tags({TAG_CALIBRATION: run_id})
    return run_id

"""The MLflow run of a training run: created (or reopened on resume) by rank 0 only,
with its parameters, lineage tags and transfer report; every rank learns its folder."""

from __future__ import annotations

import hashlib
import json
import logging
from pathlib import Path
from typing import Any

import numpy as np

from gensemble.core.config import Experiment, flatten, offline_store_uri
from gensemble.core.errors import UserError
from gensemble.core.tracking import TAG_ARCH, TAG_DOMAIN, TAG_OFFLINE, Tracker
from gensemble.inference.resolve import TAG_RUN_DIR
from gensemble.inference.transfer_report import TransferReport
from gensemble.sync.run_replay import PENDING_FILE, TRACKING_FILE
from gensemble.training import lineage
from gensemble.training.checkpointing import Checkpointer
from gensemble.training.distributed import DistInfo
from gensemble.training.setup import TrainState

LOG = logging.getLogger(__name__)


def start_run(
    exp: Experiment, state: TrainState, info: DistInfo, ckpt: Checkpointer, n_train: int
) -> Tracker | None:
    """Sets the run id and folder on ``ckpt``; returns rank 0's tracker (None elsewhere)."""
    if state.resumed_from is not None:
        meta = state.resumed_from[1]
        ckpt.run_id = meta.run_id
        ckpt.run_dir = Path(meta.run_dir) if meta.run_dir else Path(exp.output_dir)
        ckpt.last_path = state.resumed_from[0]
    tracker = None
    if info.is_main:
        tracker, fallback_tags = open_tracker(exp, resuming=bool(ckpt.run_id))
        tags = {TAG_DOMAIN: exp.domain.name, TAG_ARCH: exp.architecture.name, **fallback_tags}
        tags.update(lineage.tags_for(state.init_report))
        if ckpt.run_id:
            tracker.start(run_id=ckpt.run_id)
            tracker.set_tags({"gensemble.resumed_at_step": str(state.step)})
        else:
            name = exp.tracking.run_name or default_run_name(exp, state.init_report)
            ckpt.run_id = tracker.start(name, tags)
            ckpt.run_dir = Path(exp.output_dir) / ckpt.run_id
            tracker.set_tags({TAG_RUN_DIR: str(ckpt.run_dir.resolve())})
            params = flatten(exp.model_dump(mode="json", by_alias=True))
            params.update({"world_size": info.world, "data.n_train": n_train})
            tracker.log_params(params)
            log_store_input(tracker, ckpt.store)
        ckpt.run_dir.mkdir(parents=True, exist_ok=True)
        tracker.journal = ckpt.run_dir / "metrics.jsonl"
        # where this run is tracked, so `gensemble sync RUN_DIR` can finish it after an outage
        record = {"uri": tracker.uri, "experiment": exp.tracking.experiment, "run_id": ckpt.run_id}
        (ckpt.run_dir / TRACKING_FILE).write_text(json.dumps(record, indent=1))
        if state.resumed_from is not None:
            tracker.replay_journal()  # points an outage kept from the server
        if state.init_report is not None and state.step == 0:
            report = ckpt.run_dir / "transfer.json"
            report.write_text(json.dumps(state.init_report.stored(), indent=1))
            tracker.log_artifact(report)
    _broadcast_run(ckpt, info)
    return tracker


def leave_for_sync(exp: Experiment, ckpt: Checkpointer, status: str, stopped: str) -> None:
    """The store was down at the end of the run: write what is left to send (final
    status, checkpoints, registration) for ``gensemble sync RUN_DIR``; the metric points
    are in the run's journal."""
    register = None
    if stopped == "finished" and exp.tracking.register_model:
        from gensemble.inference.model_registry import default_model_name

        name = exp.tracking.model_name or default_model_name(exp.domain.name, exp.architecture.name)
        register = {"name": name, "which": "best" if ckpt.best_path else "last"}
    pending = {"status": status, "register": register}
    (ckpt.run_dir / PENDING_FILE).write_text(json.dumps(pending, indent=1))
    LOG.warning(
        f"the tracking store was unreachable at the end of run {ckpt.run_id}; everything is "
        f"kept in {ckpt.run_dir}: run `gensemble sync {ckpt.run_dir}` when it is back"
    )


def log_store_input(tracker: Tracker, store: Any) -> None:
    """The zarr store as the run's training dataset (the UI's Dataset column): name,
    digest of what it holds, source path, schema of its fields."""
    from mlflow.entities import Dataset, DatasetInput, InputTag

    times = store.times()
    content = {
        "domain": store.domain,
        "variables": store.variable_names,
        "shape": [int(n) for n in store.shape],
        "times": [str(times[0]), str(times[-1])] if len(times) else [],
        "mean": [float(v) for v in np.ravel(store.stats("global")["mean"])],
    }
    digest = hashlib.sha256(json.dumps(content, sort_keys=True).encode()).hexdigest()[:16]
    schema = {
        "fields": [{"name": v.name, "units": v.units} for v in store.variables],
        "grid": content["shape"][1:],
    }
    dataset = Dataset(
        name=Path(store.path).name,
        digest=digest,
        source_type="local",
        source=str(Path(store.path).resolve()),
        schema=json.dumps(schema),
        profile=json.dumps({"num_samples": content["shape"][0], "times": content["times"]}),
    )
    tag = InputTag("mlflow.data.context", "training")
    tracker.log_inputs([DatasetInput(dataset, [tag])])


def offline_uri(exp: Experiment) -> str:
    """The offline store (created with its folder)."""
    Path(exp.output_dir).mkdir(parents=True, exist_ok=True)
    return offline_store_uri(exp.output_dir)


def open_tracker(exp: Experiment, resuming: bool) -> tuple[Tracker, dict[str, str]]:
    """The run's tracker: the configured store, the offline one, or - with
    ``tracking.fallback: offline`` and the server unreachable at start - the offline one
    with a tag saying which server it was meant for."""
    t = exp.tracking
    if t.offline:
        return Tracker(offline_uri(exp), t.experiment), {TAG_OFFLINE: "configured"}
    tracker = Tracker(t.uri, t.experiment)
    if t.fallback != "offline" or resuming:
        return tracker, {}
    try:
        tracker.check()
    except UserError as exc:
        local = offline_uri(exp)
        LOG.warning(
            f"{exc}; logging offline to {local} (later: gensemble sync {local} {tracker.uri})"
        )
        return Tracker(local, t.experiment), {TAG_OFFLINE: tracker.uri}
    return tracker, {}


def default_run_name(exp: Experiment, report: TransferReport | None) -> str:
    """``DOMAIN ARCH``, and ``<- SOURCE@STEP`` for a transfer, so runs read in the UI."""
    name = f"{exp.domain.name} {exp.architecture.name}"
    if report is not None:
        source = report.source_ref or "?"
        source = source[:12] if len(source) == 32 else source  # a run id: its head is enough
        name += f" <- {report.source_domain}:{source}@{report.source_step}"
    return name


def _broadcast_run(ckpt: Checkpointer, info: DistInfo) -> None:
    """Every rank needs the run folder (only rank 0 writes into it)."""
    if info.world == 1:
        return
    import torch.distributed as tdist

    obj = [ckpt.run_id, str(ckpt.run_dir)]
    tdist.broadcast_object_list(obj, 0)
    ckpt.run_id, ckpt.run_dir = obj[0], Path(obj[1])

"""The MLflow run of a training run: created (or reopened on resume) by rank 0 only,
with its parameters, lineage tags and transfer report; every rank learns its folder."""

from __future__ import annotations

import json
from pathlib import Path

from gensemble.core.config import Experiment, flatten
from gensemble.core.tracking import TAG_ARCH, TAG_DOMAIN, Tracker
from gensemble.inference.resolve import TAG_RUN_DIR
from gensemble.training import lineage
from gensemble.training.checkpointing import Checkpointer
from gensemble.training.distributed import DistInfo
from gensemble.training.setup import TrainState


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
        tracker = Tracker(exp.tracking.uri, exp.tracking.experiment)
        tags = {TAG_DOMAIN: exp.domain.name, TAG_ARCH: exp.architecture.name}
        tags.update(lineage.tags_for(state.init_report))
        if ckpt.run_id:
            tracker.start(run_id=ckpt.run_id)
            tracker.set_tags({"gensemble.resumed_at_step": str(state.step)})
        else:
            ckpt.run_id = tracker.start(exp.tracking.run_name, tags)
            ckpt.run_dir = Path(exp.output_dir) / ckpt.run_id
            tracker.set_tags({TAG_RUN_DIR: str(ckpt.run_dir.resolve())})
            params = flatten(exp.model_dump(mode="json", by_alias=True))
            params.update({"world_size": info.world, "data.n_train": n_train})
            tracker.log_params(params)
        ckpt.run_dir.mkdir(parents=True, exist_ok=True)
        tracker.journal = ckpt.run_dir / "metrics.jsonl"
        if state.resumed_from is not None:
            tracker.replay_journal()  # points an outage kept from the server
        if state.init_report and state.step == 0:
            report = ckpt.run_dir / "transfer.json"
            report.write_text(json.dumps(state.init_report, indent=1))
            tracker.log_artifact(report)
    _broadcast_run(ckpt, info)
    return tracker


def _broadcast_run(ckpt: Checkpointer, info: DistInfo) -> None:
    """Every rank needs the run folder (only rank 0 writes into it)."""
    if info.world == 1:
        return
    import torch.distributed as tdist

    obj = [ckpt.run_id, str(ckpt.run_dir)]
    tdist.broadcast_object_list(obj, 0)
    ckpt.run_id, ckpt.run_dir = obj[0], Path(obj[1])

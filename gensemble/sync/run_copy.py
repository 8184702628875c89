"""One run copied to another tracking store, only what the destination lacks.

Idempotent by construction: the destination run carries the source run's id as a tag set
in the same call that creates it, so a sync killed at any point and started again finds
it; params are immutable and only missing keys are sent; metric points are compared as
(step, timestamp, value) per key and only missing ones sent, in batches; artifacts are
compared by path and size.  Lineage tags are re-pointed to the destination's run ids, the
source's kept beside them.
"""

from __future__ import annotations

import logging
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gensemble.core.tracking import TAG_MODEL, TAG_PARENT, TAG_SOURCE

LOG = logging.getLogger(__name__)

TAG_SYNC_ID = "gensemble.sync.source_run_id"
TAG_SYNC_URI = "gensemble.sync.source_uri"
TAG_SYNC_PARENT = "gensemble.sync.source_parent_run_id"
#: metric points per log_batch call (MLflow's limit is 1000)
BATCH = 1000


@dataclass
class RunReport:
    """What one run's copy did (or, in a dry run, would do)."""

    source_id: str
    dest_id: str | None = None
    created: bool = False
    params: int = 0
    tags: int = 0
    points: int = 0
    artifacts: int = 0
    bytes: int = 0
    inputs: int = 0
    status: str = ""
    notes: list[str] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return bool(
            self.created or self.params or self.points or self.artifacts or self.inputs or self.tags
        )


def find_copy(dst: Any, experiment_id: str, source_id: str) -> str | None:
    """The destination run made from ``source_id`` (None when not synced yet)."""
    found = dst.search_runs(
        [experiment_id], filter_string=f"tags.`{TAG_SYNC_ID}` = '{source_id}'", max_results=1
    )
    return found[0].info.run_id if found else None


def mapped_tags(tags: dict[str, str], id_map: dict[str, str]) -> dict[str, str]:
    """Source tags with lineage pointers re-pointed to destination run ids."""
    out = {k: v for k, v in tags.items() if not k.startswith("mlflow.") or k in _KEPT_MLFLOW}
    parent = tags.get(TAG_PARENT)
    if parent:
        out[TAG_SYNC_PARENT] = parent
        if parent in id_map:
            out[TAG_PARENT] = id_map[parent]
    source = tags.get(TAG_SOURCE)
    if source and source in id_map:
        out[TAG_SOURCE] = id_map[source]
    out.pop(TAG_MODEL, None)  # re-pointed once the destination's versions exist
    return out


_KEPT_MLFLOW = {"mlflow.runName", "mlflow.note.content", "mlflow.source.git.commit", "mlflow.user"}


def _missing_points(src: Any, dst: Any, src_id: str, dst_id: str | None, key: str) -> list:
    history = src.get_metric_history(src_id, key)
    if dst_id is None:
        return list(history)
    have = {(m.step, m.timestamp, m.value) for m in dst.get_metric_history(dst_id, key)}
    return [m for m in history if (m.step, m.timestamp, m.value) not in have]


def _artifact_files(client: Any, run_id: str, path: str | None = None) -> dict[str, int]:
    out: dict[str, int] = {}
    for item in client.list_artifacts(run_id, path):
        if item.is_dir:
            out.update(_artifact_files(client, run_id, item.path))
        else:
            out[item.path] = int(item.file_size or 0)
    return out


def copy_run(
    src: Any,
    dst: Any,
    run: Any,
    dest_experiment: str,
    id_map: dict[str, str],
    source_uri: str,
    dry_run: bool = False,
    progress: Any = None,
) -> RunReport:
    """Bring ``run`` (a source ``mlflow.entities.Run``) up to date in the destination."""
    from mlflow.entities import Metric, Param

    sid = run.info.run_id
    report = RunReport(sid, status=run.info.status)
    new_experiment = dest_experiment.startswith("(new)")  # dry run: nothing there yet
    dest_id = id_map.get(sid) or (None if new_experiment else find_copy(dst, dest_experiment, sid))
    tags = mapped_tags(run.data.tags, id_map)
    tags.update({TAG_SYNC_ID: sid, TAG_SYNC_URI: source_uri})
    if dest_id is None:
        report.created = True
        if not dry_run:
            created = dst.create_run(
                dest_experiment,
                start_time=run.info.start_time,
                tags=tags,
                run_name=run.info.run_name,
            )
            dest_id = created.info.run_id
    report.dest_id = dest_id
    if dest_id is not None:
        id_map[sid] = dest_id
    existing = dst.get_run(dest_id).data if dest_id else None

    # tags (lineage re-pointed), then params not yet there
    have_tags = existing.tags if existing else {}
    new_tags = {k: v for k, v in tags.items() if have_tags.get(k) != v}
    report.tags = len(new_tags) if not report.created else 0
    have_params = existing.params if existing else {}
    params = [Param(k, v) for k, v in run.data.params.items() if k not in have_params]
    report.params = len(params)
    if not dry_run:
        for k, v in new_tags.items():
            dst.set_tag(dest_id, k, v)
        for i in range(0, len(params), 100):
            dst.log_batch(dest_id, params=params[i : i + 100])

    # metric histories: only the points the destination lacks
    for key in sorted(run.data.metrics):
        missing = _missing_points(src, dst, sid, None if report.created else dest_id, key)
        report.points += len(missing)
        if dry_run:
            continue
        rows = [Metric(m.key, m.value, m.timestamp, m.step) for m in missing]
        for i in range(0, len(rows), BATCH):
            dst.log_batch(dest_id, metrics=rows[i : i + BATCH])

    # dataset inputs (the zarr store a run trained on)
    inputs = getattr(run, "inputs", None)
    have_inputs = set()
    if existing is not None:
        dest_run = dst.get_run(dest_id)
        have_inputs = {
            d.dataset.digest for d in (getattr(dest_run.inputs, "dataset_inputs", None) or [])
        }
    new_inputs = [
        d
        for d in (getattr(inputs, "dataset_inputs", None) or [])
        if d.dataset.digest not in have_inputs
    ]
    report.inputs = len(new_inputs)
    if new_inputs and not dry_run:
        dst.log_inputs(dest_id, datasets=new_inputs)

    # artifacts: by path and size
    want = _artifact_files(src, sid)
    have = {} if report.created or dest_id is None else _artifact_files(dst, dest_id)
    todo = [p for p, size in sorted(want.items()) if have.get(p) != size]
    report.artifacts = len(todo)
    report.bytes = sum(want[p] for p in todo)
    if todo and not dry_run:
        with tempfile.TemporaryDirectory() as tmp:
            for path in todo:
                local = src.download_artifacts(sid, path, tmp)
                parent = str(Path(path).parent)
                dst.log_artifact(dest_id, local, None if parent == "." else parent)
                Path(local).unlink(missing_ok=True)
                if progress is not None:
                    progress(want[path])

    # status last: a run is FINISHED on the destination only once everything is there
    if not dry_run and run.info.status != "RUNNING":
        current = dst.get_run(dest_id).info
        if current.status != run.info.status or current.end_time != run.info.end_time:
            dst.set_terminated(dest_id, run.info.status, end_time=run.info.end_time)
    return report

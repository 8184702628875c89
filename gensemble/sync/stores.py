"""``gensemble sync SRC DEST``: experiments, runs (parents first) and registered model
versions from one MLflow tracking store to another.

Runs are ordered so a transfer run's source is copied before it whatever the order asked
for (ancestors of selected runs are included); each run is brought up to date by
:func:`gensemble.sync.run_copy.copy_run`; registered model versions follow, pointing at
the destination's copies of their runs and found again by a tag on a second sync.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from gensemble.core.errors import NotFoundError, UserError, one_line
from gensemble.core.server_errors import Failure, classify, lookup_failure
from gensemble.core.tracking import (
    EXPERIMENT_KIND,
    TAG_MODEL,
    TAG_PARENT,
    Tracker,
    artifact_location,
)
from gensemble.sync.run_copy import RunReport, copy_run

LOG = logging.getLogger(__name__)

TAG_SYNC_VERSION = "gensemble.sync.source_version"


@dataclass
class SyncReport:
    runs: list[RunReport] = field(default_factory=list)
    versions: list[tuple[str, str, str]] = field(default_factory=list)  # name, src, dst
    experiments_created: list[str] = field(default_factory=list)


def client_for(uri: str) -> Any:
    tracker = Tracker(uri)
    tracker.check(create=False)
    return tracker.client


def ordered(runs: list[Any]) -> list[Any]:
    """Runs with every parent (``gensemble.parent_run_id``) before its children."""
    by_id = {r.info.run_id: r for r in runs}
    done: set[str] = set()
    out: list[Any] = []

    def visit(run: Any, stack: tuple[str, ...] = ()) -> None:
        rid = run.info.run_id
        if rid in done or rid in stack:
            return
        parent = run.data.tags.get(TAG_PARENT)
        if parent in by_id:
            visit(by_id[parent], (*stack, rid))
        done.add(rid)
        out.append(run)

    for run in sorted(runs, key=lambda r: r.info.start_time or 0):
        visit(run)
    return out


def select_runs(src: Any, experiments: list[str], run_ids: list[str]) -> list[tuple[Any, Any]]:
    """(experiment, run) pairs to copy: the named runs (with their ancestors) or every run
    of the named experiments (default: all experiments)."""
    if run_ids:
        picked: dict[str, Any] = {}
        queue = list(run_ids)
        while queue:
            rid = queue.pop()
            if rid in picked:
                continue
            try:
                run = src.get_run(rid)
            except Exception as exc:
                if classify(exc) is not Failure.NOT_FOUND:
                    raise lookup_failure(exc, f"run {rid}", "the source store") from None
                if rid in run_ids:
                    raise NotFoundError(f"run {rid} not found in the source store") from None
                continue  # an ancestor outside this store: the chain starts here
            picked[rid] = run
            if run.data.tags.get(TAG_PARENT):
                queue.append(run.data.tags[TAG_PARENT])
        runs = list(picked.values())
    else:
        exps = src.search_experiments()
        if experiments:
            names = {e.name for e in exps}
            for name in experiments:
                if name not in names:
                    raise UserError(f"experiment {name!r} not found in the source store")
            exps = [e for e in exps if e.name in experiments]
        runs = []
        for exp in exps:
            token = None
            while True:
                page = src.search_runs([exp.experiment_id], max_results=1000, page_token=token)
                runs.extend(page)
                token = page.token
                if not token:
                    break
    cache: dict[str, Any] = {}
    out = []
    for run in ordered(runs):
        eid = run.info.experiment_id
        if eid not in cache:
            cache[eid] = src.get_experiment(eid)
        out.append((cache[eid], run))
    return out


def dest_experiment(dst: Any, exp: Any, dest_uri: str, report: SyncReport, dry: bool) -> str:
    found = dst.get_experiment_by_name(exp.name)
    if found is not None:
        if found.lifecycle_stage == "deleted" and not dry:
            dst.restore_experiment(found.experiment_id)
        return found.experiment_id
    report.experiments_created.append(exp.name)
    if dry:
        return f"(new) {exp.name}"
    tags = {k: v for k, v in (exp.tags or {}).items() if not k.startswith("mlflow.")}
    tags.update(EXPERIMENT_KIND)
    return dst.create_experiment(exp.name, artifact_location(dest_uri), tags=tags)


def copy_versions(
    src: Any, dst: Any, id_map: dict[str, str], report: SyncReport, dry: bool
) -> None:
    """Registered versions of synced runs, created once on the destination."""
    for model in src.search_registered_models():
        for mv in src.search_model_versions(f"name='{model.name}'"):
            if mv.run_id not in id_map:
                continue
            key = f"{model.name}/{mv.version}"
            try:
                dst.get_registered_model(model.name)
                existing = dst.search_model_versions(f"name='{model.name}'")
            except Exception as exc:
                if classify(exc) is not Failure.NOT_FOUND:
                    raise lookup_failure(exc, f"model {model.name}", "the destination") from None
                existing = []
                if not dry:
                    dst.create_registered_model(
                        model.name, tags=dict(model.tags or {}), description=model.description
                    )
            match = [v for v in existing if (v.tags or {}).get(TAG_SYNC_VERSION) == key]
            if match:
                continue
            dest_run = id_map[mv.run_id]
            source = (mv.source or "").replace(f"runs:/{mv.run_id}/", f"runs:/{dest_run}/")
            if dry:
                report.versions.append((model.name, mv.version, "(new)"))
                continue
            new = dst.create_model_version(
                model.name,
                source=source,
                run_id=dest_run,
                tags={**(mv.tags or {}), TAG_SYNC_VERSION: key},
                description=mv.description,
            )
            report.versions.append((model.name, mv.version, str(new.version)))
            dst.set_tag(dest_run, TAG_MODEL, f"models:/{model.name}/{new.version}")
            for alias in getattr(mv, "aliases", None) or []:
                dst.set_registered_model_alias(model.name, alias, new.version)


def sync_stores(
    source_uri: str,
    dest_uri: str,
    experiments: list[str] | None = None,
    run_ids: list[str] | None = None,
    dry_run: bool = False,
    on_run: Callable[[RunReport], None] | None = None,
    on_bytes: Callable[[int], None] | None = None,
) -> SyncReport:
    """Bring ``dest_uri`` up to date with ``source_uri`` (see the module docstring)."""
    if source_uri == dest_uri:
        raise UserError("sync: source and destination are the same store")
    src = client_for(source_uri)
    dst = client_for(dest_uri)
    report = SyncReport()
    id_map: dict[str, str] = {}
    exp_ids: dict[str, str] = {}
    for exp, run in select_runs(src, experiments or [], run_ids or []):
        try:
            if exp.name not in exp_ids:
                exp_ids[exp.name] = dest_experiment(dst, exp, dest_uri, report, dry_run)
            done = copy_run(
                src, dst, src.get_run(run.info.run_id), exp_ids[exp.name], id_map,
                source_uri, dry_run, on_bytes,
            )  # fmt: skip
        except UserError:
            raise
        except Exception as exc:
            raise UserError(
                f"sync stopped at run {run.info.run_id} ({one_line(exc)[:300]}); run it again "
                "to finish: what was copied is not copied twice"
            ) from None
        report.runs.append(done)
        if on_run is not None:
            on_run(done)
    try:
        copy_versions(src, dst, id_map, report, dry_run)
    except Exception as exc:
        raise UserError(f"sync stopped at the model registry ({one_line(exc)[:300]})") from None
    return report

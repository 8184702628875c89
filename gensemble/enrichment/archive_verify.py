"""Verify a season archive against the store's truth, case by case, in flat memory.

``gensemble verify ARCHIVE --data STORE`` scores, for every finished case of an archive
(``gensemble enrich ... --out ARCHIVE.zarr``), the raw forecast (the store's members of
that case) and the archive's members - all of them, and the generated ones alone when the
archive also holds the inputs - against the store's truth at the case's valid time.

Nothing is held for the season but the study's per-case sums (a few numbers per ensemble,
variable and case: :class:`gensemble.study.bootstrap.CaseTable`): the archive is opened
lazily (xarray over dask), each ensemble is read ``member_chunk`` members at a time
(:mod:`gensemble.evaluation.member_sums`), so peak memory depends on the chunk, not on
the number of cases nor of members.  The bootstrap then resamples 24 h windows of valid
times from those sums, and every difference from raw is paired.

The thresholds (q90, q99) come from the store's members of forecasts issued outside the
archive's dates where it has some, never from the truth.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from gensemble.core.errors import UserError
from gensemble.enrichment.archive_reader import ArchiveReader
from gensemble.study.bootstrap import CaseTable, StudyScores, bootstrap
from gensemble.study.scores import Climate

LOG = logging.getLogger(__name__)

#: samples the thresholds are taken from (spread over the available forecasts)
CLIMATE_SAMPLES = 32


@dataclass
class VerifyArchiveJob:
    archive: Path
    store: Path
    bootstrap: int = 200
    seed: int = 0
    member_chunk: int = 0  # members read at once; 0: the archive's chunk along members
    fss_scale: int = 5
    block_hours: float = 24.0
    event: str | None = None  # only the cases valid within this event's period


@dataclass
class ArchiveVerification:
    """Scores with paired bootstrap intervals, and what they rest on."""

    archive: Path
    method: str
    variables: list[str]
    ensembles: dict[str, int]  # name -> members
    reference: str  # the raw ensemble every difference is taken from
    cases: int
    skipped: dict[str, int]  # why -> cases left out
    member_chunk: int
    thresholds_from: str
    climate: Climate
    scores: StudyScores
    table: CaseTable
    notes: list[str] = field(default_factory=list)
    provenance: dict[str, Any] = field(default_factory=dict)  # what the archive records

    def to_json(self) -> dict[str, Any]:
        s = self.scores
        return {
            "archive": str(self.archive), "method": self.method, "variables": self.variables,
            "ensembles": self.ensembles, "reference": self.reference, "cases": self.cases,
            "skipped": self.skipped, "member_chunk": self.member_chunk,
            "thresholds_from": self.thresholds_from, "thresholds": self.climate.thresholds,
            "blocks": s.blocks, "bootstrap": s.reps, "notes": self.notes,
            "scores": [[*k, *v.to_json()] for k, v in s.scores.items()],
            "differences": [[*k, *v.to_json()] for k, v in s.diffs.items()],
        }  # fmt: skip


def _open(job: VerifyArchiveJob) -> tuple[ArchiveReader, Any]:
    from gensemble.data.store import Store

    archive = ArchiveReader.open(Path(job.archive))
    if not Path(job.store).exists():
        raise UserError(f"{job.store} does not exist", "data")
    store = Store(Path(job.store))
    if not store.has_truth:
        raise UserError(f"{job.store} holds no verifying truth: prepare the store with one",
                        "data")  # fmt: skip
    return archive, store


def _store_cases(
    store: Any, archive: ArchiveReader
) -> tuple[list[str], list[list[np.ndarray | None]]]:
    """The archive's variables, and per (forecast, lead) the store's member samples."""
    from gensemble.enrichment.archive import case_list

    refs = archive.reference
    variables = [v for v in store.variable_names if v in archive.ds.data_vars]
    grid = archive.grid_shape(variables[0]) if variables else None
    if variables != list(store.variable_names) or grid != tuple(store.shape[-2:]):
        raise UserError(
            f"the archive's variables and grid ({variables}, {grid}) "
            f"are not the store's ({store.variable_names}, {store.shape[-2:]})",
            "data",
        )
    cases = case_list(store, f"{refs.min()}..{refs.max()}", list(archive.leads))
    samples: list[list[np.ndarray | None]] = []
    for r in refs:
        hit = np.flatnonzero(cases.reference == r)
        if not hit.size:
            raise UserError(f"the store has no forecast issued at {r}, which the archive holds",
                            "data")  # fmt: skip
        samples.append(cases.samples[int(hit[0])])
    return variables, samples


def _climate(store: Any, refs: np.ndarray, variables: list[str]) -> tuple[Climate, str]:
    """Thresholds from at most CLIMATE_SAMPLES members issued outside the archive's dates
    ``refs`` (or, when there are none, from the archive dates' raw members)."""
    from gensemble.data.forecasts import ForecastIndex

    index = ForecastIndex.of(store)
    inside = np.isin(index.reference, refs)
    pool = [int(m[0]) for m, i in zip(index.members, inside, strict=True) if not i]
    where = "forecasts issued outside the archive's dates"
    if not pool:
        pool = [int(m[0]) for m in index.members]
        where = "the raw members of the archive's own dates (the store has no others)"
    pick = np.unique(np.asarray(pool)[np.linspace(0, len(pool) - 1, CLIMATE_SAMPLES).astype(int)])
    return Climate.of(store.read(pick), variables), f"{len(pick)} members of {where}"


def _event_window(name: str | None) -> tuple[np.datetime64, np.datetime64] | None:
    if name is None:
        return None
    from gensemble.events.selection import get_event

    return get_event(name).window()


def verify_archive(
    job: VerifyArchiveJob, on_case: Callable[[int, int], None] | None = None
) -> ArchiveVerification:
    """Score every finished case of the archive; ``on_case(i, total)`` after each."""
    from gensemble.enrichment.archive import DONE
    from gensemble.evaluation.member_sums import chunked_case_sums
    from gensemble.events.resampling import blocks_of

    archive, store = _open(job)
    variables, samples = _store_cases(store, archive)
    refs, leads, done, n = archive.reference, archive.leads, archive.done, archive.members
    prov = archive.provenance
    chunk = job.member_chunk or archive.member_chunk(variables[0])
    climate, thresholds_from = _climate(store, refs, variables)
    window = _event_window(job.event)
    skipped = {"not finished": 0, "no truth at the valid time": 0, "outside the event": 0}
    todo = []
    for f, k in zip(*np.nonzero(done >= 0), strict=True):
        valid = refs[f] + np.timedelta64(int(round(leads[k] * 3600)), "s")
        if window is not None and not window[0] <= valid <= window[1]:
            skipped["outside the event"] += 1
        elif done[f, k] != DONE:
            skipped["not finished"] += 1
        else:
            todo.append((int(f), int(k), valid))
    rows = store.truth_rows_of(np.array([v for *_, v in todo], dtype="datetime64[s]"))
    skipped["no truth at the valid time"] = int((rows < 0).sum())
    todo = [(f, k, v, r) for (f, k, v), r in zip(todo, rows, strict=True) if r >= 0]
    if not todo:
        why = ", ".join(f"{c} {w}" for w, c in skipped.items() if c) or "no case"
        raise UserError(f"{job.archive}: no case to verify ({why})", "archive")
    method = str(prov.get("method", "inversion"))
    label = {"inversion": "enriched", "conditional": "conditional"}.get(method, method)
    table, valid_times = CaseTable(), []
    inputs = max(len(samples[f][k]) for f, k, *_ in todo)  # type: ignore[arg-type]
    reference = f"raw-{inputs}"
    for i, (f, k, valid, row) in enumerate(todo):
        truth = store.read_truth(np.array([row]))[0]
        raw = np.sort(np.asarray(samples[f][k]))
        ensembles: dict[str, Callable[[int, int], np.ndarray]] = {
            reference: lambda a, b, raw=raw: store.read(raw[a:b]),
            f"{label}-{n}": _reader(archive, variables, f, k, np.arange(n)),
        }
        made = np.flatnonzero(archive.generated(f, k))
        if 0 < made.size < n:
            ensembles[f"{label}-{n}:generated"] = _reader(archive, variables, f, k, made)
        sizes = {reference: raw.size, f"{label}-{n}": n, f"{label}-{n}:generated": made.size}
        for name, read in ensembles.items():
            sums = chunked_case_sums(read, sizes[name], chunk, truth, variables,
                                     climate.thresholds, climate.base_rate, job.fss_scale,
                                     job.seed + i)  # fmt: skip
            for var, s in sums.items():
                table.add(name, var, sizes[name], s)
        valid_times.append(valid)
        if on_case is not None:
            on_case(i + 1, len(todo))
    table.blocks = list(blocks_of(np.zeros(len(valid_times)), np.array(valid_times),
                                  job.block_hours))  # fmt: skip
    rng = np.random.default_rng(job.seed)
    scores = bootstrap(table, job.bootstrap, rng, reference, [], None)
    notes = []
    if skipped["not finished"]:
        notes.append(f"{skipped['not finished']} cases are not finished: enrich again to "
                     "finish them")  # fmt: skip
    if window is not None:
        notes.append(
            f"only the cases valid between {window[0]} and {window[1]} ({job.event}), scored "
            "over the whole domain with climatological thresholds (the event verification "
            "scores the event's own region and thresholds)"
        )
    return ArchiveVerification(Path(job.archive), method, variables, dict(table.members),
                               reference, len(todo), skipped, chunk, thresholds_from, climate,
                               scores, table, notes, prov)  # fmt: skip


def _reader(
    archive: ArchiveReader, variables: list[str], f: int, k: int, members: np.ndarray
) -> Callable[[int, int], np.ndarray]:
    """Reads members[a:b] of case (f, k): (b - a, C, H, W)."""
    return lambda a, b: archive.fields(f, k, variables, members[a:b])


def log_verification(res: ArchiveVerification, path: Path, uri: str | None) -> str:
    """The scores, as ``verify/ENSEMBLE/VARIABLE/SCORE``, and the JSON at ``path``, into
    the run that trained the archive's generator (its status left as it is); what was
    done, or why nothing was (the scores are written already: not an error)."""
    from gensemble.core.tracking import Tracker
    from gensemble.inference.checkpoint_io import read_metadata
    from gensemble.inference.loaded import experiment_of

    run_id, ckpt = res.provenance.get("run_id"), res.provenance.get("checkpoint_path")
    if not run_id:
        return "not logged: the archive's generator was not trained in a tracked run"
    if uri is None:
        if not ckpt or not Path(ckpt).exists():
            return (f"not logged: the generator {ckpt} is not here to say where its run is "
                    "tracked; give the tracking URI")  # fmt: skip
        uri = experiment_of(read_metadata(Path(ckpt))).tracking_uri()
    tracker = Tracker(uri)
    try:
        tracker.attach(run_id)
    except UserError as exc:
        return f"not logged: {exc}"
    step = int(res.provenance.get("training_step") or 0)
    scalars = {
        f"verify/{e.replace(':', '_')}/{v}/{k}": est.value
        for (e, v, k), est in res.scores.scores.items()
        if np.isfinite(est.value)
    }
    tracker.log_metrics(scalars, step)
    tracker.log_artifact(path, "verify")
    tracker.flush()
    return f"logged {len(scalars)} scores to run {run_id} in {tracker.uri}"

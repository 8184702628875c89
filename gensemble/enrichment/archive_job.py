"""Enrich every forecast of a season into one archive, on one process or many (torchrun).

The case list (forecast x lead time) is the same on every rank.  A rank walks it from
the start of its own share and wraps around, taking a case only after claiming it - an
exclusive file created in ``ARCHIVE.zarr.claims/<attempt>/`` - so a rank that is done
with its share goes on with cases nobody has started (one slow case does not hold the
job), and no case is made twice within an attempt.  Each case is seeded from its place in
the case list, never from the rank that makes it: any split over ranks, and any restart,
gives the same archive.  A restarted job (a new attempt) skips the cases marked done and
redoes the others.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from gensemble.core.errors import UserError
from gensemble.enrichment.archive import (
    DONE,
    PENDING,
    case_list,
    case_state,
    create_archive,
    fingerprint,
    open_archive,
    write_case,
)
from gensemble.enrichment.io import sha256

LOG = logging.getLogger(__name__)


@dataclass
class ArchiveResult:
    path: Path
    cases: int  # present cases in the archive
    made: int  # made by this rank in this attempt
    skipped: int  # found done when this attempt started
    rank: int
    world: int


def _claim(folder: Path, case: int) -> bool:
    try:
        os.close(os.open(folder / str(case), os.O_CREAT | os.O_EXCL | os.O_WRONLY))
    except FileExistsError:
        return False
    return True


def _attempt(info: Any) -> str:
    """One id per attempt, the same on every rank (rank 0's, broadcast)."""
    ids = [uuid.uuid4().hex if info.rank == 0 else None]
    if info.world > 1:
        import torch.distributed as dist

        dist.broadcast_object_list(ids, 0)
    return str(ids[0])


def _makers(job: Any, loaded: Any) -> tuple[Callable[[np.ndarray, int], Any], dict[str, Any]]:
    """How one case is enlarged (members, seed -> output) and what the archive records."""
    if job.method == "conditional":
        from gensemble.enrichment.conditional import ConditionalEnricher

        ce = ConditionalEnricher(loaded, job.model.device, job.seeds)
        return (lambda x, seed: ce.enrich(x, job.n, job.hybrid, seed)), {
            "method": "conditional", "seeds_k": ce.k}  # fmt: skip
    from gensemble.enrichment.job import perturbation
    from gensemble.enrichment.pipeline import Enricher

    cfg = perturbation(job)
    enricher = Enricher(loaded, job.model.device)

    def make(x: np.ndarray, seed: int) -> Any:
        torch.manual_seed(seed)
        inv = job.inversion.model_copy(update={"seed": seed})
        return enricher.enrich(x, job.n, inv, cfg.model_copy(update={"seed": seed}), job.hybrid)

    return make, {"method": "inversion", "perturbation": cfg.model_dump(mode="json"),
                  "inversion": job.inversion.model_dump(mode="json")}  # fmt: skip


def run_archive(job: Any, on_start: Any = None, on_step: Any = None) -> ArchiveResult:
    """Enrich the job's dates into ``job.out`` (a .zarr archive); ``on_start(cases)`` and
    ``on_step(1)`` per case made by this rank."""
    from gensemble.data.store import Store, check_store_matches
    from gensemble.training import distributed as dist

    out = Path(job.out)
    if out.suffix != ".zarr":
        raise UserError(f"an archive is a .zarr folder, got {out.name}", "out")
    info = dist.from_env()
    device = torch.device(job.model.device)
    dist.init(info, device)
    try:
        loaded, ckpt = job.model.resolve()
        store = Store(Path(job.store))
        check_store_matches(store, loaded.variables, tuple(loaded.meta.shape), "the model")
        cases = case_list(store, job.dates, job.leads)
        make, settings = _makers(job, loaded)
        settings |= {"n": job.n, "hybrid": job.hybrid, "seed": job.seed}
        what = {"checkpoint": sha256(ckpt), "store": str(Path(job.store).resolve()),
                "reference": [str(r) for r in cases.reference], "leads": cases.leads.tolist(),
                **settings}  # fmt: skip
        key = fingerprint(what)
        if info.is_main and not out.exists():
            tmp = out.with_name(out.name + ".creating")
            shutil.rmtree(tmp, ignore_errors=True)
            provenance = {**what, "checkpoint_path": str(ckpt), "run_id": loaded.meta.run_id,
                          "training_step": loaded.meta.step}  # fmt: skip
            create_archive(tmp, cases, loaded.grid, list(loaded.variables), job.n,
                           loaded.meta.domain.name, key, provenance)  # fmt: skip
            os.replace(tmp, out)
        dist.barrier(info)
        root = open_archive(out, key)
        attempt = _attempt(info)
        claims = out.with_name(out.name + ".claims") / attempt
        claims.mkdir(parents=True, exist_ok=True)
        flat = cases.flat()
        skipped = sum(case_state(root, f, k) == DONE for f, k in flat)
        start = info.rank * len(flat) // info.world
        order = flat[start:] + flat[:start]
        if on_start is not None:
            on_start(len(flat) - skipped)
        made = 0
        for f, k in order:
            case = cases.case_id(f, k)
            if case_state(root, f, k) != PENDING or not _claim(claims, case):
                continue
            t0 = time.perf_counter()
            members = store.read(cases.samples[f][k])
            if not np.isfinite(members).all():
                raise UserError(f"{store.path}: forecast {cases.reference[f]} at lead "
                                f"{cases.leads[k]:g} h holds NaN/inf values")  # fmt: skip
            result = make(members, job.seed + 7919 * case)
            write_case(root, f, k, list(loaded.variables), result, info.rank,
                       time.perf_counter() - t0)  # fmt: skip
            made += 1
            if on_step is not None:
                on_step(1)
        dist.barrier(info)
        if info.is_main:
            with contextlib.suppress(OSError):
                shutil.rmtree(out.with_name(out.name + ".claims"))
        return ArchiveResult(out, len(flat), made, skipped, info.rank, info.world)
    finally:
        dist.shutdown(info)

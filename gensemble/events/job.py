"""One event verification: ``gensemble evaluate RUN --event NAME --data STORE``.

The command parses its flags into an :class:`EventJob` and prints what
:func:`run_event` returns; a Python caller builds the job itself.  Raw and climate
ensembles need only the model's ``sample``, so any architecture can be verified; the
enricher (inversion, prior statistics) is built only when enriched members are asked for.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from gensemble.core.errors import UserError
from gensemble.events.verify import Verification

LOG = logging.getLogger(__name__)


@dataclass
class EventJob:
    """Which event, on which store, against what, with which ensembles."""

    event: str
    data: Path  # a prepared store holding the event's forecasts
    obs: Path | None = None  # station CSV or CF timeSeries netCDF; None: held-out member
    enrich: int = 0  # N enriched members (0: raw and climate only)
    calibration: str | None = None  # run id of a calibration (a, b per level)
    tracking_uri: str | None = None
    rotations: int = 2
    bootstrap: int = 200
    seed: int = 0
    steps: int = 100  # inversion steps
    device: str = "cpu"
    report: Path | None = None  # default: RUN/eval/event_NAME.html
    metrics: tuple[str, ...] = ()  # registered ensemble metrics added to the report
    archive: Path | None = None  # enriched members read from this archive (enrich --out)


@dataclass
class EventOutcome:
    report: Path
    verification: Verification


def run_event(loaded: Any, path: Path, job: EventJob) -> EventOutcome:
    """Select the event's forecasts, build the ensembles, score them, write the report."""
    from gensemble.data.store import Store, check_store_matches
    from gensemble.events.groups import ArchiveMembers, groups
    from gensemble.events.plugin_scores import metric_rows
    from gensemble.events.provenance import provenance
    from gensemble.events.report import figures, write_report
    from gensemble.events.selection import get_event, select_event
    from gensemble.events.truth import read_stations
    from gensemble.events.verify import VerifyConfig, verify

    event = get_event(job.event)
    if not Path(job.data).exists():
        raise UserError(f"{job.data} does not exist", "data")
    store = Store(Path(job.data))
    check_store_matches(store, loaded.variables, tuple(loaded.meta.shape), f"the model {path}")
    sel = select_event(store, event, loaded.variables)
    stations = None
    if job.obs is not None:
        stations = read_stations(job.obs, store.grid, sel.mask, sel.valid, loaded.variables)
    cfg = VerifyConfig(
        enrich=job.enrich,
        rotations=job.rotations,
        bootstrap=job.bootstrap,
        seed=job.seed,
        steps=job.steps,
    )
    if job.archive is not None and stations is None:
        raise UserError(
            "an archive's members were made from every member of each forecast, so a "
            "held-out member cannot verify them: give observations",
            "archive",
        )
    if job.archive is not None and job.enrich > 0:
        raise UserError("enriched members come from the archive or are made here, not both",
                        "archive")  # fmt: skip
    if job.enrich > 0:
        from gensemble.enrichment.invert import InversionConfig
        from gensemble.enrichment.perturb import PerturbConfig
        from gensemble.enrichment.pipeline import Enricher

        if job.calibration:
            from gensemble.enrichment.calibrate import perturb_from_record
            from gensemble.enrichment.calibration_job import read_calibration

            record = read_calibration(job.calibration, job.tracking_uri)
            pcfg = perturb_from_record(record, job.calibration)
        else:
            pcfg = PerturbConfig(seed=cfg.seed)
        icfg = InversionConfig(steps=cfg.steps, seed=cfg.seed)
        enricher: Any = Enricher(loaded, job.device)
    else:
        pcfg = icfg = enricher = None
    archive = ArchiveMembers(Path(job.archive), sel) if job.archive is not None else None
    parts = groups(sel, loaded, job.device, enricher, cfg, pcfg, icfg, stations is None, archive)
    kept: dict[str, list[np.ndarray]] = {}
    if job.metrics:  # registered metrics see every case at once: keep them for those only
        parts = _keeping(parts, kept)
    res = verify(sel, parts, stations, cfg)
    if stations is not None:
        res.notes[:0] = stations.notes
    if job.metrics:
        ens = {k: np.concatenate(v) for k, v in kept.items() if k != "truth"}
        truth = np.concatenate(kept["truth"]) if "truth" in kept else None
        res.table += metric_rows(job.metrics, ens, truth, sel, job.seed, res.notes)
    prov = provenance(store, loaded, event, res.truth)
    static = {k: np.asarray(v) for k, v in store.static().items()}
    if prov.synthetic:  # a synthetic store's relief is invented: not drawn as real
        static.pop("orog", None)
    figs = figures(res, sel, static, event.region)
    meta = {
        "checkpoint": path.name,
        "store": Path(job.data).name,
        "forecasts": len(np.unique(sel.reference)),
        "valid times": len(np.unique(sel.valid)),
        "members": sel.members_per_case,
        "bootstrap replicates": cfg.bootstrap,
    }
    if job.archive is not None:
        meta["enriched members from"] = Path(job.archive).name
        made_from = archive.provenance.get("store") if archive is not None else None
        if made_from and Path(made_from) != Path(job.data).resolve():
            res.notes.append(f"the archive was made from {made_from}, not from {job.data}")
    report = Path(job.report or path.parent.parent / "eval" / f"event_{event.name}.html")
    write_report(report, res, event, figs, meta, prov)
    return EventOutcome(report, res)


def _keeping(parts: Iterator[Any], kept: dict[str, list[np.ndarray]]) -> Iterator[Any]:
    """The groups, each also kept (ensembles and truth) for the registered metrics."""
    for g in parts:
        for name, e in g.ensembles.items():
            kept.setdefault(name, []).append(e)
        if g.truth is not None:
            kept.setdefault("truth", []).append(g.truth)
        yield g

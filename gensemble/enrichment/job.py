"""One ``enrich`` job: read a forecast, enlarge each of its cases, write one CF file.

The command line parses its flags into an :class:`EnrichJob` and prints what
:func:`run_enrich` returns; a Python caller builds the job itself.  Everything between
(holding members back for scoring, merging a calibration with explicit settings, the
provenance written into the file) lives here, once.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from gensemble.core.errors import UserError
from gensemble.enrichment.invert import InversionConfig
from gensemble.enrichment.io import ForecastCase, read_file, read_store, sha256, write_forecast
from gensemble.enrichment.perturb import PerturbConfig
from gensemble.enrichment.pipeline import EnrichedForecast, Enricher

LOG = logging.getLogger(__name__)


@dataclass
class ModelSource:
    """The trained generator a job uses (enrich, calibrate) and where it runs."""

    ref: str  # run id, models:/NAME/VERSION or checkpoint path
    which: str = "last"  # the checkpoint of a run
    uri: str | None = None
    experiment: str = "gensemble"
    device: str = "cpu"

    def resolve(self) -> tuple[Any, Path]:
        """The loaded model (any architecture) and its checkpoint's path."""
        from gensemble.inference.loaded import LoadedModel
        from gensemble.inference.resolve import resolve_checkpoint

        path = resolve_checkpoint(self.ref, self.uri, self.experiment, self.which)
        return LoadedModel(path), path

    def load(self) -> tuple[Enricher, Path]:
        """The enricher over the resolved checkpoint (the model needs latent access),
        and that checkpoint's path."""
        loaded, path = self.resolve()
        return Enricher(loaded, self.device), path


@dataclass
class EnrichJob:
    """What to enlarge, with what, and where to write it."""

    model: ModelSource
    out: Path
    n: int = 120
    members: Path | None = None  # a CF netCDF/GRIB ensemble, or ...
    store: Path | None = None  # ... a prepared store with
    date: str | None = None  # ... a forecast reference time
    lead: float | None = None  # ... and a lead time (hours)
    hybrid: bool = False
    calibration: str | None = None  # calibration file or run id
    #: explicit perturbation settings, over the calibration's (a, b, levels, prior_levels)
    perturb: dict[str, Any] = field(default_factory=dict)
    inversion: InversionConfig = field(default_factory=InversionConfig)
    seed: int = 0
    holdout: int = 0  # members held back as truth for scoring
    compile: bool = False
    #: refuse (instead of warn) when the calibration was made with other inversion settings
    strict: bool = False
    #: ``inversion`` (invert, perturb, synthesise) or ``conditional`` (K seeds -> N members)
    method: str = "inversion"
    #: conditional: seed members K (default: the model's)
    seeds: int | None = None
    #: a season into an archive: reference times ``START..END`` of ``store`` ...
    dates: str | None = None
    #: ... at these lead times (hours; default every lead the store holds)
    leads: list[float] | None = None


@dataclass
class EnrichJobResult:
    """What a job wrote and the numbers worth reporting."""

    path: Path
    variables: list[str]
    cases: list[ForecastCase]
    outputs: list[EnrichedForecast]
    #: members held back per case (empty without a hold-out)
    held: list[np.ndarray]
    provenance: dict[str, Any]

    @property
    def rmse(self) -> np.ndarray:
        """(C,) reconstruction RMSE, mean over cases and inverted members."""
        return np.stack([o.rmse for o in self.outputs]).mean(axis=(0, 1))


#: inversion settings that do not change what a calibration was fitted to
NEUTRAL_INVERSION = ("batch", "seed")


def inversion_mismatch(record: dict[str, Any], inversion: InversionConfig) -> list[str]:
    """How the inversion a calibration was made with differs from ``inversion`` (one
    entry per setting, ``steps 300 -> 1000``); a record that does not say is one entry."""
    made = record.get("inversion")
    if made is None:
        return ["the calibration does not record its inversion settings (made before they were)"]
    now = inversion.model_dump(mode="json")
    default = InversionConfig().model_dump(mode="json")  # a setting older records lack
    return [
        f"{k} {made.get(k, default[k])!r} -> {now[k]!r}"
        for k in now
        if k not in NEUTRAL_INVERSION and made.get(k, default[k]) != now[k]
    ]


def perturbation(job: EnrichJob) -> PerturbConfig:
    """The calibration's perturbation (or the defaults) with the explicit settings over it.
    A calibration fitted with other inversion settings than the job's is a warning (or a
    refusal with ``strict``): (a, b) calibrate the spread of *those* reconstructions."""
    base = PerturbConfig()
    if job.calibration:
        from gensemble.enrichment.calibrate import perturb_from_record
        from gensemble.enrichment.calibration_job import read_calibration

        record = read_calibration(job.calibration, job.model.uri)
        base = perturb_from_record(record, job.calibration)
        diff = inversion_mismatch(record, job.inversion)
        if diff:
            msg = (
                f"calibration {job.calibration} was made with other inversion settings: "
                + "; ".join(diff)
            )
            if job.strict:
                raise UserError(msg + " (calibrate with the settings you enrich with)")
            LOG.warning("%s", msg)
    update = {k: v for k, v in job.perturb.items() if v is not None} | {"seed": job.seed}
    return PerturbConfig.model_validate(base.model_dump() | update)


def hold_out(cases: list[ForecastCase], k: int) -> list[np.ndarray]:
    """Take the last ``k`` members of every case out (in place) and return them."""
    if not k:
        return []
    if cases[0].members.shape[0] - k < 2:
        raise UserError(f"holding {k} members back leaves fewer than 2 to invert", "holdout")
    held = [c.members[-k:] for c in cases]
    for c in cases:
        c.members, c.member_ids = c.members[:-k], c.member_ids[:-k]
    return held


def run_enrich(
    job: EnrichJob, on_step: Callable[[int], None] | None = None, on_start: Any = None
) -> EnrichJobResult:
    """Invert, perturb and write every case of the job's forecast.  ``on_start(total)`` is
    told the number of inversion steps ahead, ``on_step(k)`` each k done."""
    if (job.members is None) == (job.store is None):
        raise UserError("give the input ensemble as a file or as a store, not both or neither")
    if job.store is not None and (job.date is None or job.lead is None):
        raise UserError("a store needs a forecast reference time and a lead time", "date")
    if job.method not in ("inversion", "conditional"):
        raise UserError(f"unknown enrichment method {job.method!r} (inversion or conditional)")
    if job.method == "conditional":
        return _run_conditional(job, on_step, on_start)
    cfg = perturbation(job)
    enricher, path = job.model.load()
    loaded = enricher.loaded
    if job.compile:  # inversion differentiates once through synthesis: compilable
        mode = "reduce-overhead" if str(job.model.device).startswith("cuda") else None
        loaded.model.compile_networks(mode=mode, training=False)
    cases = _read_cases(job, loaded)
    held = hold_out(cases, job.holdout)
    if on_start is not None:
        on_start(job.inversion.steps * sum(c.members.shape[0] for c in cases))
    outputs = [
        enricher.enrich(case.members, job.n, job.inversion, cfg, job.hybrid, on_step)
        for case in cases
    ]
    plan = enricher.plan(cfg)
    provenance = {
        "method": "inversion",
        "checkpoint": str(path),
        "checkpoint_sha256": sha256(path),
        "run_id": str(loaded.meta.run_id),
        "training_step": int(loaded.meta.step),
        "perturbation_a": plan.a.tolist(),
        "perturbation_b": plan.b.tolist(),
        "perturbation": cfg.model_dump(mode="json"),
        "calibration": job.calibration or "none",
        "seed": job.seed,
        "inversion": job.inversion.model_dump(mode="json"),
        "inversion_steps_run": [o.inversion.steps for o in outputs],
        "hybrid": int(job.hybrid),
    }
    written = write_forecast(
        job.out, loaded.grid, loaded.meta.domain.name, loaded.variables, cases, outputs, provenance
    )
    return EnrichJobResult(written, list(loaded.variables), cases, outputs, held, provenance)


def _read_cases(job: EnrichJob, loaded: Any) -> list[ForecastCase]:
    if job.members is not None:
        return read_file(job.members, loaded.variables, loaded.grid)
    shape = tuple(loaded.meta.shape)
    return read_store(job.store, loaded.variables, shape, job.date, job.lead)  # type: ignore[arg-type]


def _run_conditional(job: EnrichJob, on_step: Any = None, on_start: Any = None) -> EnrichJobResult:
    """Every case drawn from K of its members by a conditional model; ``on_start`` is
    told the members to draw, ``on_step`` each forecast's once drawn."""
    from gensemble.enrichment.conditional import ConditionalEnricher

    loaded, path = job.model.resolve()
    enricher = ConditionalEnricher(loaded, job.model.device, job.seeds)
    cases = _read_cases(job, loaded)
    held = hold_out(cases, job.holdout)
    if on_start is not None:
        on_start(job.n * len(cases))
    outputs = []
    for c in cases:
        outputs.append(enricher.enrich(c.members, job.n, job.hybrid, job.seed))
        if on_step is not None:
            on_step(job.n)
    provenance = {
        "method": "conditional",
        "checkpoint": str(path),
        "checkpoint_sha256": sha256(path),
        "run_id": str(loaded.meta.run_id),
        "training_step": int(loaded.meta.step),
        "architecture": loaded.meta.architecture.name,
        "seeds_k": enricher.k,
        "seed_members": [
            c.member_ids[o.seeds].tolist() for c, o in zip(cases, outputs, strict=True)
        ],
        "truth_fraction": float(enricher.model.condition_spec().truth_fraction),
        "seed": job.seed,
        "hybrid": int(job.hybrid),
    }
    written = write_forecast(
        job.out, loaded.grid, loaded.meta.domain.name, loaded.variables, cases, outputs, provenance
    )
    return EnrichJobResult(written, list(loaded.variables), cases, outputs, held, provenance)


def holdout_scores(result: EnrichJobResult) -> dict[str, dict[str, float]]:
    """Scores of the raw, enriched and hybrid ensembles against the members held back,
    valid time by valid time: each held-back member is scored against the ensembles of
    its own case only (pooling every valid time into one ensemble would score a member
    of one hour against the weather of all the others)."""
    from gensemble.enrichment.scores import holdout_table

    observed, raw, gen = [], [], []
    for case, out, held in zip(result.cases, result.outputs, result.held, strict=True):
        for member in held:  # one observation of this case's valid time
            observed.append(member)
            raw.append(case.members)
            gen.append(out.generated_fields)
    raw_k, gen_k = np.stack(raw), np.stack(gen)  # (K, M, C, H, W), (K, N, C, H, W)
    return holdout_table(
        result.variables,
        np.stack(observed),
        {
            f"raw ({raw_k.shape[1]})": raw_k,
            f"enriched ({gen_k.shape[1]})": gen_k,
            "hybrid": np.concatenate([raw_k, gen_k], axis=1),
        },
    )

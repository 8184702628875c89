"""One study (``gensemble study CONFIG``): split, train, calibrate, enlarge, score.

1. The source's forecast dates are split train / calibrate / test (:mod:`.splits`).
2. A generator is trained on the train dates' members only (or an existing one is used).
3. Each enrichment method's (a, b) - and the resampling control's - are fitted on the
   calibrate dates, with the deployment's inversion settings.  The test truth is never
   inverted, never a member, never used in any fit.
4. Each test forecast's ensembles (:mod:`.ensembles`) are scored against its truth, case
   by case into sums (:mod:`.scores`), and the sums bootstrapped over test dates
   (:mod:`.bootstrap`).

Everything is seeded from the study's seed, so a study is reproducible.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from gensemble.core.errors import UserError
from gensemble.study.bootstrap import CaseTable, StudyScores, bootstrap
from gensemble.study.config import StudyConfig
from gensemble.study.ensembles import EnsembleMaker, FieldCalibration, Variant
from gensemble.study.generator import GeneratorQuality, quality, train_generator
from gensemble.study.scores import Climate, case_sums
from gensemble.study.sources import cases_of, check_variables, open_source
from gensemble.study.splits import DateSplit, split_dates

LOG = logging.getLogger(__name__)


class SharedInversions:
    """The enricher, with each (members, settings) inverted once while calibrating:
    methods that differ only in how they perturb or are calibrated share their
    inversions.  The test cases are inverted once each anyway (the ensemble maker shares
    an inversion between methods within a case), so once calibration is over nothing is
    kept: memory does not grow with the number of test cases."""

    def __init__(self, enricher: Any) -> None:
        self._enricher = enricher
        self._done: dict[tuple[str, str], Any] = {}
        self.keeping = True

    def __getattr__(self, name: str) -> Any:
        return getattr(self._enricher, name)

    def invert(self, members: np.ndarray, cfg: Any, on_step: Any = None) -> Any:
        import hashlib

        if not self.keeping:
            return self._enricher.invert(members, cfg, on_step)
        key = (hashlib.sha1(np.ascontiguousarray(members).tobytes()).hexdigest(),
               cfg.model_dump_json())  # fmt: skip
        if key not in self._done:
            self._done[key] = self._enricher.invert(members, cfg, on_step)
        return self._done[key]

    def forget(self) -> None:
        """Drop the kept inversions and keep no more (the test dates need none of the
        calibration's, and each of their own is used within its case)."""
        self._done.clear()
        self.keeping = False


@dataclass
class Fitted:
    """A calibrated perturbation: (a, b) per style row (or one pair for the control)."""

    name: str
    objective: str
    a: Any
    b: Any
    before: float | None = None
    after: float | None = None


@dataclass
class StudyResult:
    config: StudyConfig
    source: dict[str, Any]
    dates: np.ndarray  # the source's forecast reference times
    split: DateSplit
    variables: list[str]
    ensembles: list[str]
    members: dict[str, int]
    scores: StudyScores
    table: CaseTable
    climate: Climate
    fitted: list[Fitted]
    quality: GeneratorQuality | None
    checkpoint: Path
    generator_run: str | None
    #: per method and variable: mean reconstruction RMSE of the inverted inputs (physical
    #: units), beside the inputs' own spread
    reconstruction: dict[str, dict[str, float]] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    #: conditional method -> its generator's checkpoint and run
    conditional_generators: dict[str, dict[str, Any]] = field(default_factory=dict)

    @property
    def reference(self) -> str:
        return f"raw-{self.config.inputs}"

    @property
    def oracle(self) -> str | None:
        return f"oracle-{self.config.n}" if self.source.get("system") else None


def _variants(cfg: StudyConfig, conditional: dict[str, Any]) -> list[Variant]:
    """Every method resolved; ``conditional``: method name -> its conditional enricher."""
    from gensemble.enrichment.perturb import PerturbConfig

    out = []
    for m in cfg.methods:
        inv = cfg.inversion.model_copy(update={"noise": m.noise})
        pert = PerturbConfig(levels=cfg.levels, sampling=m.sampling, seed=cfg.seed)
        out.append(Variant(m, inv, pert, conditional.get(m.name)))
    return out


def _calibrate(
    cfg: StudyConfig, enricher: Any, variants: list[Variant], forecasts: list[np.ndarray],
    truths: list[np.ndarray], say: Callable[[str], None],
) -> tuple[list[Variant], list[Fitted]]:  # fmt: skip
    from gensemble.enrichment.calibrate import Calibration, calibrate

    fitted, out = [], []
    for v in variants:
        if v.conditional is not None:  # drawn from seeds: nothing to calibrate
            out.append(v)
            fitted.append(Fitted(v.method.name, "none (conditional)", None, None))
            continue
        if v.method.objective == "none":
            out.append(v)
            fitted.append(Fitted(v.method.name, "none", v.perturb.a, v.perturb.b))
            continue
        say(f"calibrating {v.method.name} ({v.method.objective}) on {len(forecasts)} forecasts")
        ccfg = cfg.calibration.model_copy(update={"objective": v.method.objective})
        calib = Calibration(enricher, forecasts, ccfg, v.inversion, v.perturb, None, truths)
        record = calibrate(calib)
        pert = v.perturb.model_copy(update={"a": record["a"], "b": record["b"],
                                            "levels": None, "rows": None})  # fmt: skip
        out.append(Variant(v.method, v.inversion, pert))
        fitted.append(Fitted(v.method.name, v.method.objective, record["a"], record["b"],
                             record["value_before"], record["value_after"]))  # fmt: skip
    return out, fitted


def _calibrate_control(
    cfg: StudyConfig, normalise: Callable, forecasts: list[np.ndarray], truths: list[np.ndarray]
) -> Fitted:
    from gensemble.enrichment.calibrate import calibrate

    objectives = [
        m.objective for m in cfg.methods if m.objective != "none" and m.kind == "inversion"
    ]
    objective = objectives[0] if objectives else "crps"
    ccfg = cfg.calibration.model_copy(update={"objective": objective})
    record = calibrate(FieldCalibration(normalise, forecasts, ccfg, truths))
    return Fitted("resample", objective, record["a"], record["b"],
                  record["value_before"], record["value_after"])  # fmt: skip


def run_study(cfg: StudyConfig, say: Callable[[str], None] = LOG.info) -> StudyResult:
    """The whole study; the caller writes and logs what it returns."""
    import torch

    from gensemble.enrichment.conditional import ConditionalEnricher
    from gensemble.enrichment.pipeline import Enricher
    from gensemble.events.resampling import blocks_of
    from gensemble.inference.loaded import LoadedModel

    t0, timings = time.perf_counter(), {}
    out = Path(cfg.output)
    out.mkdir(parents=True, exist_ok=True)
    source = open_source(cfg)
    refs = source.references()
    split = split_dates(cfg.splits, refs, _valid_spans(source, refs))
    notes: list[str] = []
    _check_conditional(cfg, source)
    trainer = _Generators(cfg, source, refs, split, out, say, notes)
    checkpoint, gen_run = trainer.get(cfg.model, "generator")
    conditional, cond_runs = {}, {}
    for m in (m for m in cfg.methods if m.kind == "conditional"):
        spec = _conditional_spec(cfg, m)
        path, run = trainer.get(spec, f"generator-{m.name}")
        cond_loaded = LoadedModel(path)
        check_variables(source, list(cond_loaded.variables), tuple(cond_loaded.meta.shape))
        conditional[m.name] = ConditionalEnricher(cond_loaded, cfg.device)
        cond_runs[m.name] = {"checkpoint": str(path), "run": run,
                             "truth_fraction": m.truth_fraction}  # fmt: skip
    timings["generator_s"] = time.perf_counter() - t0
    loaded = LoadedModel(checkpoint)
    variables = list(loaded.variables)
    check_variables(source, variables, tuple(loaded.meta.shape))
    for name, ce in conditional.items():
        if list(ce.loaded.variables) != variables:
            raise UserError(f"method {name}: its generator makes {ce.loaded.variables}, "
                            f"the study's {variables}")  # fmt: skip
    torch.manual_seed(cfg.seed)
    enricher = SharedInversions(Enricher(loaded, cfg.device))

    def members_of(dates: list[int]) -> list[Any]:
        return [c for t in dates for c in cases_of(source, t, variables)]

    # the thresholds from at most 64 train forecasts, spread over the train dates
    few = split.train[:: max(1, len(split.train) // 64)]
    climate = Climate.of(np.concatenate([c.members for c in members_of(few)]), variables)
    cal = members_of(split.calibrate)
    forecasts = [c.members[: cfg.inputs] for c in cal]
    truths = [c.truth for c in cal]
    t1 = time.perf_counter()
    variants, fitted = _calibrate(
        cfg, enricher, _variants(cfg, conditional), forecasts, truths, say
    )
    fitted.append(_calibrate_control(cfg, enricher.normalise, forecasts, truths))
    enricher.forget()
    timings["calibration_s"] = time.perf_counter() - t1
    resample = fitted[-1]
    from gensemble.enrichment.perturb import PerturbConfig

    maker = EnsembleMaker(loaded, enricher, variants, PerturbConfig(a=resample.a, b=resample.b),
                          cfg.inputs, cfg.n, cfg.seed, cfg.device)  # fmt: skip
    table = CaseTable()
    oracle_on = source.kind == "system"
    t2, case_index, valid = time.perf_counter(), 0, []
    for t in split.test:
        for case in cases_of(source, t, variables):
            say(f"test forecast {case.reference} ({case_index + 1})")
            orc = source.oracle(t, cfg.n, variables) if oracle_on else None  # type: ignore[union-attr]
            ens = maker.make(case.members, case_index, orc)
            for name, fields in ens.items():
                for c, var in enumerate(variables):
                    sums = case_sums(fields[:, c], case.truth[c], climate.thresholds[var],
                                     climate.base_rate[var], cfg.fss_scale,
                                     cfg.seed + case_index)  # fmt: skip
                    table.add(name, var, fields.shape[0], sums)
            valid.append(case.valid)
            case_index += 1
    timings["test_s"] = time.perf_counter() - t2
    table.blocks = list(blocks_of(np.zeros(len(valid)), np.array(valid), source.block_hours))
    pairs = [(v.method.name, other) for v in variants for other in ("resample", "climate")]
    pairs += [(f"{v.method.name}:hybrid", "resample") for v in variants if v.method.hybrid]
    pairs += [(v.method.name, variants[0].method.name) for v in variants[1:]]
    oracle = f"oracle-{cfg.n}" if oracle_on else None
    rng = np.random.default_rng(cfg.seed)
    scores = bootstrap(table, cfg.bootstrap, rng, f"raw-{cfg.inputs}", pairs, oracle)
    real_a, real_b = _real_samples(source, split, variables, cfg.quality_samples)
    dx = float(source.grid.spacing_m()[0])
    q = quality(loaded, real_a, real_b, variables, dx, cfg.seed, cfg.quality_samples)
    recon = {
        name: dict(zip(variables, (total / maker.cases).tolist(), strict=True))
        for name, total in maker.rmse.items()
    }
    recon["inputs' spread"] = dict(zip(variables, (maker.spread / maker.cases).tolist(),
                                       strict=True))  # fmt: skip
    timings["total_s"] = time.perf_counter() - t0
    if source.kind == "store":
        notes.append("the truth is a held-out member of each forecast: the raw ensemble is "
                     "then reliable by construction, and there is no oracle")  # fmt: skip
    return StudyResult(cfg, source.describe(), refs, split, variables, maker.names(oracle_on),
                       dict(table.members), scores, table, climate, fitted, q, checkpoint,
                       gen_run, recon, timings, notes, cond_runs)  # fmt: skip


def _conditional_spec(cfg: StudyConfig, method: Any) -> Any:
    """The conditional model of ``method``: the study's conditional model with the
    method's truth fraction."""
    spec = cfg.conditional_model
    arch = dict(spec.architecture)
    arch["options"] = {**arch.get("options", {}), "truth_fraction": method.truth_fraction}
    return spec.model_copy(update={"architecture": arch, "ref": method.ref or spec.ref})


def _check_conditional(cfg: StudyConfig, source: Any) -> None:
    """Refuse, before anything trains, a conditional model whose architecture cannot
    sample conditionally (the methods' own ``ref`` are checked when loaded)."""
    from gensemble.api.capabilities import require
    from gensemble.api.conditional import ConditionalSampling
    from gensemble.inference.loaded import build_model

    spec = cfg.conditional_model
    wanting = [m.name for m in cfg.methods if m.kind == "conditional" and m.ref is None]
    if not wanting or spec.ref is not None:
        return
    arch = spec.architecture
    shape = [len(source.variables), *source.grid.shape]
    model = build_model(arch.get("name", "?"), arch.get("options", {}), shape)
    require(model, ConditionalSampling, f"the study's conditional method {wanting[0]!r}")


class _Generators:
    """The study's generators, each the one given, the one an earlier run of this study
    trained with the same model settings, source, train dates and seed (recorded in
    ``TAG.json``), or a new one trained on the train dates (their members, and their
    truth where the source has it: only the post-processing target reads it)."""

    def __init__(self, cfg: StudyConfig, source: Any, refs: np.ndarray, split: DateSplit,
                 out: Path, say: Callable[[str], None], notes: list[str]) -> None:  # fmt: skip
        self.cfg, self.source, self.refs, self.split = cfg, source, refs, split
        self.out, self.say, self.notes = out, say, notes
        self._store: Path | None = None

    def get(self, spec: Any, tag: str) -> tuple[Path, str | None]:
        import hashlib
        import json

        from gensemble.core.atomic import atomic_path
        from gensemble.inference.resolve import resolve_checkpoint

        cfg, refs = self.cfg, self.refs
        if spec.ref is not None:
            uri, name = cfg.tracking.get("uri"), cfg.tracking.get("experiment", "gensemble")
            self.notes.append(f"the {tag} was trained outside this study: its training dates "
                              "could not be checked against the test dates")  # fmt: skip
            return resolve_checkpoint(spec.ref, uri, name, "last"), None
        what = {"model": spec.model_dump(mode="json"), "source": self.source.describe(),
                "train": [str(refs[t]) for t in self.split.train], "seed": cfg.seed}  # fmt: skip
        key = hashlib.sha256(json.dumps(what, sort_keys=True, default=str).encode()).hexdigest()
        record = self.out / f"{tag}.json"
        if record.exists():
            earlier = json.loads(record.read_text())
            if earlier.get("key") == key and Path(earlier["checkpoint"]).exists():
                self.say(f"reusing the {tag} this study trained before ({earlier['checkpoint']})")
                return Path(earlier["checkpoint"]), earlier.get("run")
        self.say(f"training the {tag} on {len(self.split.train)} train dates")
        if self._store is None:
            self._store = self.source.train_store(self.split.train, self.out / "train.zarr")
        runs, tracking = self.out / "runs", dict(cfg.tracking)
        checkpoint, run = train_generator(spec, self._store, self.source.domain, runs, tracking,
                                          cfg.seed)  # fmt: skip
        with atomic_path(record) as tmp:
            Path(tmp).write_text(
                json.dumps({"key": key, "checkpoint": str(Path(checkpoint).resolve()), "run": run})
            )
        return checkpoint, run


def _real_samples(source: Any, split: DateSplit, variables: list[str], n: int) -> tuple:
    """Two independent real samples of equal size for the generator's noise floor: on a
    system, one member from each of n fresh dates, twice; on a store, one member per
    forecast of the calibrate dates and of the test dates."""
    if source.kind == "system":
        return source.climate_sample(n, 0, variables), source.climate_sample(n, n, variables)
    a = [c.members[0] for t in split.calibrate for c in cases_of(source, t, variables)]
    b = [c.members[0] for t in split.test for c in cases_of(source, t, variables)]
    return np.stack(a), np.stack(b)


def _valid_spans(source: Any, refs: np.ndarray) -> list[np.ndarray]:
    return [source.valid_times(t) for t in range(len(refs))]

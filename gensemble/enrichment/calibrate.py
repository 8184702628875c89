"""Learning the mixing a and perturbation b per resolution level over past forecasts.

Three objectives, all on normalised fields and with common random numbers (the same seed
at every evaluation, so the objective is a deterministic function of a and b):

* ``reference`` - the published method's, to be comparable: L1 distance of the enriched
  ensemble's mean and spread to the raw ensemble's (spread x ``inflation``);
* ``crps`` - leave-half-out, which needs no observations: the members of each forecast
  are split in two, one half is inverted and enriched, and the enriched ensemble is scored
  against the other half by fair CRPS plus ``spread_weight`` x |1 - spread/skill|;
* ``truth`` - the same score against each forecast's verifying truth (an analysis, or a
  synthetic system's truth) where the caller has it: every member is inverted, as in
  deployment, and the target is the weather rather than the NWP ensemble itself.

Inversions are done once per forecast; each evaluation only perturbs and synthesises.
a in [0, 1] and b in [0, b_max] - one pair for every perturbed level, or one pair per
level (``per_level``, which needs more evaluations) - are found by Powell's method.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any, Literal

import numpy as np
import torch
from pydantic import BaseModel, ConfigDict, Field

from gensemble.core.errors import UserError
from gensemble.enrichment.invert import InversionConfig, InversionResult
from gensemble.enrichment.perturb import PerturbConfig
from gensemble.enrichment.pipeline import Enricher
from gensemble.evaluation.ensemble_scores import shared_fair_crps as fair_crps
from gensemble.evaluation.ensemble_scores import spread_skill

LOG = logging.getLogger(__name__)

FORMAT = "gensemble-calibration/1"


class CalibrationConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    objective: Literal["crps", "reference", "truth"] = "crps"
    n: int = Field(32, ge=2, description="members generated per forecast")
    evals: int = Field(60, ge=1, description="objective evaluations allowed")
    inflation: float = Field(
        1.2, gt=0, description="reference objective: spread factor (the published method's 1.2)"
    )
    spread_weight: float = Field(0.5, ge=0, description="crps objective: |1 - ratio| weight")
    b_max: float = Field(3.0, gt=0)
    per_level: bool = Field(
        False, description="one (a, b) per resolution level instead of one pair for all"
    )
    seed: int = 0


def split_members(members: np.ndarray, objective: str) -> tuple[np.ndarray, np.ndarray]:
    """(members inverted, members scored against) for one forecast."""
    if objective == "reference":
        return members, members
    if objective == "truth":
        return members, members[:0]  # the held part is the truth, given separately
    if members.shape[0] < 4:
        raise UserError("the crps objective needs at least 4 members per forecast")
    return members[0::2], members[1::2]


def objective_value(gen: torch.Tensor, held: torch.Tensor, cfg: CalibrationConfig) -> float:
    """The objective of one forecast's generated members (normalised) against what they
    are held to: the held-back members, or the truth (one field)."""
    if cfg.objective == "reference":
        mean_err = (gen.mean(0) - held.mean(0)).abs().mean()
        spread_err = (gen.std(0) - cfg.inflation * held.std(0)).abs().mean()
        return float(mean_err + spread_err)
    spread, skill = spread_skill(gen, held)
    ratio_err = abs(1 - spread / skill) if skill > 0 else 1.0
    return fair_crps(gen, held) + cfg.spread_weight * ratio_err


def _per_row(values: np.ndarray, level_of: np.ndarray) -> list[float]:
    return [float(values[lv]) for lv in level_of]


class Calibration:
    """The objective over a set of forecasts, as a function of (a, b) per level."""

    def __init__(
        self,
        enricher: Enricher,
        forecasts: list[np.ndarray],
        cfg: CalibrationConfig,
        inv_cfg: InversionConfig,
        base: PerturbConfig,
        on_step: Callable[[int], None] | None = None,
        truths: list[np.ndarray] | None = None,
    ) -> None:
        """``truths`` (C, H, W) per forecast, physical units: needed by ``truth`` only."""
        self.enricher, self.cfg, self.base = enricher, cfg, base
        if cfg.objective == "truth" and (truths is None or len(truths) != len(forecasts)):
            raise UserError("the truth objective needs the verifying truth of every forecast")
        levels = enricher.model.style_levels()
        sizes = sorted(set(levels))
        self.level_of = np.array([sizes.index(hw) for hw in levels])
        #: the levels whose a and b are learnt (the others are not perturbed)
        self.active = list(base.levels) if base.levels is not None else list(range(len(sizes)))
        bad = [lv for lv in self.active if not 0 <= lv < len(sizes)]
        if bad:
            raise UserError(f"levels {bad} out of range: the model has {len(sizes)} levels")
        self.n_levels = len(self.active) if cfg.per_level else 1
        self.cases: list[tuple[InversionResult, torch.Tensor]] = []
        for i, members in enumerate(forecasts):
            used, held = split_members(members, cfg.objective)
            if cfg.objective == "truth":
                held = np.asarray(truths[i])[None]
            inv = enricher.invert(used, inv_cfg, on_step)
            self.cases.append((inv, enricher.normalise(held).cpu()))

    def config(self, x: np.ndarray) -> PerturbConfig:
        n_all = int(self.level_of.max()) + 1
        a, b = np.zeros(n_all), np.zeros(n_all)
        a[self.active] = np.clip(x[: self.n_levels], 0, 1)  # broadcast when one pair
        b[self.active] = np.clip(x[self.n_levels :], 0, self.cfg.b_max)
        return self.base.model_copy(
            update={
                "a": _per_row(a, self.level_of),
                "b": _per_row(b, self.level_of),
                "rows": None,
                "levels": None,
                "seed": self.cfg.seed,
            }
        )

    def __call__(self, x: np.ndarray) -> float:
        perturb = self.config(x)
        plan = self.enricher.plan(perturb)
        total = 0.0
        for inv, held in self.cases:
            gen, _ = self.enricher.generate_normalised(inv, self.cfg.n, perturb, plan)
            total += objective_value(gen.cpu(), held, self.cfg)
        return total / len(self.cases)

    def start(self) -> np.ndarray:
        def initial(value: float | list[float]) -> np.ndarray:
            if isinstance(value, list):  # per row: averaged per level
                v = np.asarray(value, dtype=float)
                per = np.array([v[self.level_of == lv].mean() for lv in self.active])
                return per if self.cfg.per_level else np.array([per.mean()])
            return np.full(self.n_levels, float(value))

        return np.concatenate([initial(self.base.a), initial(self.base.b)])


def _grid_start(calibration: Calibration, x0: np.ndarray, budget: int) -> tuple:
    """The best of a coarse grid over one shared (a, b), as Powell's starting point: line
    searches along one coordinate at a time waste a small budget on the first one."""
    cfg, k = calibration.cfg, calibration.n_levels
    best_x, best = x0, calibration(x0)
    n_b = max(2, budget // 2)
    for a in (0.0, 0.5)[: 1 if budget < 4 else 2]:
        for b in np.linspace(0.0, cfg.b_max, n_b):
            x = np.concatenate([np.full(k, a), np.full(k, b)])
            value = calibration(x)
            if value < best:
                best_x, best = x, value
    return best_x, best


def calibrate(calibration: Calibration) -> dict[str, Any]:
    """Minimise the objective from the base configuration; returns the JSON record."""
    from scipy.optimize import minimize

    cfg = calibration.cfg
    x0 = calibration.start()
    t0 = time.time()
    before = calibration(x0)
    grid_budget = min(cfg.evals // 2, 14)
    x, best = _grid_start(calibration, x0, grid_budget) if grid_budget >= 2 else (x0, before)
    used = 1 + (2 * max(2, grid_budget // 2) + 1 if grid_budget >= 2 else 0)
    bounds = [(0.0, 1.0)] * calibration.n_levels + [(0.0, cfg.b_max)] * calibration.n_levels
    nfev = 0
    if cfg.evals > used:
        found = minimize(
            calibration, x, method="Powell", bounds=bounds, options={"maxfev": cfg.evals - used}
        )
        nfev = int(found.nfev)
        if found.fun < best:
            x, best = found.x, float(found.fun)
    best_cfg = calibration.config(x)
    return {
        "format": FORMAT,
        "objective": cfg.objective,
        "value_before": before,
        "value_after": min(best, before),
        "evaluations": used + nfev,
        "seconds": time.time() - t0,
        "forecasts": len(calibration.cases),
        "a": best_cfg.a,
        "b": best_cfg.b,
        "perturb": best_cfg.model_dump(mode="json"),
        "settings": cfg.model_dump(mode="json"),
    }


def perturb_from_record(record: dict[str, Any], source: str) -> PerturbConfig:
    """The perturbation a calibration file (or run artifact) recorded."""
    if record.get("format") != FORMAT:
        raise UserError(f"{source}: not a gensemble calibration ({record.get('format')!r})")
    settings = dict(record["perturb"])
    # records made before ensemble-space sampling were fitted with independent rows
    settings.setdefault("sampling", "per_row")
    return PerturbConfig.model_validate(settings)

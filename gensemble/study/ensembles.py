"""The ensembles a study compares for one forecast, all of N members except raw ones.

* ``raw-k``: the first k input members (k = 1, 2, 4 ... M): the size curve;
* each enrichment method: its M inputs inverted, perturbed with its calibrated (a, b), N
  generated - or, for a conditional method, N drawn from K seeds among the M inputs;
  ``METHOD:hybrid``: the M inputs plus N - M generated;
* ``resample``: the control that isolates the generator - ensemble-space Gaussian
  resampling of the *fields* (normalised), x_j = a mean + (1 - a) x_k(j) + b sum_n xi_jn
  (x_n - mean) / sqrt(M - 1), with (a, b) calibrated by the same objective and no
  generator at all;
* ``climate``: N unconditional generator draws, the same for any date's members;
* ``oracle-k`` (a synthetic system only): k members drawn from the true law - the bound
  no enlarged ensemble can beat; ``oracle-M`` is a check (it should score like raw-M).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from gensemble.enrichment.calibrate import CalibrationConfig, objective_value, split_members
from gensemble.enrichment.invert import InversionConfig, InversionResult
from gensemble.enrichment.perturb import PerturbConfig, assign
from gensemble.study.config import Method

LOG = logging.getLogger(__name__)


def raw_sizes(m: int) -> list[int]:
    """1, 2, 4 ... below m, and m."""
    sizes, k = [], 1
    while k < m:
        sizes.append(k)
        k *= 2
    return [*sizes, m]


def resample_fields(
    x: torch.Tensor, n: int, a: float, b: float, seed: int, every_input: bool = True
) -> torch.Tensor:
    """n members (n, C, H, W) from M normalised members x by ensemble-space Gaussian
    resampling: the same recipe as the latent perturbations, applied to the fields."""
    m = x.shape[0]
    gen = torch.Generator().manual_seed(seed)
    k = assign(n, m, every_input)
    w = x.double()
    mean = w.mean(0, keepdim=True)
    xi = torch.randn(n, m, generator=gen, dtype=torch.float64)
    p = torch.einsum("nm,m...->n...", xi, w - mean) / max(m - 1, 1) ** 0.5
    return (a * mean + (1 - a) * w[k] + b * p).float()


class FieldCalibration:
    """The calibration objective of the resampling control, with the interface of
    :class:`~gensemble.enrichment.calibrate.Calibration` so the same search fits it."""

    n_levels = 1

    def __init__(
        self,
        normalise: Any,
        forecasts: list[np.ndarray],
        cfg: CalibrationConfig,
        truths: list[np.ndarray] | None = None,
    ) -> None:
        self.cfg = cfg
        self.cases = []
        for i, members in enumerate(forecasts):
            used, held = split_members(members, cfg.objective)
            if cfg.objective == "truth":
                held = np.asarray(truths[i])[None]  # type: ignore[index]
            self.cases.append((normalise(used).cpu(), normalise(held).cpu()))

    def config(self, x: np.ndarray) -> PerturbConfig:
        return PerturbConfig(
            a=float(np.clip(x[0], 0, 1)), b=float(np.clip(x[1], 0, self.cfg.b_max)),
            seed=self.cfg.seed,
        )  # fmt: skip

    def start(self) -> np.ndarray:
        return np.array([0.0, 1.0])

    def __call__(self, x: np.ndarray) -> float:
        p = self.config(x)
        total = 0.0
        for used, held in self.cases:
            gen = resample_fields(used, self.cfg.n, p.a, p.b, self.cfg.seed)  # type: ignore[arg-type]
            total += objective_value(gen, held, self.cfg)
        return total / len(self.cases)


@dataclass
class Variant:
    """One enrichment method, resolved: how it inverts and how it perturbs."""

    method: Method
    inversion: InversionConfig
    perturb: PerturbConfig
    #: a conditional method's enricher (None: invert and perturb)
    conditional: Any = None

    @property
    def inversion_key(self) -> str:
        return self.inversion.model_dump_json()


@dataclass
class EnsembleMaker:
    """Makes every compared ensemble of one forecast (physical units)."""

    loaded: Any
    enricher: Any
    variants: list[Variant]
    resample: PerturbConfig
    inputs: int
    n: int
    seed: int
    device: Any = "cpu"
    #: per method: summed (C,) reconstruction RMSE of its inverted inputs, and cases
    rmse: dict[str, np.ndarray] = field(default_factory=dict)
    #: summed (C,) spread of the M inputs (sd over members, root mean over points)
    spread: np.ndarray | None = None
    cases: int = 0

    def names(self, oracle: bool) -> list[str]:
        out = [f"raw-{k}" for k in raw_sizes(self.inputs)]
        for v in self.variants:
            out.append(v.method.name)
            if v.method.hybrid:
                out.append(f"{v.method.name}:hybrid")
        out += ["resample", "climate"]
        if oracle:
            out += [f"oracle-{k}" for k in raw_sizes(self.inputs)] + [f"oracle-{self.n}"]
        return out

    def _conditional(self, v: Variant, x: np.ndarray, seed: int) -> dict[str, np.ndarray]:
        """N members drawn from K seeds of the M inputs; hybrid: the M inputs and N - M
        drawn from the same seeds."""
        from gensemble.enrichment.conditional import choose_seeds

        ce, m = v.conditional, x.shape[0]
        seeds = x[choose_seeds(m, ce.k, seed)]
        out = {v.method.name: ce.generate(seeds, self.n, seed + 1)}
        if v.method.hybrid:
            gen = ce.generate(seeds, self.n - m, seed + 2)
            out[f"{v.method.name}:hybrid"] = np.concatenate([x, gen]).astype(np.float32)
        return out

    def make(
        self, members: np.ndarray, case: int, oracle: np.ndarray | None = None
    ) -> dict[str, np.ndarray]:
        """members (>= M, C, H, W); ``oracle`` (N, C, H, W) drawn from the true law."""
        m, n = self.inputs, self.n
        x = members[:m].astype(np.float32)
        out = {f"raw-{k}": x[:k] for k in raw_sizes(m)}
        seed = self.seed + 7919 * case
        inversions: dict[str, tuple[InversionResult, np.ndarray]] = {}
        for v in self.variants:
            if v.conditional is not None:
                out.update(self._conditional(v, x, seed))
                continue
            key = v.inversion_key
            if key not in inversions:  # methods that invert alike share it and its RMSE
                icfg = v.inversion.model_copy(update={"seed": seed})
                torch.manual_seed(seed)
                inv = self.enricher.invert(x, icfg, None)
                inversions[key] = (inv, self.enricher.rmse(x, inv).mean(0))  # (C,)
            inv, rmse = inversions[key]
            self.rmse[v.method.name] = self.rmse.get(v.method.name, 0) + rmse
            pcfg = v.perturb.model_copy(update={"seed": seed})
            out[v.method.name] = self.enricher.generate(inv, n, pcfg)[0]
            if v.method.hybrid:
                gen = self.enricher.generate(inv, n - m, pcfg, every_input=False)[0]
                out[f"{v.method.name}:hybrid"] = np.concatenate([x, gen]).astype(np.float32)
        sd = np.sqrt(x.astype(np.float64).var(0, ddof=1).mean(axis=(1, 2)))
        self.spread = sd if self.spread is None else self.spread + sd
        self.cases += 1
        norm = self.loaded.normalizer
        z = norm.forward(torch.from_numpy(x))
        r = self.resample
        fields = resample_fields(z, n, float(r.a), float(r.b), seed)  # type: ignore[arg-type]
        out["resample"] = norm.inverse(fields).numpy()
        gen = torch.Generator().manual_seed(seed + 1)
        out["climate"] = self.loaded.generate_physical(n, gen, device=self.device).numpy()
        if oracle is not None:
            for k in raw_sizes(m):
                out[f"oracle-{k}"] = oracle[:k]
            out[f"oracle-{n}"] = oracle
        return {k: np.asarray(v, dtype=np.float32) for k, v in out.items()}

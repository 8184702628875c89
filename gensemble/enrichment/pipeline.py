"""One forecast enlarged: invert its members, perturb, synthesise, back to physical units.

Used by ``gensemble enrich`` and ``gensemble calibrate`` (and the event verification):
it takes a loaded model, which must declare :class:`LatentAccess`, and returns members in
physical units with everything the output file records.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from gensemble.api.capabilities import LatentAccess, require
from gensemble.core.errors import UserError
from gensemble.enrichment.invert import InversionConfig, InversionResult, invert
from gensemble.enrichment.latents import Prior, prior
from gensemble.enrichment.perturb import (
    PerturbConfig,
    RowPlan,
    assign,
    perturb,
    resolve_rows,
)
from gensemble.inference.loaded import LoadedModel

LOG = logging.getLogger(__name__)


@dataclass
class EnrichedForecast:
    """The output members of one forecast, and how each came about."""

    #: (N, C, H, W) members in physical units
    fields: np.ndarray
    #: (N,) the input member each output member is built on
    source: np.ndarray
    #: (N,) 1 for a generated member, 0 for an input kept (hybrid)
    generated: np.ndarray
    #: (M, C) RMSE of each inverted input member, physical units per variable (NaN
    #: where nothing was inverted: conditional sampling)
    rmse: np.ndarray
    #: the inversion (None for conditional sampling)
    inversion: InversionResult | None
    #: the input members the condition was made of (conditional sampling only)
    seeds: np.ndarray | None = None

    @property
    def generated_fields(self) -> np.ndarray:
        return self.fields[self.generated == 1]


@dataclass
class Enricher:
    """A loaded model ready to enrich forecasts (prior statistics computed once)."""

    loaded: LoadedModel
    device: Any = "cpu"
    prior_draws: int = 10_000
    model: LatentAccess = field(init=False)
    prior: Prior = field(init=False)

    def __post_init__(self) -> None:
        self.model = require(self.loaded.model, LatentAccess, "enrichment (inversion)")
        self.loaded.model.to(self.device)
        self.prior = prior(self.model, self.prior_draws)

    def normalise(self, members: np.ndarray) -> torch.Tensor:
        return self.loaded.normalizer.forward(torch.from_numpy(members)).to(self.device)

    def physical(self, x: torch.Tensor) -> np.ndarray:
        return self.loaded.normalizer.inverse(x.detach().float().cpu()).numpy()

    def invert(
        self, members: np.ndarray, cfg: InversionConfig, on_step: Callable[[int], None] | None
    ) -> InversionResult:
        return invert(
            self.model, self.normalise(members), self.loaded.variables, self.prior, cfg, on_step
        )

    @torch.no_grad()
    def synthesize(
        self,
        ws: torch.Tensor,
        inv: InversionResult,
        source: torch.Tensor,
        batch: int = 16,
        seed: int = 0,
    ) -> torch.Tensor:
        """Normalised fields of codes ``ws``: member j reuses the noise maps of its input
        member source[j] (optimised or fixed), draws fresh maps (random, seeded), or has
        zero maps (const)."""
        from gensemble.enrichment.invert import autocast_for, draw_maps

        gen = torch.Generator().manual_seed(seed)
        out = []
        for i in range(0, ws.shape[0], batch):
            sl = slice(i, i + batch)
            noise: Any = "zero"
            if inv.noise is not None:
                noise = [n[source[sl]] for n in inv.noise]
            elif inv.noise_mode == "random":
                noise = draw_maps(self.model, len(source[sl]), gen, self.device)
            with autocast_for(inv.precision, self.device):
                out.append(self.model.synthesize(ws[sl].to(self.device), noise).float())
        return torch.cat(out)

    def plan(self, cfg: PerturbConfig) -> RowPlan:
        return resolve_rows(cfg, self.model.style_levels())

    def rmse(self, members: np.ndarray, inv: InversionResult) -> np.ndarray:
        """(M, C) RMSE of each reconstructed member, in physical units per variable."""
        rec = self.physical(self.synthesize(inv.ws, inv, torch.arange(inv.ws.shape[0])))
        return np.sqrt(((rec - members) ** 2).mean(axis=(2, 3)))

    def generate_normalised(
        self,
        inv: InversionResult,
        n: int,
        cfg: PerturbConfig,
        plan: RowPlan | None = None,
        every_input: bool = True,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """(N, C, H, W) normalised members and the input member each is built on."""
        plan = plan or self.plan(cfg)
        ws, source = perturb(inv.ws.cpu(), n, plan, self.prior, cfg, every_input)
        return self.synthesize(ws, inv, source, seed=cfg.seed + 1), source

    def generate(
        self, inv: InversionResult, n: int, cfg: PerturbConfig, every_input: bool = True
    ) -> tuple[np.ndarray, np.ndarray]:
        """(N, C, H, W) physical members and the input member each is built on."""
        fields, source = self.generate_normalised(inv, n, cfg, None, every_input)
        return self.physical(fields), source.numpy()

    def enrich(
        self,
        members: np.ndarray,
        n: int,
        inv_cfg: InversionConfig,
        cfg: PerturbConfig,
        hybrid: bool = False,
        on_step: Callable[[int], None] | None = None,
    ) -> EnrichedForecast:
        """N output members of one forecast (with --hybrid, the M inputs among them)."""
        m = members.shape[0]
        n_gen = n - m if hybrid else n
        if hybrid and n_gen < 1:
            raise UserError(
                f"a hybrid ensemble of {n} members from {m} inputs: ask for more than {m}", "n"
            )
        assign(n_gen, m, every_input=not hybrid)  # refuse before the inversion runs
        inv = self.invert(members, inv_cfg, on_step)
        fields, source = self.generate(inv, n_gen, cfg, every_input=not hybrid)
        generated = np.ones(n_gen, dtype=np.int8)
        if hybrid:
            fields = np.concatenate([members.astype(np.float32), fields])
            source = np.concatenate([np.arange(m), source])
            generated = np.concatenate([np.zeros(m, np.int8), generated])
        return EnrichedForecast(fields, source, generated, self.rmse(members, inv), inv)

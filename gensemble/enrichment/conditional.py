"""One forecast enlarged by conditional sampling: K seeds in, N members out, no inversion.

The model must declare :class:`~gensemble.api.conditional.ConditionalSampling`.  The K
seeds are drawn from the input members with the job's seed (every input is as good a seed
as another, and a fixed choice such as "the first two" would always favour the control
member); with ``hybrid`` the seeds are kept among the N and N - K are generated.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from gensemble.api.capabilities import require
from gensemble.api.conditional import ConditionalSampling
from gensemble.core.errors import UserError
from gensemble.enrichment.pipeline import EnrichedForecast
from gensemble.inference.loaded import LoadedModel

LOG = logging.getLogger(__name__)

#: the ``source`` of a member drawn from the seeds together (not built on one input)
FROM_SEEDS = -1


def choose_seeds(m: int, k: int, seed: int) -> np.ndarray:
    """K distinct input members of M (sorted), a seeded draw."""
    if k > m:
        raise UserError(f"the model conditions on {k} seed members; the forecast has {m}")
    rng = np.random.default_rng([seed, 1729])
    return np.sort(rng.choice(m, k, replace=False))


@dataclass
class ConditionalEnricher:
    """A loaded conditional model ready to enlarge forecasts."""

    loaded: LoadedModel
    device: Any = "cpu"
    seeds: int | None = None  # K (default: the K the model was trained with)
    model: ConditionalSampling = field(init=False)

    def __post_init__(self) -> None:
        self.model = require(self.loaded.model, ConditionalSampling, "conditional enrichment")
        self.loaded.model.to(self.device)
        self.k = self.seeds or self.model.condition_spec().seeds
        if self.k < 1:
            raise UserError("conditional enrichment needs at least one seed member", "seeds")

    def generate(self, seeds: np.ndarray, n: int, seed: int) -> np.ndarray:
        """n physical members (n, C, H, W) drawn given physical seed members (K, C, H, W)."""
        norm = self.loaded.normalizer
        cond = norm.forward(torch.from_numpy(np.ascontiguousarray(seeds, np.float32)))
        gen = torch.Generator().manual_seed(seed)
        x = self.model.sample_conditional(n, cond.to(self.device), gen, self.device)
        return norm.inverse(x.float().cpu()).numpy()

    def enrich(
        self, members: np.ndarray, n: int, hybrid: bool = False, seed: int = 0
    ) -> EnrichedForecast:
        """N output members of one forecast; with ``hybrid`` the K seeds among them."""
        m = members.shape[0]
        chosen = choose_seeds(m, self.k, seed)
        n_gen = n - self.k if hybrid else n
        if n_gen < 1:
            raise UserError(
                f"a hybrid ensemble of {n} members from {self.k} seeds: ask for more", "n"
            )
        fields = self.generate(members[chosen], n_gen, seed + 1)
        source = np.full(n_gen, FROM_SEEDS, dtype=np.int64)
        generated = np.ones(n_gen, dtype=np.int8)
        if hybrid:
            fields = np.concatenate([members[chosen].astype(np.float32), fields])
            source = np.concatenate([chosen, source])
            generated = np.concatenate([np.zeros(self.k, np.int8), generated])
        rmse = np.full((m, members.shape[1]), np.nan)  # nothing is reconstructed
        return EnrichedForecast(fields.astype(np.float32), source, generated, rmse, None, chosen)

"""Training batches of a conditional model: K seeds of a forecast and a target.

Each global batch is drawn from ``(seed, step)`` alone - the forecasts, which of their
members are the seeds, which is the target, and whether the target is the verifying
truth instead - so a resumed run sees exactly the batches an uninterrupted one sees, and
every rank keeps its own rows of the same global batch.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from gensemble.api.conditional import ConditionSpec, ForecastBatch
from gensemble.core.errors import UserError
from gensemble.data.forecasts import ForecastIndex
from gensemble.data.normalize import Normalizer
from gensemble.data.store import Store

LOG = logging.getLogger(__name__)


@dataclass(frozen=True)
class ForecastRow:
    """Sample indices of the seeds, and the target: a sample, or a truth row."""

    seeds: tuple[int, ...]
    target: int
    truth: bool


class ForecastBatchSampler:
    """Rows of each global batch, the rank's slice of them."""

    def __init__(
        self,
        index: ForecastIndex,
        spec: ConditionSpec,
        global_batch: int,
        rank: int = 0,
        world: int = 1,
        seed: int = 0,
        start_step: int = 0,
    ) -> None:
        k = spec.seeds
        sizes, has_truth = index.sizes, index.truth >= 0
        as_member = sizes >= k + 1
        as_truth = (sizes >= k) & has_truth
        usable = (
            as_truth
            if spec.truth_fraction >= 1
            else as_member | (as_truth & (spec.truth_fraction > 0))
        )
        if not usable.any():
            what = "a truth field and" if spec.truth_fraction >= 1 else ""
            raise UserError(
                f"no forecast has {what} enough members to train on: {k} seeds "
                f"{'and the truth' if spec.truth_fraction >= 1 else '+ 1 target member'} "
                f"are needed (the largest forecast has {int(sizes.max(initial=0))} members; "
                f"{int(has_truth.sum())} of {len(index)} have a truth)"
            )
        if spec.truth_fraction > 0 and not (as_truth & usable).any():
            raise UserError(
                f"the model trains on the verifying truth (truth_fraction "
                f"{spec.truth_fraction:g}) but no training forecast has a truth field; "
                "prepare the store with its truth (analysis or gridded observations)"
            )
        self.index, self.spec = index, spec
        self.usable = np.flatnonzero(usable)
        self.as_member, self.as_truth = as_member, as_truth
        self.global_batch, self.rank, self.world = global_batch, rank, world
        self.local = global_batch // world
        self.seed, self.step = seed, start_step

    def rows_for(self, step: int) -> list[ForecastRow]:
        rng = np.random.default_rng([self.seed, step])
        pool, b, k = self.usable, self.global_batch, self.spec.seeds
        picks = rng.choice(pool, b, replace=len(pool) < b)
        rows = []
        for f in picks:
            coin = rng.random()
            truth = bool(
                self.as_truth[f] and (coin < self.spec.truth_fraction or not self.as_member[f])
            )
            perm = rng.permutation(self.index.members[f])
            target = int(self.index.truth[f]) if truth else int(perm[k])
            rows.append(ForecastRow(tuple(int(i) for i in perm[:k]), target, truth))
        return rows[self.rank * self.local : (self.rank + 1) * self.local]

    def __len__(self) -> int:
        return max(1, len(self.usable) // self.global_batch)

    def __iter__(self) -> Iterator[list[ForecastRow]]:
        step = self.step
        while True:
            yield self.rows_for(step)
            step += 1


class ForecastDataset:
    """Loads :class:`ForecastRow` lists as normalised :class:`ForecastBatch` es."""

    def __init__(self, path: Path, normalizer: Normalizer, allow_masked: bool = False) -> None:
        self.path, self.normalizer, self.allow_masked = Path(path), normalizer, allow_masked
        self._store: Store | None = None

    @property
    def store(self) -> Store:
        if self._store is None:
            self._store = Store(self.path)
        return self._store

    def _normalise(self, x: np.ndarray) -> torch.Tensor:
        out = torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32))
        self.normalizer.forward_(out)
        if self.allow_masked:
            torch.nan_to_num_(out, nan=0.0, posinf=0.0, neginf=0.0)
        return out

    def __getitems__(self, rows: list[ForecastRow]) -> ForecastBatch:
        b, k = len(rows), len(rows[0].seeds)
        shape = self.store.shape
        seeds = np.empty((b * k, *shape), dtype=np.float32)
        self.store.read_into(seeds, np.array([i for r in rows for i in r.seeds]))
        target = np.empty((b, *shape), dtype=np.float32)
        members = [j for j, r in enumerate(rows) if not r.truth]
        if members:
            target[members] = self.store.read(np.array([rows[j].target for j in members]))
        truths = [j for j, r in enumerate(rows) if r.truth]
        if truths:
            target[truths] = self.store.read_truth(np.array([rows[j].target for j in truths]))
        return ForecastBatch(
            self._normalise(seeds).reshape(b, k, *shape),
            self._normalise(target),
            torch.tensor([r.truth for r in rows], dtype=torch.bool),
        )

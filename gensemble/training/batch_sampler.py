"""Batch order that is the same for any number of ranks and any restart point.

Global batch k of epoch e is slice k of a permutation seeded by (seed, e); rank r takes
rows [r b, (r+1) b) of it.  A resumed run at step s starts from exactly the batch an
uninterrupted run would have seen.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator

import numpy as np

LOG = logging.getLogger(__name__)


class GlobalBatchSampler:
    def __init__(
        self, n: int, global_batch: int, rank: int, world: int, seed: int, start_step: int = 0
    ) -> None:
        if n < global_batch:
            raise ValueError(f"{n} training samples are fewer than the batch size {global_batch}")
        self.n, self.global_batch, self.rank, self.world = n, global_batch, rank, world
        self.local = global_batch // world
        self.seed, self.step = seed, start_step
        self.per_epoch = n // global_batch

    def batch_for(self, step: int) -> list[int]:
        epoch, k = divmod(step, self.per_epoch)
        perm = np.random.default_rng([self.seed, epoch]).permutation(self.n)
        rows = perm[k * self.global_batch : (k + 1) * self.global_batch]
        return rows[self.rank * self.local : (self.rank + 1) * self.local].tolist()

    def __iter__(self) -> Iterator[list[int]]:
        step = self.step
        while True:
            yield self.batch_for(step)
            step += 1

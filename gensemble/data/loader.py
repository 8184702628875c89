"""torch Dataset/DataLoader over a prepared store.

Batches are read with one zarr call per batch (``__getitems__``: sorted indices, chunks
fetched concurrently by zarr), normalised in torch, and handed to the training loop as a
ready (B, C, H, W) tensor, so worker processes ship one tensor per batch.  Optional
per-rank sharding for DistributedDataParallel.

Stores with NaNs or out-of-range values are refused unless ``allow_masked`` is set; then
NaNs become 0 in normalised space (the climatological mean) and a mask is returned.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset, get_worker_info

from gensemble.core.errors import UserError
from gensemble.data.normalize import Normalizer
from gensemble.data.store import Store

LOG = logging.getLogger(__name__)


def check_quality(store: Store, allow_masked: bool) -> None:
    q = store.quality
    if (q.get("nan_count") or q.get("out_of_range")) and not allow_masked:
        bad = {
            **{f"NaN {k}": v for k, v in q.get("nan_count", {}).items()},
            **{f"out-of-range {k}": v for k, v in q.get("out_of_range", {}).items()},
        }
        listing = ", ".join(f"{k}={v}" for k, v in bad.items())
        raise UserError(
            f"{store.path}: data has {listing}; set training.allow_masked=true to "
            "train with these values masked"
        )


class StoreDataset(Dataset):
    """Normalised samples of a store (optionally a subset of indices)."""

    def __init__(
        self,
        path: Path,
        indices: np.ndarray | None = None,
        normalizer: Normalizer | None = None,
        allow_masked: bool = False,
    ) -> None:
        store = Store(path)
        check_quality(store, allow_masked)
        self.path = Path(path)
        self.indices = np.arange(store.n_samples) if indices is None else np.asarray(indices)
        self.normalizer = normalizer or store.normalizer()
        self.allow_masked = allow_masked
        self.shape = store.shape
        self._store: Store | None = store  # dropped when pickled to a worker, reopened there

    @property
    def store(self) -> Store:
        if self._store is None:  # opened lazily: once per worker process
            self._store = Store(self.path)
        return self._store

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state["_store"] = None
        return state

    def __len__(self) -> int:
        return len(self.indices)

    def _load(self, indices: np.ndarray) -> torch.Tensor:
        out = torch.empty((len(indices), *self.shape), dtype=torch.float32)
        if get_worker_info() is not None:
            out.share_memory_()  # filled in place, then sent to the main process without a copy
        self.store.read_into(out.numpy(), indices)
        self.normalizer.forward_(out)
        if self.allow_masked:
            torch.nan_to_num_(out, nan=0.0, posinf=0.0, neginf=0.0)
        return out

    def __getitem__(self, i: int) -> torch.Tensor:
        return self._load(self.indices[[i]])[0]

    def __getitems__(self, items: list[int]) -> torch.Tensor:
        return self._load(self.indices[np.asarray(items)])


class ThreadedLoader:
    """Batches prepared by ``num_workers`` threads with bounded prefetch.

    Chunk reads and torch kernels release the GIL, so threads overlap them without the
    cost process workers pay to ship every batch through fresh shared memory (see
    benchmarks/loader.py for both).  Same batches, same order as the process loader.
    """

    def __init__(
        self,
        dataset: StoreDataset,
        batch_sampler: Any,
        num_workers: int = 2,
        prefetch: int = 4,
        pin_memory: bool = False,
    ) -> None:
        self.dataset, self.batch_sampler = dataset, batch_sampler
        self.num_workers, self.prefetch, self.pin_memory = max(1, num_workers), prefetch, pin_memory
        self.sampler = getattr(batch_sampler, "sampler", None)

    def __len__(self) -> int:
        return len(self.batch_sampler)

    def _load(self, items: list[int]) -> torch.Tensor:
        batch = self.dataset.__getitems__(items)
        return batch.pin_memory() if self.pin_memory else batch

    def __iter__(self) -> Any:
        from collections import deque
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(self.num_workers, thread_name_prefix="gensemble-load") as pool:
            pending: deque = deque()
            for items in self.batch_sampler:
                pending.append(pool.submit(self._load, list(items)))
                if len(pending) > self.prefetch * self.num_workers:
                    yield pending.popleft().result()
            while pending:
                yield pending.popleft().result()


def split_indices(n: int, val_fraction: float, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Deterministic train/validation split of sample indices."""
    rng = np.random.default_rng(seed)
    perm = rng.permutation(n)
    n_val = int(round(n * val_fraction)) if n > 1 else 0
    return np.sort(perm[n_val:]), np.sort(perm[:n_val])

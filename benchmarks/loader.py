"""Loader benchmark: samples/s of 4x256x256 float32 through the training loader.

Builds a synthetic se_france store (uncompressed, the default) and measures, in one run:
the raw zarr read rate (zarr selection of shuffled batches, no normalisation), the store's
direct chunk read rate, and the full loader (read + normalise) with 0 workers, 2 worker
threads (default) and 2 worker processes (torch DataLoader).  Medians over epochs.
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

import numpy as np  # noqa: E402
from torch.utils.data import DataLoader  # noqa: E402

from gensemble.core.registry import get_registry  # noqa: E402
from gensemble.data.cf import write_netcdf
from gensemble.data.loader import StoreDataset, ThreadedLoader  # noqa: E402
from gensemble.data.prepare import prepare_store  # noqa: E402
from gensemble.data.store import Store  # noqa: E402
from gensemble.data.synth import synth_ensemble  # noqa: E402

N_SAMPLES, BATCH, EPOCHS = 512, 32, 5


def rate(fn) -> float:
    rates = []
    for _ in range(EPOCHS):
        t0 = time.perf_counter()
        n = fn()
        rates.append(n / (time.perf_counter() - t0))
    return statistics.median(rates)


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        d = get_registry().get("domain", "se_france")()
        raw, path = Path(tmp) / "raw.nc", Path(tmp) / "s.zarr"
        write_netcdf(synth_ensemble(d, N_SAMPLES // 16, 16, show_progress=False), raw)
        prepare_store(d, [raw], path)
        store = Store(path)
        rng = np.random.default_rng(0)

        def zarr_epoch() -> int:
            perm = rng.permutation(N_SAMPLES)
            for i in range(0, N_SAMPLES, BATCH):
                store.read(perm[i : i + BATCH])
            return N_SAMPLES

        buf = np.empty((BATCH, *store.shape), np.float32)

        def direct_epoch() -> int:
            perm = rng.permutation(N_SAMPLES)
            for i in range(0, N_SAMPLES, BATCH):
                store.read_into(buf, perm[i : i + BATCH])
            return N_SAMPLES

        results = {
            "raw zarr read (selection)": rate(zarr_epoch),
            "direct chunk read": rate(direct_epoch),
        }
        ds = StoreDataset(path)
        order = [list(range(i, i + BATCH)) for i in range(0, N_SAMPLES - BATCH + 1, BATCH)]
        for label, nw, kind in (
            ("loader, 0 workers", 0, "thread"),
            ("loader, 2 worker threads", 2, "thread"),
            ("torch DataLoader, 2 processes", 2, "process"),
        ):
            if kind == "thread":
                loader = ThreadedLoader(ds, order, nw)
            else:  # the reference: torch's process workers over the same batches
                loader = DataLoader(
                    ds,
                    batch_sampler=order,
                    num_workers=nw,
                    collate_fn=lambda b: b,
                    persistent_workers=True,
                )

            def epoch(loader=loader) -> int:
                return sum(b.shape[0] for b in loader)

            epoch()  # warm-up (starts process workers)
            results[label] = rate(epoch)
        ref = results["raw zarr read (selection)"]
        print(
            f"loader: {N_SAMPLES} samples of 4x256x256 float32, batch {BATCH}, "
            f"median of {EPOCHS} epochs"
        )
        for k, v in results.items():
            print(f"  {k:28s}: {v:8.0f} samples/s  ({v / ref:4.1f}x raw zarr)")
        print("  goal: >= 2000 samples/s with 2 workers")


if __name__ == "__main__":
    main()

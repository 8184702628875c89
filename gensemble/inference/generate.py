"""Write generated members in physical units as CF netCDF (or zarr), batch after batch.

Memory stays bounded for thousands of members, and an interrupted run never leaves a
half-written file under the requested name (:class:`gensemble.data.cf.MemberWriter`).
"""

from __future__ import annotations

from pathlib import Path

import torch

from gensemble import __version__
from gensemble.core.errors import UserError
from gensemble.core.progress import progress
from gensemble.data.cf import MemberWriter, global_attrs
from gensemble.inference.loaded import LoadedModel


def write_members(
    loaded: LoadedModel,
    n: int,
    out: Path,
    seed: int = 0,
    truncation: float = 1.0,
    batch: int = 16,
    device: str = "cpu",
) -> Path:
    out = Path(out)
    if out.suffix not in (".nc", ".zarr"):
        raise UserError(f"--out must end with .nc or .zarr, got {out.name}")
    gen = torch.Generator().manual_seed(seed)
    meta = loaded.meta
    units = meta.units or [""] * len(loaded.variables)
    attrs = global_attrs(
        "gensemble generated ensemble members",
        meta.domain.name,
        source=f"gensemble {__version__}, {meta.architecture.name}",
        checkpoint=str(loaded.path),
        run_id=str(meta.run_id),
        training_step=int(meta.step),
        truncation_psi=float(truncation),
        seed=int(seed),
    )
    with (
        MemberWriter(
            out, loaded.grid, loaded.variables, units, attrs, n, meta.definitions()
        ) as writer,
        progress() as bar,
    ):
        task = bar.add_task("generate", total=n)
        for start in range(0, n, batch):
            k = min(batch, n - start)
            writer.write(start, loaded.generate_physical(k, gen, truncation, device).numpy())
            bar.update(task, advance=k)
    return out

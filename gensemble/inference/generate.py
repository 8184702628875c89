"""Write generated members in physical units as CF netCDF (or zarr), batch after batch.

Memory stays bounded for thousands of members, and an interrupted run never leaves a
half-written file under the requested name (:class:`gensemble.data.cf.MemberWriter`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

from gensemble import __version__
from gensemble.api.capabilities import LatentAccess, require
from gensemble.core.errors import UserError
from gensemble.core.progress import progress
from gensemble.data.cf import MemberWriter, global_attrs
from gensemble.inference.loaded import LoadedModel

LOG = logging.getLogger(__name__)


def write_members(
    loaded: LoadedModel,
    n: int,
    out: Path,
    seed: int = 0,
    truncation: float = 1.0,
    batch: int = 16,
    device: str = "cpu",
) -> Path:
    """``n`` members from seeded latent draws."""
    gen = torch.Generator().manual_seed(seed)

    def produce(start: int, k: int) -> torch.Tensor:
        return loaded.generate_physical(k, gen, truncation, device)

    return _write(loaded, n, out, batch, produce, truncation_psi=truncation, seed=seed)


def read_latents(path: Path, space: str, model: LatentAccess) -> torch.Tensor:
    """Latent codes from a .npy file: (n, z_dim) in z; (n, num_styles, w_dim) in W+, or
    (n, w_dim) for one w per member used at every layer."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"latent file not found: {path}")
    try:
        arr = np.load(path, allow_pickle=False)
    except (ValueError, OSError) as exc:
        raise UserError(f"{path}: not a readable .npy array ({exc})") from None
    if not np.issubdtype(arr.dtype, np.floating):
        raise UserError(f"{path}: latent codes must be floating point, found {arr.dtype}")
    if not np.all(np.isfinite(arr)):
        raise UserError(f"{path}: latent codes hold NaN or infinite values")
    if space == "z":
        want = f"(n, {model.z_dim})"
        ok = arr.ndim == 2 and arr.shape[1] == model.z_dim
    else:
        s, d = model.num_styles(), model.w_dim
        want = f"(n, {s}, {d}) or (n, {d})"
        ok = (arr.ndim == 3 and arr.shape[1:] == (s, d)) or (arr.ndim == 2 and arr.shape[1] == d)
        if ok and arr.ndim == 2:
            arr = np.repeat(arr[:, None, :], s, axis=1)
    if not ok or arr.shape[0] == 0:
        raise UserError(f"{path}: latent codes of shape {arr.shape}, {space} needs {want}")
    return torch.from_numpy(np.ascontiguousarray(arr, dtype=np.float32))


def write_from_latents(
    loaded: LoadedModel,
    latents: Path,
    out: Path,
    space: str = "z",
    noise: str = "random",
    truncation: float = 1.0,
    seed: int = 0,
    batch: int = 16,
    device: str = "cpu",
) -> tuple[Path, int]:
    """One member per latent code of ``latents`` (z or W+), with the checkpoint's stored
    noise maps (``const``), seeded random ones, or none (``zero``)."""
    if space not in ("z", "w+"):
        raise UserError(f"latent space {space!r}: use z or w+", "space")
    if noise not in ("const", "random", "zero"):
        raise UserError(f"noise {noise!r}: use const, random or zero", "noise")
    model = require(loaded.model, LatentAccess, "generation from latent codes")
    codes = read_latents(latents, space, model)
    loaded.model.to(device)
    gen = torch.Generator().manual_seed(seed)

    @torch.no_grad()
    def produce(start: int, k: int) -> torch.Tensor:
        code = codes[start : start + k].to(device)
        if space == "z":
            ws = model.map_z(code, truncation)
        else:
            ws = code
            if truncation != 1.0:
                centre = model.w_center().to(code)
                ws = centre + truncation * (ws - centre)
        x = model.synthesize(ws, noise, generator=gen).float()  # type: ignore[arg-type]
        return loaded.normalizer.inverse(x.cpu())

    written = _write(
        loaded,
        codes.shape[0],
        out,
        batch,
        produce,
        truncation_psi=truncation,
        seed=seed,
        latents=str(latents),
        latent_space=space,
        noise=noise,
    )
    return written, codes.shape[0]


def _write(
    loaded: LoadedModel,
    n: int,
    out: Path,
    batch: int,
    produce: Callable[[int, int], torch.Tensor],
    **extra: Any,
) -> Path:
    out = Path(out)
    if out.suffix not in (".nc", ".zarr"):
        raise UserError(f"the output must be a .nc or .zarr path, got {out.name}", "out")
    meta = loaded.meta
    units = meta.units or [""] * len(loaded.variables)
    attrs = global_attrs(
        "gensemble generated ensemble members",
        meta.domain.name,
        source=f"gensemble {__version__}, {meta.architecture.name}",
        checkpoint=str(loaded.path),
        run_id=str(meta.run_id),
        training_step=int(meta.step),
        **extra,
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
            writer.write(start, produce(start, k).numpy())
            bar.update(task, advance=k)
    return out

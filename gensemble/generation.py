"""Write generated members in physical units as CF-compliant netCDF (or zarr).

Batches are generated and written one after the other (memory stays bounded for
thousands of members) into a temporary file that is renamed at the end, so an
interrupted run never leaves a half-written file under the requested name.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch

from gensemble import __version__
from gensemble.core.errors import UserError
from gensemble.core.progress import progress
from gensemble.data.variables import cf_attrs
from gensemble.training.models import LoadedModel


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
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.tmp{os.getpid()}")
    gen = torch.Generator().manual_seed(seed)
    units = loaded.meta.get("units") or [""] * len(loaded.variables)
    attrs = {
        "Conventions": "CF-1.8",
        "title": "gensemble generated ensemble members",
        "source": f"gensemble {__version__}, {loaded.meta['architecture']['name']}",
        "checkpoint": str(loaded.path),
        "run_id": str(loaded.meta.get("run_id")),
        "training_step": int(loaded.meta["step"]),
        "domain": loaded.meta["domain"]["name"],
        "truncation_psi": float(truncation),
        "seed": int(seed),
    }
    try:
        writer = (
            _NetCDF(tmp, loaded, units, attrs, n)
            if out.suffix == ".nc"
            else _Zarr(tmp, loaded, units, attrs)
        )
        with progress() as bar:
            task = bar.add_task("generate", total=n)
            for start in range(0, n, batch):
                k = min(batch, n - start)
                fields = loaded.generate_physical(k, gen, truncation, device).numpy()
                writer.write(start, fields)
                bar.update(task, advance=k)
        writer.close()
        if out.exists():
            import shutil

            shutil.rmtree(out) if out.is_dir() else out.unlink()
        os.replace(tmp, out)
    except BaseException:
        if tmp.exists():
            import shutil

            shutil.rmtree(tmp, ignore_errors=True) if tmp.is_dir() else tmp.unlink()
        raise
    return out


class _NetCDF:
    def __init__(self, path: Path, loaded: LoadedModel, units: list[str], attrs: dict, n: int):
        import netCDF4

        self.ds = ds = netCDF4.Dataset(path, "w", format="NETCDF4")
        grid = loaded.grid
        ds.setncatts(attrs)
        ds.createDimension("member", n)
        ds.createDimension("y", grid.ny)
        ds.createDimension("x", grid.nx)
        m = ds.createVariable("member", "i4", ("member",))
        m.long_name = "ensemble member"
        m[:] = np.arange(n)
        for name, (dims, values, a) in grid.cf_coordinates().items():
            v = ds.createVariable(name, "f8", (dims,) if isinstance(dims, str) else dims)
            v.setncatts(a)
            v[:] = values
        crs = ds.createVariable("crs", "i4", ())
        crs.setncatts(grid.cf_grid_mapping())
        self.vars = []
        for name, unit in zip(loaded.variables, units, strict=True):
            v = ds.createVariable(
                name,
                "f4",
                ("member", "y", "x"),
                zlib=True,
                complevel=1,
                chunksizes=(1, grid.ny, grid.nx),
            )
            v.setncatts(cf_attrs(name, unit))
            self.vars.append(v)

    def write(self, start: int, fields: np.ndarray) -> None:
        for c, v in enumerate(self.vars):
            v[start : start + len(fields)] = fields[:, c]

    def close(self) -> None:
        self.ds.close()


class _Zarr:
    def __init__(self, path: Path, loaded: LoadedModel, units: list[str], attrs: dict):
        self.path, self.loaded, self.units, self.attrs = path, loaded, units, attrs
        self.first = True
        self.grid_coords = loaded.grid.cf_coordinates()  # written with the first batch only

    def write(self, start: int, fields: np.ndarray) -> None:
        import xarray as xr

        coords = {"member": ("member", np.arange(start, start + len(fields)))}
        data = {
            name: (("member", "y", "x"), fields[:, c], cf_attrs(name, self.units[c]))
            for c, name in enumerate(self.loaded.variables)
        }
        if self.first:  # grid coordinates and grid mapping once; later batches append
            coords.update(self.grid_coords)
            data["crs"] = ((), np.int32(0), self.loaded.grid.cf_grid_mapping())
            xr.Dataset(data, coords=coords, attrs=self.attrs).to_zarr(self.path, mode="w")
            self.first = False
        else:
            xr.Dataset(data, coords=coords).to_zarr(self.path, append_dim="member")

    def close(self) -> None:
        pass

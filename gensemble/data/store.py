"""The training store: a zarr group with one chunk per sample.

Layout::

    fields      (sample, variable, y, x) float32, chunk = one sample
    time        (sample) valid time, seconds since 1970 (CF-decoded by xarray)
    lead_time   (sample) hours
    member      (sample)
    x, y        native grid coordinates;  lat, lon (y, x)
    static_<name> (y, x) static fields (orography)
    truth_fields (truth, variable, y, x), truth_time (truth)   optional: the verifying
                  truth (analysis, gridded observations) of valid times, one chunk each
    stats_{global,pixel}_{mean,std,min,max}  normalisation statistics (transformed values)

Attributes carry the domain, its options, the grid (CRS WKT and geometry), the variables
and a quality report (NaN and out-of-range counts with first positions).
"""

from __future__ import annotations

import json
import logging
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
import zarr

from gensemble.core.errors import UserError
from gensemble.data.compression import compressors
from gensemble.data.grid import Grid
from gensemble.data.normalize import Normalizer
from gensemble.data.quality import QualityReport
from gensemble.data.variables import Variable, get_variable

LOG = logging.getLogger(__name__)

STORE_VERSION = 1


class StoreWriter:
    """Creates a store of known size and writes sample blocks into it."""

    def __init__(
        self,
        path: Path,
        n_samples: int,
        grid: Grid,
        variables: list[Variable],
        domain: str,
        domain_options: dict[str, Any],
        compression: str = "none",
    ) -> None:
        self.path = Path(path)
        self.root = zarr.open_group(str(self.path), mode="w", zarr_format=3)
        c, (ny, nx) = len(variables), grid.shape
        self.fields = self.root.create_array(
            "fields",
            shape=(n_samples, c, ny, nx),
            chunks=(1, c, ny, nx),
            dtype="float32",
            compressors=compressors(compression),
            fill_value=np.nan,
            dimension_names=["sample", "variable", "y", "x"],
        )
        self.time = self.root.create_array(
            "time",
            shape=(n_samples,),
            dtype="int64",
            dimension_names=["sample"],
            fill_value=0,
            attributes={"units": "seconds since 1970-01-01", "calendar": "proleptic_gregorian"},
        )
        self.lead = self.root.create_array(
            "lead_time",
            shape=(n_samples,),
            dtype="float32",
            dimension_names=["sample"],
            fill_value=np.nan,
            attributes={"units": "hours"},
        )
        self.member = self.root.create_array(
            "member", shape=(n_samples,), dtype="int32", dimension_names=["sample"], fill_value=-1
        )
        lon, lat = grid.lonlat()
        for name, data, dims in (
            ("x", grid.x, ["x"]),
            ("y", grid.y, ["y"]),
            ("lon", lon, ["y", "x"]),
            ("lat", lat, ["y", "x"]),
        ):
            self.root.create_array(name, data=np.asarray(data, np.float64), dimension_names=dims)
        self.variables = variables
        self.n = n_samples
        self.root.attrs.update(
            {
                "gensemble_store_version": STORE_VERSION,
                "domain": domain,
                "domain_options": json.loads(json.dumps(domain_options, default=str)),
                "gensemble_grid": json.dumps(grid.to_attrs()),
                "variables": [v.name for v in variables],
                "variable_defs": [v.to_dict() for v in variables],
                "units": {v.name: v.units for v in variables},
                "complete": False,
            }
        )

    def write(
        self, start: int, block: np.ndarray, time: np.ndarray, lead: np.ndarray, member: np.ndarray
    ) -> None:
        end = start + block.shape[0]
        self.fields[start:end] = block
        self.time[start:end] = np.asarray(time).astype("datetime64[s]").astype("int64")
        self.lead[start:end] = lead
        self.member[start:end] = member

    def create_truth(self, n_truth: int) -> None:
        """Room for ``n_truth`` truth fields (one per valid time), written block by block
        with :meth:`write_truth`; never part of the members' statistics."""
        c, ny, nx = self.fields.shape[1:]
        self.truth_fields = self.root.create_array(
            "truth_fields", shape=(n_truth, c, ny, nx), chunks=(1, c, ny, nx), dtype="float32",
            compressors=self.fields.compressors or None, fill_value=np.nan,
            dimension_names=["truth", "variable", "y", "x"],
        )  # fmt: skip
        self.truth_time = self.root.create_array(
            "truth_time", shape=(n_truth,), dtype="int64", dimension_names=["truth"],
            fill_value=0,
            attributes={"units": "seconds since 1970-01-01", "calendar": "proleptic_gregorian"},
        )  # fmt: skip

    def write_truth(self, start: int, block: np.ndarray, time: np.ndarray) -> None:
        end = start + block.shape[0]
        self.truth_fields[start:end] = block
        self.truth_time[start:end] = np.asarray(time).astype("datetime64[s]").astype("int64")

    def write_static(self, static: dict[str, np.ndarray]) -> None:
        for name, arr in static.items():
            self.root.create_array(
                f"static_{name}", data=np.asarray(arr, np.float32), dimension_names=["y", "x"]
            )

    def finish(
        self,
        stats_global: dict[str, np.ndarray],
        stats_pixel: dict[str, np.ndarray],
        quality: QualityReport,
        sources: list[str],
        synthetic: bool = False,
        truth_sources: list[str] | None = None,
        truth_quality: QualityReport | None = None,
    ) -> None:
        if truth_sources:
            self.root.attrs.update({"truth_sources": truth_sources})
        if truth_quality is not None:
            self.root.attrs.update({"truth_quality": truth_quality.to_json()})
        for key in ("mean", "std", "min", "max"):
            self.root.create_array(
                f"stats_global_{key}",
                data=stats_global[key].astype(np.float64),
                dimension_names=["variable"],
            )
            self.root.create_array(
                f"stats_pixel_{key}",
                data=stats_pixel[key].astype(np.float32),
                dimension_names=["variable", "y", "x"],
            )
        self.root.attrs.update(
            {
                "quality": quality.to_json(),
                "sources": sources,
                "synthetic": bool(synthetic),
                "n_samples": self.n,
                "complete": True,
            }
        )


class Store:
    """Read access to a prepared store."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        if not self.path.exists():
            raise UserError(f"store not found: {self.path}")
        try:
            self.root = zarr.open_group(str(self.path), mode="r")
            attrs = dict(self.root.attrs)
            self.fields = self.root["fields"]
        except Exception as exc:
            raise UserError(f"{self.path}: not a gensemble store ({type(exc).__name__})") from None
        if "gensemble_store_version" not in attrs:
            raise UserError(f"{self.path}: not a gensemble store (no version attribute)")
        if not attrs.get("complete", False):
            raise UserError(
                f"{self.path}: store is incomplete (prepare was interrupted); "
                "run gensemble data prepare again"
            )
        self.attrs = attrs

    @property
    def n_samples(self) -> int:
        return int(self.fields.shape[0])

    @property
    def shape(self) -> tuple[int, int, int]:
        return tuple(self.fields.shape[1:])  # type: ignore[return-value]

    @property
    def domain(self) -> str:
        return str(self.attrs["domain"])

    @property
    def domain_options(self) -> dict[str, Any]:
        return dict(self.attrs.get("domain_options", {}))

    @cached_property
    def grid(self) -> Grid:
        return Grid.from_attrs(self.attrs)

    @property
    def variable_names(self) -> list[str]:
        return list(self.attrs["variables"])

    @property
    def variables(self) -> list[Variable]:
        """The definitions the store was written with (older stores: the registry's)."""
        defs = self.attrs.get("variable_defs")
        if defs:
            return [Variable.from_dict(d) for d in defs]
        return [get_variable(n) for n in self.variable_names]

    @property
    def synthetic(self) -> bool:
        """Whether any source of the store was synthesised rather than forecast."""
        return bool(self.attrs.get("synthetic", False))

    @property
    def quality(self) -> dict[str, Any]:
        return dict(self.attrs.get("quality", {}))

    def stats(self, kind: str = "global") -> dict[str, np.ndarray]:
        return {
            k: np.asarray(self.root[f"stats_{kind}_{k}"][:]) for k in ("mean", "std", "min", "max")
        }

    def normalizer(self, mode: str = "standard", per_pixel: bool = False) -> Normalizer:
        return Normalizer.from_stats(
            self.stats("global"), self.stats("pixel"), self.variables, mode, per_pixel
        )  # type: ignore[arg-type]

    def static(self) -> dict[str, np.ndarray]:
        return {
            k[len("static_") :]: np.asarray(self.root[k][:])
            for k in self.root.array_keys()
            if k.startswith("static_")
        }

    def times(self) -> np.ndarray:
        return np.asarray(self.root["time"][:]).astype("datetime64[s]")

    @property
    def has_truth(self) -> bool:
        """Whether the store carries a verifying truth (for some valid times)."""
        return "truth_fields" in self.root.array_keys()

    def truth_times(self) -> np.ndarray:
        """The valid times the truth fields are of (empty without a truth)."""
        if not self.has_truth:
            return np.array([], dtype="datetime64[s]")
        return np.asarray(self.root["truth_time"][:]).astype("datetime64[s]")

    def truth_rows_of(self, valid: np.ndarray) -> np.ndarray:
        """For each valid time, the row of its truth field, -1 where there is none."""
        from gensemble.data.forecasts import truth_rows

        return truth_rows(self.truth_times(), valid)

    def read_truth(self, rows: np.ndarray) -> np.ndarray:
        """Truth fields (n, variable, y, x) in physical units; rows in any order."""
        idx = np.asarray(rows, dtype=np.int64)
        order = np.argsort(idx, kind="stable")
        data = self.root["truth_fields"].get_orthogonal_selection((idx[order],))
        out = np.empty_like(data)
        out[order] = data
        return np.asarray(out)

    def members(self) -> np.ndarray:
        return np.asarray(self.root["member"][:])

    def lead_times(self) -> np.ndarray:
        return np.asarray(self.root["lead_time"][:])

    def read(self, indices: np.ndarray | slice) -> np.ndarray:
        """Samples in physical units, (n, variable, y, x); indices in any order."""
        if isinstance(indices, slice):
            return np.asarray(self.fields[indices])
        idx = np.asarray(indices, dtype=np.int64)
        order = np.argsort(idx, kind="stable")
        data = self.fields.get_orthogonal_selection((idx[order],))
        out = np.empty_like(data)
        out[order] = data
        return out

    @cached_property
    def _direct_layout(self) -> bool:
        """True when chunks are plain little-endian float32 files, one per sample."""
        meta_path = self.path / "fields" / "zarr.json"
        if not meta_path.is_file():
            return False
        meta = json.loads(meta_path.read_text())
        codecs = meta.get("codecs", [])
        return (
            meta.get("data_type") == "float32"
            and len(codecs) == 1
            and codecs[0].get("name") == "bytes"
            and codecs[0].get("configuration", {}).get("endian", "little") == "little"
            and meta.get("chunk_key_encoding", {}).get("name") == "default"
            and meta["chunk_key_encoding"].get("configuration", {}).get("separator") == "/"
            and meta["chunk_grid"]["configuration"]["chunk_shape"] == [1, *self.shape]
        )

    def read_into(self, out: np.ndarray, indices: np.ndarray) -> np.ndarray:
        """Read samples straight into ``out`` (n, variable, y, x).

        Uncompressed stores are read chunk file by chunk file into the destination buffer
        (about 10x faster than zarr's selection on one core, see benchmarks/loader.py);
        compressed or remote stores go through zarr.
        """
        idx = np.asarray(indices, dtype=np.int64)
        if not self._direct_layout:
            out[...] = self.read(idx)
            return out
        nbytes = out[0].nbytes
        base = self.path / "fields" / "c"
        for k, i in enumerate(idx):
            view = memoryview(out[k]).cast("B")
            try:
                with open(base / str(int(i)) / "0" / "0" / "0", "rb", buffering=0) as fh:
                    got = fh.readinto(view)
            except FileNotFoundError:  # never-written chunk: zarr's fill value
                out[k] = np.nan
                continue
            if got != nbytes:
                raise UserError(f"{self.path}: sample {int(i)} is truncated on disk")
        return out

    def summary(self) -> dict[str, Any]:
        g = self.stats("global")
        return {
            "path": str(self.path),
            "domain": self.domain,
            "n_samples": self.n_samples,
            "shape": list(self.shape),
            "grid": self.grid.describe(),
            "variables": {
                n: {
                    "units": self.attrs["units"][n],
                    "mean_T": float(g["mean"][i]),
                    "std_T": float(g["std"][i]),
                    "min_T": float(g["min"][i]),
                    "max_T": float(g["max"][i]),
                }
                for i, n in enumerate(self.variable_names)
            },
            "quality": self.quality,
            "members": sorted({int(m) for m in self.members()}),
            "time_range": [str(self.times().min()), str(self.times().max())],
            "static": sorted(self.static()),
            "truth": self._truth_summary(),
        }

    def _truth_summary(self) -> str:
        from gensemble.data.forecasts import ForecastIndex

        if not self.has_truth:
            return "none"
        return f"{len(self.truth_times())} fields; " + ForecastIndex.of(self).truth_summary()


def check_store_matches(
    store: Store, variables: list[str], shape: tuple[int, ...], what: str, hint: str = ""
) -> None:
    """Refuse a store whose variables or grid size differ from what ``what`` expects
    (a domain's configuration, a model's checkpoint); one line naming both sides."""
    if store.variable_names == list(variables) and tuple(store.shape[1:]) == tuple(shape[-2:]):
        return
    have = f"{','.join(store.variable_names)} on {store.shape[1]}x{store.shape[2]}"
    want = f"{','.join(variables)} on {shape[-2]}x{shape[-1]}"
    raise UserError(
        f"data store {store.path} holds {have} but {what} gives {want}"
        + (f"; {hint}" if hint else "")
    )

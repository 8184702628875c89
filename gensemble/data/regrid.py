"""Regridding with precomputed sparse weights (pyproj + scipy.sparse).

Weights are a CSR matrix ``W`` (n_target × n_source) over C-order flattened (y, x) fields,
the same convention as ESMF/xESMF weight files (``S``, ``row``, ``col``, 1-based), so
weights computed on HPC with ESMF can be read with :func:`read_esmf_weights` and applied
here.  Methods:

* ``bilinear`` — on a regular source grid (any CRS, periodic in longitude when global);
  on a curvilinear source known only by 2-D lat/lon, piecewise-linear (barycentric on a
  Delaunay triangulation in a local azimuthal projection).  Both reproduce fields that are
  linear in the source coordinates.
* ``nearest`` — nearest source point (great-circle, KD-tree on the unit sphere).
* ``area`` — area-weighted average of source sub-cells falling in each target cell
  (conservative-style coarsening; constants are preserved exactly).

Target points with no source are NaN; their count is reported by :attr:`Regridder.n_outside`.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import pyproj
import scipy.sparse as sp
from scipy.spatial import Delaunay, cKDTree

from gensemble.core.atomic import atomic_path
from gensemble.core.cache import cache_root
from gensemble.core.errors import UserError
from gensemble.data.grid import Grid

LOG = logging.getLogger(__name__)

Method = Literal["bilinear", "nearest", "area"]
METHODS: tuple[str, ...] = ("bilinear", "nearest", "area")


@dataclass(frozen=True)
class PointSource:
    """A curvilinear source grid known only by 2-D longitude/latitude."""

    lon: np.ndarray
    lat: np.ndarray

    @property
    def shape(self) -> tuple[int, int]:
        return tuple(self.lon.shape)  # type: ignore[return-value]

    def key(self) -> str:
        h = hashlib.sha256()
        h.update(np.ascontiguousarray(self.lon, dtype=np.float64).tobytes())
        h.update(np.ascontiguousarray(self.lat, dtype=np.float64).tobytes())
        return "pts" + h.hexdigest()[:13]


Source = Grid | PointSource


class Regridder:
    """Applies a sparse weight matrix to fields of shape (..., ny_src, nx_src)."""

    def __init__(
        self,
        weights: sp.csr_matrix,
        src_shape: tuple[int, int],
        dst_shape: tuple[int, int],
        method: str = "external",
    ) -> None:
        n_dst, n_src = weights.shape
        if n_src != src_shape[0] * src_shape[1] or n_dst != dst_shape[0] * dst_shape[1]:
            raise UserError(
                f"weights of shape {weights.shape} do not match source grid {src_shape} and "
                f"target grid {dst_shape}"
            )
        self.weights = sp.csr_matrix(weights)
        self.src_shape = tuple(src_shape)
        self.dst_shape = tuple(dst_shape)
        self.method = method
        self.outside = np.asarray(np.diff(self.weights.indptr) == 0).reshape(self.dst_shape)

    @property
    def n_outside(self) -> int:
        return int(self.outside.sum())

    @property
    def covered_fraction(self) -> float:
        return 1.0 - self.n_outside / self.outside.size

    def __call__(self, field: np.ndarray) -> np.ndarray:
        field = np.asarray(field)
        if field.shape[-2:] != self.src_shape:
            raise UserError(
                f"field of shape {field.shape[-2:]} does not match source grid {self.src_shape}"
            )
        lead = field.shape[:-2]
        flat = field.reshape(-1, self.src_shape[0] * self.src_shape[1])
        out = np.empty(
            (flat.shape[0], self.weights.shape[0]), dtype=np.result_type(field, np.float32)
        )
        for k in range(flat.shape[0]):  # one sparse mat-vec per 2-D field: no transposed copies
            out[k] = self.weights @ flat[k]
        out[:, self.outside.ravel()] = np.nan
        return out.reshape(*lead, *self.dst_shape)


# -- weight computation -----------------------------------------------------------------------
def _target_in_source_crs(src: Grid, dst: Grid) -> tuple[np.ndarray, np.ndarray]:
    xx, yy = np.meshgrid(dst.x, dst.y)
    if src.crs == dst.crs:
        return xx.ravel(), yy.ravel()
    if src.is_geographic:
        lon, lat = dst.lonlat()
        return src.to_crs_xy(lon.ravel(), lat.ravel())
    tr = pyproj.Transformer.from_crs(dst.crs, src.crs, always_xy=True)
    x, y = tr.transform(xx.ravel(), yy.ravel())
    return np.asarray(x), np.asarray(y)


def _snap(index: np.ndarray, tol: float = 1e-7) -> np.ndarray:
    """Round fractional indices within ``tol`` of an integer (same-grid points map exactly,
    so a NaN never leaks into a neighbour through a 1e-12 weight)."""
    near = np.round(index)
    return np.where(np.abs(index - near) < tol, near, index)


def _is_periodic(src: Grid) -> bool:
    return bool(src.is_geographic and abs(abs(src.dx) * src.nx - 360.0) < 1e-6 * 360)


def _bilinear_regular(src: Grid, dst: Grid) -> sp.csr_matrix:
    x, y = _target_in_source_crs(src, dst)
    r, c = (_snap(v) for v in src.index_of(x, y))
    periodic = _is_periodic(src)
    if periodic:
        c = np.mod(c, src.nx)
    tol = 1e-9
    ok = np.isfinite(r) & np.isfinite(c) & (r >= -tol) & (r <= src.ny - 1 + tol)
    if not periodic:
        ok &= (c >= -tol) & (c <= src.nx - 1 + tol)
    r, c = np.clip(r, 0, src.ny - 1), c if periodic else np.clip(c, 0, src.nx - 1)
    r0 = np.minimum(np.floor(r).astype(np.int64), max(src.ny - 2, 0))
    c0 = np.floor(c).astype(np.int64)
    if not periodic:
        c0 = np.minimum(c0, max(src.nx - 2, 0))
    fr, fc = r - r0, c - c0
    r1 = np.minimum(r0 + 1, src.ny - 1)
    c1 = (c0 + 1) % src.nx if periodic else np.minimum(c0 + 1, src.nx - 1)
    c0 = c0 % src.nx
    tgt = np.nonzero(ok)[0]
    rows = np.repeat(tgt, 4)
    cols = np.stack(
        [r0 * src.nx + c0, r0 * src.nx + c1, r1 * src.nx + c0, r1 * src.nx + c1], axis=1
    )[ok].ravel()
    vals = np.stack([(1 - fr) * (1 - fc), (1 - fr) * fc, fr * (1 - fc), fr * fc], axis=1)[
        ok
    ].ravel()
    return sp.csr_matrix((vals, (rows, cols)), shape=(dst.ny * dst.nx, src.ny * src.nx))


def _unit_xyz(lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
    lo, la = np.radians(lon), np.radians(lat)
    return np.stack([np.cos(la) * np.cos(lo), np.cos(la) * np.sin(lo), np.sin(la)], axis=-1)


def _source_lonlat(src: Source) -> tuple[np.ndarray, np.ndarray]:
    return src.lonlat() if isinstance(src, Grid) else (src.lon, src.lat)


def _nearest(src: Source, dst: Grid) -> sp.csr_matrix:
    slon, slat = _source_lonlat(src)
    tlon, tlat = dst.lonlat()
    tree = cKDTree(_unit_xyz(slon.ravel(), slat.ravel()))
    dist, idx = tree.query(_unit_xyz(tlon.ravel(), tlat.ravel()))
    # beyond ~1.5 source spacings from any source point counts as outside the source
    sample = _unit_xyz(slon.ravel(), slat.ravel())
    step = np.median(cKDTree(sample).query(sample[:: max(1, len(sample) // 2000)], k=2)[0][:, 1])
    ok = dist <= 1.5 * step * np.sqrt(2) + 1e-12
    tgt = np.nonzero(ok)[0]
    return sp.csr_matrix((np.ones(tgt.size), (tgt, idx[ok])), shape=(dst.ny * dst.nx, slon.size))


def _linear_points(src: PointSource, dst: Grid) -> sp.csr_matrix:
    lon0, lat0 = float(np.mean(src.lon)), float(np.mean(src.lat))
    local = pyproj.Proj(proj="aeqd", lon_0=lon0, lat_0=lat0, R=6371000)
    sx, sy = local(src.lon.ravel(), src.lat.ravel())
    tlon, tlat = dst.lonlat()
    tx, ty = local(tlon.ravel(), tlat.ravel())
    tri = Delaunay(np.column_stack([sx, sy]))
    pts = np.column_stack([tx, ty])
    simplex = tri.find_simplex(pts)
    ok = simplex >= 0
    trans = tri.transform[simplex[ok]]
    b = np.einsum("nij,nj->ni", trans[:, :2], pts[ok] - trans[:, 2])
    bary = np.column_stack([b, 1 - b.sum(axis=1)])
    tgt = np.nonzero(ok)[0]
    rows = np.repeat(tgt, 3)
    cols = tri.simplices[simplex[ok]].ravel()
    return sp.csr_matrix((bary.ravel(), (rows, cols)), shape=(dst.ny * dst.nx, src.lon.size))


def _area(src: Source, dst: Grid, sub: int = 3) -> sp.csr_matrix:
    if isinstance(src, Grid):
        off = (np.arange(sub) + 0.5) / sub - 0.5
        sx = (src.x[:, None] + off[None, :] * src.dx).ravel()
        sy = (src.y[:, None] + off[None, :] * src.dy).ravel()
        xx, yy = np.meshgrid(sx, sy)
        src_idx = (
            np.arange(src.ny).repeat(sub)[:, None] * src.nx + np.arange(src.nx).repeat(sub)[None, :]
        ).ravel()
        if src.is_geographic:
            lon, lat = xx.ravel(), yy.ravel()
            w = np.cos(np.radians(lat))
        else:
            tr = pyproj.Transformer.from_crs(src.crs, "EPSG:4326", always_xy=True)
            lon, lat = tr.transform(xx.ravel(), yy.ravel())
            w = np.ones(lon.size)
        n_src = src.ny * src.nx
    else:
        lon, lat = src.lon.ravel(), src.lat.ravel()
        src_idx, w, n_src = np.arange(lon.size), np.ones(lon.size), lon.size
    tx, ty = dst.to_crs_xy(np.asarray(lon), np.asarray(lat))
    r, c = dst.index_of(tx, ty)
    r, c = np.floor(r + 0.5).astype(np.int64), np.floor(c + 0.5).astype(np.int64)
    ok = (r >= 0) & (r < dst.ny) & (c >= 0) & (c < dst.nx)
    m = sp.csr_matrix(
        (w[ok], (r[ok] * dst.nx + c[ok], src_idx[ok])), shape=(dst.ny * dst.nx, n_src)
    )
    m.sum_duplicates()
    total = np.asarray(m.sum(axis=1)).ravel()
    scale = np.divide(1.0, total, out=np.zeros_like(total), where=total > 0)
    return sp.csr_matrix(sp.diags(scale) @ m)


def compute_weights(src: Source, dst: Grid, method: Method = "bilinear") -> sp.csr_matrix:
    if method not in METHODS:
        raise UserError(f"unknown regridding method {method!r} (available: {', '.join(METHODS)})")
    if method == "nearest":
        w = _nearest(src, dst)
    elif method == "area":
        w = _area(src, dst)
    elif isinstance(src, Grid):
        w = _bilinear_regular(src, dst)
    else:
        w = _linear_points(src, dst)
    w = sp.csr_matrix(w)
    w.eliminate_zeros()
    return w


# -- cache -------------------------------------------------------------------------------------
def cache_dir() -> Path:
    return cache_root() / "weights"


def make_regridder(
    src: Source, dst: Grid, method: Method = "bilinear", cache: bool | Path = True
) -> Regridder:
    """Weights from the on-disk cache (keyed by source/target grid and method) or computed."""
    src_shape = src.shape
    if cache is False:
        return Regridder(compute_weights(src, dst, method), src_shape, dst.shape, method)
    folder = Path(cache) if isinstance(cache, Path) else cache_dir()
    path = folder / f"{src.key()}_{dst.key()}_{method}.npz"
    if path.exists():
        try:
            return Regridder(sp.load_npz(path).tocsr(), src_shape, dst.shape, method)
        except (OSError, ValueError):
            path.unlink(missing_ok=True)  # damaged cache entry: recompute
    w = compute_weights(src, dst, method)
    with atomic_path(path) as tmp:
        sp.save_npz(tmp, w)
    return Regridder(w, src_shape, dst.shape, method)


# -- ESMF weight files -------------------------------------------------------------------------
def read_esmf_weights(
    path: Path, src_shape: tuple[int, int] | None = None, dst_shape: tuple[int, int] | None = None
) -> Regridder:
    """Read an ESMF/xESMF weight file (``S``, ``row``, ``col``; 1-based indices)."""
    import netCDF4

    path = Path(path)
    try:
        with netCDF4.Dataset(path) as nc:
            missing = [v for v in ("S", "row", "col") if v not in nc.variables]
            if missing:
                raise UserError(f"{path}: not an ESMF weight file (missing {', '.join(missing)})")
            s = np.asarray(nc["S"][:], dtype=np.float64)
            row = np.asarray(nc["row"][:], dtype=np.int64) - 1
            col = np.asarray(nc["col"][:], dtype=np.int64) - 1
            if src_shape is None and "src_grid_dims" in nc.variables:
                src_shape = tuple(int(v) for v in nc["src_grid_dims"][:][::-1])
            if dst_shape is None and "dst_grid_dims" in nc.variables:
                dst_shape = tuple(int(v) for v in nc["dst_grid_dims"][:][::-1])
    except OSError as exc:
        raise UserError(f"{path}: cannot read ESMF weights: {exc}") from None
    if src_shape is None or dst_shape is None:
        raise UserError(f"{path}: grid shapes not in file; give the source and target grids")
    n_src, n_dst = src_shape[0] * src_shape[1], dst_shape[0] * dst_shape[1]
    if row.size and (row.max() >= n_dst or col.max() >= n_src or row.min() < 0 or col.min() < 0):
        raise UserError(f"{path}: weight indices exceed grids {src_shape} -> {dst_shape}")
    w = sp.csr_matrix((s, (row, col)), shape=(n_dst, n_src))
    return Regridder(w, src_shape, dst_shape, "esmf")


def write_esmf_weights(regridder: Regridder, path: Path) -> None:
    """Write weights in the ESMF layout (readable by xESMF and by :func:`read_esmf_weights`)."""
    import netCDF4

    coo = regridder.weights.tocoo()
    with atomic_path(Path(path)) as tmp, netCDF4.Dataset(tmp, "w") as nc:
        nc.createDimension("n_s", coo.nnz)
        nc.createDimension("src_grid_rank", 2)
        nc.createDimension("dst_grid_rank", 2)
        for name, data in (("S", coo.data), ("row", coo.row + 1), ("col", coo.col + 1)):
            var = nc.createVariable(name, "f8" if name == "S" else "i4", ("n_s",))
            var[:] = data
        sg = nc.createVariable("src_grid_dims", "i4", ("src_grid_rank",))
        sg[:] = list(regridder.src_shape[::-1])
        dg = nc.createVariable("dst_grid_dims", "i4", ("dst_grid_rank",))
        dg[:] = list(regridder.dst_shape[::-1])
        nc.title = f"gensemble {regridder.method} weights"

"""The prototype's normalisation, read from its dataset-handler YAML and stat files.

The prototype normalises each sample as its ``dataset_handler_config.yaml`` says:

* rain (its first field) goes through ``log(1 + x)`` ``rr_transform.log_transform_iteration``
  times;
* ``normalization.type: mean`` -> ``(x - mean) / (c / 0.95)`` with ``c`` the largest
  distance to the mean (files ``mean_*`` and ``c_*``; older versions call it ``std_*``);
  ``minmax`` -> ``-1 + 2 (x - min) / (max - min)``; ``quant`` the same with the 1 % and
  99 % quantiles (``Q01_*``, ``Q99_*``); ``None`` -> no normalisation;
* statistics are global (one value per variable) or per pixel (``_ppx`` files); per-pixel
  rain scales are smoothed ``normalization.for_rr.blur_iteration`` times with a 5x5
  binomial filter (mirror edges);
* file names are ``{stat}_{stat_version}`` + ``_log`` per log iteration + ``_ppx`` +
  ``.npy``; arrays hold every variable in the prototype's order and are indexed by it.

:func:`prototype_normalizer` turns this into a :class:`Normalizer` whose inverse is the
prototype's post-processing (``detransform``), so imported generators write physical units.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from gensemble.api.variables import Variable
from gensemble.core.errors import UserError
from gensemble.data.normalize import Normalizer
from gensemble.data.prototype_format import prototype_index
from gensemble.data.variables import iterated_log1p

LOG = logging.getLogger(__name__)

#: the prototype's 5x5 binomial smoothing of per-pixel rain scales
_BINOMIAL = np.outer([1, 4, 6, 4, 1], [1, 4, 6, 4, 1]).astype(np.float32) / 256.0
#: file prefixes (upper, lower statistic) of each normalisation type, with older spellings
_FILES = {
    "mean": (("mean",), ("c", "std")),
    "minmax": (("max",), ("min",)),
    "quant": (("Q99", "q99"), ("Q01", "q01")),
}


def read_handler_config(path: Path) -> dict[str, Any]:
    """The dataset-handler YAML, checked for the keys the normalisation needs."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"dataset handler config not found: {path}")
    try:
        cfg = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        raise UserError(f"{path}: not valid YAML ({str(exc).splitlines()[0]})") from None
    if not isinstance(cfg, dict):
        raise UserError(f"{path}: expected a mapping")
    for section, key in (
        ("normalization", "type"),
        ("rr_transform", "log_transform_iteration"),
    ):
        if not isinstance(cfg.get(section), dict) or key not in cfg[section]:
            raise UserError(f"{path}: no {section}.{key}")
    kind = str(cfg["normalization"]["type"])
    if kind not in (*_FILES, "None"):
        raise UserError(f"{path}: normalization.type {kind!r} is not mean, minmax, quant or None")
    return cfg


def _stat_file(folder: Path, prefixes: tuple[str, ...], suffix: str) -> Path:
    for prefix in prefixes:
        path = folder / f"{prefix}{suffix}"
        if path.is_file():
            return path
    tried = ", ".join(f"{p}{suffix}" for p in prefixes)
    raise UserError(f"{folder}: no statistics file {tried}")


def _load(path: Path) -> np.ndarray:
    try:
        arr = np.load(path, allow_pickle=False).astype(np.float32)
    except (ValueError, OSError) as exc:
        raise UserError(f"{path}: not a readable .npy array ({exc})") from None
    if not np.all(np.isfinite(arr)):
        raise UserError(f"{path}: holds NaN or infinite values")
    return arr


def _select(arr: np.ndarray, indices: list[int], shape: tuple[int, int], path: Path) -> np.ndarray:
    """The rows of the variables used, (C,) or (C, H, W)."""
    if arr.ndim not in (1, 3) or arr.shape[0] <= max(indices):
        raise UserError(
            f"{path}: shape {arr.shape} does not hold variables at positions {indices} "
            "(expected (n_variables,) or (n_variables, H, W))"
        )
    out = arr[indices]
    if out.ndim == 3 and out.shape[1:] != shape:
        raise UserError(
            f"{path}: per-pixel statistics of {out.shape[1]}x{out.shape[2]} points, the "
            f"generator makes {shape[0]}x{shape[1]}"
        )
    return out


def _blur_first(arr: np.ndarray, times: int) -> np.ndarray:
    from scipy import ndimage

    arr = arr.copy()
    for _ in range(times):
        arr[0] = ndimage.convolve(arr[0], _BINOMIAL, mode="mirror")
    return arr


def identity_normalizer(variables: list[Variable]) -> Normalizer:
    """Outputs are the network's fields as they are."""
    n = len(variables)
    return Normalizer(
        np.zeros(n, np.float32),
        np.ones(n, np.float32),
        [False] * n,
        mode="identity",
        transforms=["none"] * n,
        bounds=[v.valid_range for v in variables],
    )


def prototype_normalizer(
    stats_dir: Path, config_path: Path, variables: list[Variable], shape: tuple[int, int]
) -> tuple[Normalizer, dict[str, Any]]:
    """The prototype's normalisation of ``variables`` on an ``shape`` (H, W) grid, and a
    description of where it came from (for the checkpoint's provenance)."""
    cfg = read_handler_config(config_path)
    names = [v.name for v in variables]
    rr = cfg["rr_transform"]
    n_log = int(rr.get("log_transform_iteration") or 0)
    symmetric = bool(rr.get("symetrization", False))
    cut = float(rr.get("gaussian_std") or 0.0) * 1.25
    if "rr" in names and names[0] != "rr":
        raise UserError(
            "the prototype transforms its first field as rain: list rr first among the variables",
            "variables",
        )
    transforms = ["none"] * len(names)
    if "rr" in names:
        transforms[0] = iterated_log1p(n_log, symmetric, cut)
    norm = cfg["normalization"]
    kind = str(norm["type"])
    described = {"config": str(config_path), "type": kind, "transforms": transforms}
    if kind == "None":
        n = len(names)
        offset, scale = np.zeros(n, np.float32), np.ones(n, np.float32)
        per_pixel = False
    else:
        folder = Path(stats_dir)
        if cfg.get("stat_folder") and (folder / str(cfg["stat_folder"])).is_dir():
            folder = folder / str(cfg["stat_folder"])
        per_pixel = bool(norm.get("per_pixel", False))
        suffix = f"_{cfg.get('stat_version', 'rr')}" + "_log" * n_log
        suffix += ("_ppx" if per_pixel else "") + ".npy"
        upper_names, lower_names = _FILES[kind]
        up_path = _stat_file(folder, upper_names, suffix)
        lo_path = _stat_file(folder, lower_names, suffix)
        indices = [prototype_index(n) for n in names]
        upper = _select(_load(up_path), indices, shape, up_path)
        lower = _select(_load(lo_path), indices, shape, lo_path)
        blur = int((norm.get("for_rr") or {}).get("blur_iteration", 0)) if per_pixel else 0
        if kind == "mean":
            mean, c = upper, lower * np.float32(1.0 / 0.95)
            offset, scale = mean, _blur_first(c, blur) if blur else c
        else:
            hi, lo = (_blur_first(upper, blur) if blur else upper), lower
            if symmetric and "rr" in names:
                lo = lo.copy()
                lo[0] = -hi[0]
            offset, scale = (hi + lo) / 2, (hi - lo) / 2
        if np.any(scale == 0):
            raise UserError(f"{lo_path}: a zero scale (upper == lower statistic) somewhere")
        described.update(
            files=[up_path.name, lo_path.name], per_pixel=per_pixel, blur_iteration=blur
        )
    normalizer = Normalizer(
        offset.astype(np.float32),
        scale.astype(np.float32),
        [False] * len(names),
        mode=f"prototype-{kind}",
        per_pixel=per_pixel,
        transforms=transforms,
        bounds=[v.valid_range for v in variables],
    )
    return normalizer, described

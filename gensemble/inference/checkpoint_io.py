"""Checkpoint files: one safetensors file holding every tensor plus the JSON metadata.

The metadata sits in the safetensors header under the key ``gensemble``, so tensors and
metadata can never disagree; files are written atomically (:mod:`gensemble.core.atomic`),
so a crash leaves either the old or the new checkpoint, never half of one.  Loading never
unpickles: ``torch.save`` pickles are refused by name and by content.  The metadata is
typed and migrated in :mod:`gensemble.inference.metadata`.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from gensemble.core.atomic import atomic_link, atomic_path
from gensemble.core.errors import UserError
from gensemble.inference.metadata import CheckpointMeta, parse_metadata

LOG = logging.getLogger(__name__)

_PICKLE_SUFFIXES = {".pt", ".pth", ".pkl", ".pickle", ".ckpt", ".bin"}


def save_checkpoint(path: Path, tensors: dict[str, torch.Tensor], meta: CheckpointMeta) -> Path:
    """Write tensors and metadata atomically (temp file + fsync + rename)."""
    flat = {k: v.detach().contiguous().cpu() for k, v in tensors.items()}
    with atomic_path(path) as tmp:
        save_file(flat, tmp, metadata={"gensemble": meta.dump_json()})
    return Path(path)


def link_checkpoint(src: Path, dst: Path) -> Path:
    """Make ``dst`` the same checkpoint as ``src`` (atomic; no second serialisation)."""
    return atomic_link(src, dst)


def refuse_pickles(path: Path) -> None:
    """Refuse torch.save/pickle files by name or content before any parser sees them."""
    with open(path, "rb") as fh:
        head = fh.read(9)
    size = path.stat().st_size
    is_safetensors = (
        len(head) == 9 and head[8:9] == b"{" and int.from_bytes(head[:8], "little") < size
    )
    if path.suffix.lower() in _PICKLE_SUFFIXES or (
        not is_safetensors and (head[:1] == b"\x80" or head[:2] == b"PK")
    ):
        raise UserError(
            f"{path}: looks like a pickle/torch.save file; gensemble never unpickles "
            f"checkpoints, it only loads its own .safetensors files"
        )


def read_raw_metadata(path: Path) -> dict[str, Any]:
    """The metadata as stored (any format version), without reading the tensors."""
    from safetensors import safe_open

    path = Path(path)
    if not path.is_file():
        raise UserError(f"checkpoint not found: {path}")
    refuse_pickles(path)
    try:
        with safe_open(str(path), framework="pt") as fh:
            raw = (fh.metadata() or {}).get("gensemble")
    except (SafetensorError, OSError, ValueError) as exc:
        raise UserError(f"{path}: not a readable safetensors checkpoint ({exc})") from None
    if raw is None:
        raise UserError(f"{path}: safetensors file without gensemble metadata")
    try:
        data = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise UserError(f"{path}: damaged checkpoint metadata ({exc})") from None
    if not isinstance(data, dict):
        raise UserError(f"{path}: damaged checkpoint metadata (not a mapping)")
    return data


def read_metadata(path: Path) -> CheckpointMeta:
    """Typed metadata of a checkpoint (older formats migrated) without reading tensors."""
    return parse_metadata(read_raw_metadata(path), str(path))


def load_checkpoint(path: Path) -> tuple[dict[str, torch.Tensor], CheckpointMeta]:
    meta = read_metadata(path)
    try:
        tensors = load_file(str(path))
    except (SafetensorError, OSError, ValueError) as exc:
        raise UserError(f"{path}: corrupted checkpoint ({exc})") from None
    return tensors, meta


def model_tensors(tensors: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The model's state dict inside a checkpoint's tensors (keys ``model.*``)."""
    return {k[len("model.") :]: v for k, v in tensors.items() if k.startswith("model.")}


def optimizer_tensors(prefix: str, opt: torch.optim.Optimizer) -> dict[str, torch.Tensor]:
    """Adam-style state as flat tensors (no pickling of the state dict)."""
    out = {}
    for i, state in opt.state_dict()["state"].items():
        for key, value in state.items():
            out[f"{prefix}.{i}.{key}"] = torch.as_tensor(value)
    return out


def optimizer_meta(opt: torch.optim.Optimizer) -> list[dict[str, Any]]:
    groups = opt.state_dict()["param_groups"]
    return [{k: v for k, v in g.items() if k != "params"} | {"n": len(g["params"])} for g in groups]


def restore_optimizer(
    opt: torch.optim.Optimizer, prefix: str, tensors: dict[str, torch.Tensor], groups: list[dict]
) -> None:
    sd = opt.state_dict()
    state: dict[int, dict[str, torch.Tensor]] = {}
    for key, value in tensors.items():
        if key.startswith(prefix + "."):
            idx, name = key[len(prefix) + 1 :].split(".", 1)
            state.setdefault(int(idx), {})[name] = value
    if [len(g["params"]) for g in sd["param_groups"]] != [g["n"] for g in groups]:
        raise UserError(f"optimizer {prefix}: parameter groups differ from the checkpoint's")
    # hyper-parameters come from the current config (a resumed run may lower the lr)
    sd["state"] = state
    opt.load_state_dict(sd)

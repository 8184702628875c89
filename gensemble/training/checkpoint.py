"""Checkpoints: one safetensors file holding every tensor plus the JSON metadata.

The metadata (domain, grid, variables, normalisation, architecture options, step, package
version...) sits in the safetensors header under the key ``gensemble``, so tensors and
metadata can never disagree; files are written to a temporary name in the same folder,
flushed and renamed, so a crash leaves either the old or the new checkpoint, never half of
one.  Loading never unpickles: ``torch.save`` pickles are refused by name and by content.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from gensemble.core.errors import UserError

FORMAT = "gensemble-checkpoint/1"
_PICKLE_SUFFIXES = {".pt", ".pth", ".pkl", ".pickle", ".ckpt", ".bin"}


def save_checkpoint(path: Path, tensors: dict[str, torch.Tensor], meta: dict[str, Any]) -> Path:
    """Write atomically (temp file + fsync + rename)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    meta = {"format": FORMAT, **meta}
    flat = {k: v.detach().contiguous().cpu() for k, v in tensors.items()}
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        save_file(flat, tmp, metadata={"gensemble": json.dumps(meta)})
        with open(tmp, "rb") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def link_checkpoint(src: Path, dst: Path) -> Path:
    """Make ``dst`` the same checkpoint as ``src`` (atomic; no second serialisation).

    A hard link when the file system allows it, else a copy; either way ``dst`` appears
    whole through a rename, and later pruning of ``src`` leaves ``dst`` intact.
    """
    dst = Path(dst)
    tmp = dst.with_name(f".{dst.name}.{os.getpid()}.tmp")
    tmp.unlink(missing_ok=True)
    try:
        os.link(src, tmp)
    except OSError:
        shutil.copyfile(src, tmp)
    os.replace(tmp, dst)
    return dst


def _refuse_pickles(path: Path) -> None:
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


def read_metadata(path: Path) -> dict[str, Any]:
    """Metadata of a checkpoint without reading its tensors."""
    from safetensors import safe_open

    path = Path(path)
    if not path.is_file():
        raise UserError(f"checkpoint not found: {path}")
    _refuse_pickles(path)
    try:
        with safe_open(str(path), framework="pt") as fh:
            raw = (fh.metadata() or {}).get("gensemble")
    except (SafetensorError, OSError, ValueError) as exc:
        raise UserError(f"{path}: not a readable safetensors checkpoint ({exc})") from None
    if raw is None:
        raise UserError(f"{path}: safetensors file without gensemble metadata")
    meta = json.loads(raw)
    if meta.get("format") != FORMAT:
        raise UserError(f"{path}: unknown checkpoint format {meta.get('format')!r}")
    return meta


def load_checkpoint(path: Path) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    meta = read_metadata(path)
    try:
        tensors = load_file(str(path))
    except (SafetensorError, OSError, ValueError) as exc:
        raise UserError(f"{path}: corrupted checkpoint ({exc})") from None
    return tensors, meta


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

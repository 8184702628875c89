"""Checkpoints of the Météo-France StyleGAN2 prototype, read as ``stylegan2`` weights.

The prototype (DE371; public form meteofrance/enriching_gan_ensembles) trains the
rosinality StyleGAN2 layout with ``nb_var`` output fields and saves ``torch.save`` of
``{"g", "d", "g_ema", "g_optim", "d_optim"}`` state dicts.  Everything the layout implies
is read from key names and tensor shapes (resolution, channels per level, style
dimension, mapping depth, number of fields); the mapping's learning-rate multiplier is
not visible in the weights and is given.  The file is read with
``torch.load(weights_only=True)`` only: anything that needs full unpickling is refused.

Where the layout differs from gensemble's own StyleGAN2 the plugin options reproduce it
(``resample_edges: zero``, ``d_downsample: strided_conv``, ``mbstd_grouping: strided``,
``stored_noise``), and the weights are moved over unchanged except that the up-sampling
convolutions' kernels are flipped: the prototype's transposed convolution applies its
kernel as stored, gensemble's applies the kernel a plain convolution after zero insertion
would use (the same function, the kernel mirrored).
"""

from __future__ import annotations

import hashlib
import logging
import re
from pathlib import Path
from typing import Any

import torch

from gensemble.core.errors import UserError

LOG = logging.getLogger(__name__)

FORMAT = "meteofrance-prototype"


def read_prototype(path: Path) -> dict[str, Any]:
    """The checkpoint's dictionary, loaded without unpickling arbitrary objects."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"prototype checkpoint not found: {path}")
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - torch raises several types here
        text = str(exc)
        if "Unsupported global" in text:
            found = re.search(r"GLOBAL ([\w.]+)", text)
            what = f" ({found.group(1)})" if found else ""
            raise UserError(
                f"{path}: holds pickled objects besides tensors{what}; gensemble only reads "
                "checkpoints that load with torch.load(weights_only=True)"
            ) from None
        first = text.strip().splitlines()[0].split(". ")[0] if text.strip() else type(exc).__name__
        if "Weights only load failed" in first:
            first = "not a torch.save file"
        raise UserError(f"{path}: not a readable torch checkpoint ({first})") from None
    if not isinstance(ckpt, dict):
        raise UserError(
            f"{path}: expected a dictionary of state dicts, found {type(ckpt).__name__}"
        )
    for key in ("g_ema", "d"):
        if not isinstance(ckpt.get(key), dict):
            have = ", ".join(map(str, ckpt)) or "nothing"
            raise UserError(f"{path}: no {key!r} state dict (the checkpoint has {have})")
    return ckpt


def sha256_of(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _get(sd: dict[str, torch.Tensor], key: str, net: str) -> torch.Tensor:
    if key not in sd:
        raise UserError(f"prototype checkpoint: {net} has no tensor {key!r}")
    return sd[key]


def _count(sd: dict[str, torch.Tensor], pattern: str) -> int:
    rx = re.compile(pattern)
    return len({m.group(1) for k in sd if (m := rx.match(k))})


def infer_options(g: dict[str, torch.Tensor], lr_mlp: float) -> tuple[dict[str, Any], list[int]]:
    """``stylegan2`` options and the field shape (C, H, W) implied by a generator's keys."""
    n_mlp = _count(g, r"^style\.(\d+)\.weight$")
    if n_mlp == 0:
        raise UserError("prototype checkpoint: g_ema has no mapping layers (style.N.weight)")
    style = _get(g, "style.1.weight", "g_ema")
    const = _get(g, "input.input", "g_ema")
    if const.ndim != 4 or const.shape[-2:] != (4, 4):
        raise UserError(
            f"prototype checkpoint: constant input of shape {tuple(const.shape)} fits no "
            "StyleGAN2 layout (expected (1, C, 4, 4))"
        )
    levels = _count(g, r"^to_rgbs\.(\d+)\.conv\.weight$")
    table = [int(const.shape[1])]
    for i in range(levels):
        w = _get(g, f"convs.{2 * i}.conv.weight", "g_ema")
        table.append(int(w.shape[1]))
    nb_var = int(_get(g, "to_rgb1.conv.weight", "g_ema").shape[1])
    size = 4 * 2**levels
    options = {
        "z_dim": int(style.shape[1]),
        "w_dim": int(style.shape[0]),
        "mapping_layers": n_mlp,
        "channel_table": table,
        "mapping_lr_mul": float(lr_mlp),
        "noise": "conv1.noise.weight" in g,
        "stored_noise": any(k.startswith("noises.") for k in g),
        "stored_fir": True,
        "upsample": "transposed",
        "resample_edges": "zero",
        "d_downsample": "strided_conv",
        "mbstd_grouping": "strided",
        "mbstd_group": 4,
        "output_activation": "linear",
    }
    return options, [nb_var, size, size]


def _styled(prefix: str, src: str, sd: dict, upsample: bool, net: str) -> dict[str, torch.Tensor]:
    """A StyledConv's tensors under gensemble's names."""
    weight = _get(sd, f"{src}.conv.weight", net)[0]
    out = {
        f"{prefix}.conv.weight": weight.flip(2, 3) if upsample else weight,
        f"{prefix}.conv.affine.weight": _get(sd, f"{src}.conv.modulation.weight", net),
        f"{prefix}.conv.affine.bias": _get(sd, f"{src}.conv.modulation.bias", net),
        f"{prefix}.bias": _get(sd, f"{src}.activate.bias", net),
    }
    if upsample:
        out[f"{prefix}.conv.fir"] = _get(sd, f"{src}.conv.blur.kernel", net)
    if f"{src}.noise.weight" in sd:
        out[f"{prefix}.noise_strength"] = sd[f"{src}.noise.weight"].reshape(())
    return out


def _to_fields(prefix: str, src: str, sd: dict, net: str) -> dict[str, torch.Tensor]:
    return {
        f"{prefix}.conv.weight": _get(sd, f"{src}.conv.weight", net)[0],
        f"{prefix}.conv.affine.weight": _get(sd, f"{src}.conv.modulation.weight", net),
        f"{prefix}.conv.affine.bias": _get(sd, f"{src}.conv.modulation.bias", net),
        f"{prefix}.bias": _get(sd, f"{src}.bias", net).reshape(-1),
    }


def generator_state(
    sd: dict[str, torch.Tensor], levels: int, net: str = "g"
) -> dict[str, torch.Tensor]:
    """A prototype generator's state dict under gensemble's Generator names."""
    out: dict[str, torch.Tensor] = {}
    n_mlp = _count(sd, r"^style\.(\d+)\.weight$")
    for i in range(n_mlp):
        out[f"mapping.layers.{i}.weight"] = _get(sd, f"style.{i + 1}.weight", net)
        out[f"mapping.layers.{i}.bias"] = _get(sd, f"style.{i + 1}.bias", net)
    out["const"] = _get(sd, "input.input", net)[0]
    out.update(_styled("blocks.0.conv1", "conv1", sd, False, net))
    out.update(_to_fields("blocks.0.to_fields", "to_rgb1", sd, net))
    for i in range(1, levels + 1):
        out.update(_styled(f"blocks.{i}.conv0", f"convs.{2 * i - 2}", sd, True, net))
        out.update(_styled(f"blocks.{i}.conv1", f"convs.{2 * i - 1}", sd, False, net))
        out.update(_to_fields(f"blocks.{i}.to_fields", f"to_rgbs.{i - 1}", sd, net))
        out[f"blocks.{i}.skip_fir"] = _get(sd, f"to_rgbs.{i - 1}.upsample.kernel", net)
    for k in range(2 * levels + 1):
        if f"noises.noise_{k}" in sd:
            out[f"noise_const_{k}"] = sd[f"noises.noise_{k}"]
    return out


def discriminator_state(sd: dict[str, torch.Tensor], levels: int) -> dict[str, torch.Tensor]:
    """A prototype discriminator's state dict under gensemble's Discriminator names."""
    out = {
        "from_fields.weight": _get(sd, "convs.0.0.weight", "d"),
        "from_fields.bias": _get(sd, "convs.0.1.bias", "d"),
        "conv.weight": _get(sd, "final_conv.0.weight", "d"),
        "conv.bias": _get(sd, "final_conv.1.bias", "d"),
        "fc.weight": _get(sd, "final_linear.0.weight", "d"),
        "fc.bias": _get(sd, "final_linear.0.bias", "d"),
        "out.weight": _get(sd, "final_linear.1.weight", "d"),
        "out.bias": _get(sd, "final_linear.1.bias", "d"),
    }
    for j in range(levels):
        src, dst = f"convs.{j + 1}", f"blocks.{j}"
        out[f"{dst}.conv0.weight"] = _get(sd, f"{src}.conv1.0.weight", "d")
        out[f"{dst}.conv0.bias"] = _get(sd, f"{src}.conv1.1.bias", "d")
        out[f"{dst}.conv1.weight"] = _get(sd, f"{src}.conv2.1.weight", "d")
        out[f"{dst}.conv1.bias"] = _get(sd, f"{src}.conv2.2.bias", "d")
        out[f"{dst}.skip.weight"] = _get(sd, f"{src}.skip.1.weight", "d")
        out[f"{dst}.fir_conv"] = _get(sd, f"{src}.conv2.0.kernel", "d")
        out[f"{dst}.fir_skip"] = _get(sd, f"{src}.skip.0.kernel", "d")
    return out


def fill_state(model: torch.nn.Module, ckpt: dict[str, Any]) -> list[str]:
    """Copy the prototype's G (``g``, else ``g_ema``), G_ema and D into ``model``; returns
    notes for the provenance.  Every tensor of the model must be given with its shape."""
    notes = []
    levels = model.G.levels
    g, g_name = ckpt.get("g"), "g"
    if not isinstance(g, dict):
        g, g_name = ckpt["g_ema"], "g_ema"
        notes.append("no 'g' in the file: the trained generator starts as g_ema")
    parts = {
        "G": generator_state(g, levels, g_name),
        "G_ema": generator_state(ckpt["g_ema"], levels, "g_ema"),
        "D": discriminator_state(ckpt["d"], levels),
    }
    own = model.state_dict()
    given: dict[str, torch.Tensor] = {}
    for net, state in parts.items():
        for key, value in state.items():
            name = f"{net}.{key}"
            if name not in own:
                raise UserError(f"prototype checkpoint: {name} has no place in the layout")
            if tuple(own[name].shape) != tuple(value.shape):
                raise UserError(
                    f"prototype checkpoint: {name} has shape {tuple(value.shape)}, the layout "
                    f"inferred from g_ema needs {tuple(own[name].shape)}"
                )
            given[name] = value.detach().to(own[name].dtype)
    missing = [
        k
        for k in own
        if k not in given and not k.endswith("w_avg") and k not in ("pl_mean", "ada_p")
    ]
    if missing:
        raise UserError(f"prototype checkpoint: nothing for {missing[0]} ({len(missing)} in all)")
    model.load_state_dict({**own, **given}, strict=True)
    return notes


def training_step(ckpt: dict[str, Any]) -> int:
    """The number of optimiser steps Adam recorded in ``g_optim`` (0 when absent)."""
    state = (ckpt.get("g_optim") or {}).get("state") or {}
    for entry in state.values():
        step = entry.get("step") if isinstance(entry, dict) else None
        if step is not None:
            return int(torch.as_tensor(step).item())
    return 0

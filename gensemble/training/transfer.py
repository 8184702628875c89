"""Start a run from a checkpoint trained on another domain (transfer learning).

Only the :class:`~gensemble.api.capabilities.Transferable` capability is used, so any
architecture that describes its layers transfers the same way:

* **variables** are matched by name: layers listed by ``channel_layers()`` get the
  source's slice for each kept variable (rescaled when the variable axis is an
  equalised-lr fan-in), fresh initialisation for variables new to the target, and the
  slices of dropped variables are left out;
* **grid size**: parameters are matched through ``transfer_key()`` (level-based names),
  every tensor whose shape still agrees is reused, and only ``size_dependent()`` layers
  whose shape changed are re-created;
* **normalisation** always comes from the target store (the trainer's normaliser); the
  source's statistics are never read;
* **strategies**: freeze layer groups the architecture names (for StyleGAN2: the mapping
  network, the first K generator blocks, the lower K discriminator blocks as in FreezeD,
  Mo et al. 2020), and scale the learning rate of transferred parameters.  Only fully
  transferred parameters are frozen: a re-created or partly fresh layer always trains.

Everything decided here goes into a JSON report that is logged to MLflow, stored in every
checkpoint's metadata (so a resumed transfer run freezes and scales exactly the same
parameters) and printed.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from gensemble.api.capabilities import Transferable, require
from gensemble.api.model import GenerativeModel
from gensemble.core.config import Experiment, InitConfig
from gensemble.core.errors import UserError
from gensemble.inference.checkpoint_io import load_checkpoint, model_tensors
from gensemble.inference.loaded import build_model, check_functional_options
from gensemble.inference.metadata import CheckpointMeta
from gensemble.inference.resolve import resolve_checkpoint
from gensemble.inference.transfer_report import TransferReport

LOG = logging.getLogger(__name__)


def layout_of(arch: str, options: dict[str, Any], shape: list[int]) -> GenerativeModel:
    """A model on the meta device: names and shapes without memory or initialisation."""
    try:
        with torch.device("meta"):
            return build_model(arch, options, shape)
    except UserError as exc:  # e.g. options of a checkpoint written by another version
        raise UserError(f"the checkpoint's {exc}") from None


def shapes(model: torch.nn.Module) -> dict[str, tuple[int, ...]]:
    return {k: tuple(v.shape) for k, v in model.state_dict().items()}


def check_compatible(
    path: Path,
    meta: CheckpointMeta,
    arch: str,
    options: dict[str, Any],
    model: GenerativeModel,
    shape: list[int],
) -> None:
    """Refuse checkpoints whose architecture, or options that change layer shapes, differ.

    The source's options are laid out on the *target* shape: any difference from the
    target model is then due to the options, not the grid or the variables.
    """
    if meta.architecture.name != arch:
        raise UserError(
            f"init.from {path}: checkpoint of architecture {meta.architecture.name!r} cannot "
            f"initialise {arch!r}"
        )
    src_options = meta.architecture.options
    check_functional_options(path, arch, src_options, options)
    got, want = shapes(layout_of(arch, src_options, shape)), shapes(model)
    if got == want:
        return
    # name the options that change shapes on their own, not every option that differs
    differ = [
        k
        for k in sorted(set(src_options) | set(options))
        if src_options.get(k) != options.get(k)
        and k in src_options
        and shapes(layout_of(arch, {**options, k: src_options[k]}, shape)) != want
    ]
    where = next((k for k in sorted(set(got) | set(want)) if got.get(k) != want.get(k)), "(layout)")
    detail = ", ".join(f"{k}={src_options.get(k)} vs {options.get(k)}" for k in differ)
    raise UserError(
        f"init.from {path}: the checkpoint's {arch} options change layer shapes "
        f"({detail or 'layout'}; e.g. {where} {got.get(where)} vs {want.get(where)}); "
        "use the checkpoint's architecture options"
    )


def _same_except(a: tuple[int, ...], b: tuple[int, ...], dim: int) -> bool:
    if len(a) != len(b):
        return False
    return all(x == y for i, (x, y) in enumerate(zip(a, b, strict=True)) if i != dim)


def map_channels(
    src: torch.Tensor,
    target: torch.Tensor,
    dim: int,
    src_vars: list[str],
    variables: list[str],
    fan_in: bool,
) -> tuple[torch.Tensor, bool]:
    """Target tensor with the source's slices for kept variables; True when every
    target variable came from the source."""
    out = target.detach().clone()
    factor = math.sqrt(len(variables) / len(src_vars)) if fan_in else 1.0
    complete = True
    for j, var in enumerate(variables):
        if var in src_vars:
            out.select(dim, j).copy_(src.select(dim, src_vars.index(var)) * factor)
        else:
            complete = False
    return out, complete


@dataclass
class Adapted:
    """Which target tensors came from the source, and how."""

    copied: list[str]
    channel_mapped: list[str]
    recreated: list[str]
    new: list[str]
    dropped: list[str]
    #: parameters entirely from the source (eligible for freezing and lr scaling)
    transferred: list[str]


def adapt_state(
    model: Transferable,
    variables: list[str],
    src_state: dict[str, torch.Tensor],
    src_meta: CheckpointMeta,
) -> Adapted:
    """Load ``src_state`` into ``model`` across a change of variables and grid size."""
    arch = src_meta.architecture
    src_layout = require(
        layout_of(arch.name, arch.options, src_meta.shape), Transferable, "init.from"
    )
    by_key = {src_layout.transfer_key(n): n for n in src_state}
    src_vars: list[str] = src_meta.variables
    channels = model.channel_layers()
    size_dependent = model.size_dependent()
    params = {n for n, _ in model.named_parameters()}
    state = model.state_dict()
    out: dict[str, torch.Tensor] = {}
    done = Adapted([], [], [], [], [], [])
    for name, target in state.items():
        src_name = by_key.pop(model.transfer_key(name), None)
        if src_name is None:
            done.new.append(name)
            continue
        src = src_state[src_name].to(target.dtype)
        layer = channels.get(name)
        if layer is not None and _same_except(tuple(src.shape), tuple(target.shape), layer.dim):
            out[name], complete = map_channels(
                src, target, layer.dim, src_vars, variables, layer.fan_in
            )
            done.channel_mapped.append(name)
            if complete and name in params:
                done.transferred.append(name)
        elif src.shape == target.shape:
            out[name] = src
            done.copied.append(name)
            if name in params:
                done.transferred.append(name)
        elif any(name.startswith(p) for p in size_dependent):
            done.recreated.append(f"{name} {tuple(src.shape)}->{tuple(target.shape)}")
        else:
            raise UserError(
                f"cannot transfer {src_name} {tuple(src.shape)} onto {name} "
                f"{tuple(target.shape)}: the architecture does not list it as size-dependent"
            )
    done.dropped = sorted(by_key.values())
    model.load_state_dict(out, strict=False)
    return done


def resolve_groups(groups: dict[str, list[str]], freeze: list[str]) -> list[str]:
    """Group names from ``init.freeze`` entries: a name, or ``NAME:K`` for the first K of
    the numbered groups ``NAME0``, ``NAME1``..."""
    chosen: list[str] = []
    for item in freeze:
        name, _, count = item.partition(":")
        if count:
            k = int(count)
            available = sum(1 for g in groups if g[len(name) :].isdigit() and g.startswith(name))
            if k > available:
                raise UserError(
                    f"init.freeze {item}: the model on this grid has {available} {name} groups"
                )
            chosen += [f"{name}{i}" for i in range(k)]
        elif name in groups:
            chosen.append(name)
        else:
            raise UserError(
                f"init.freeze {item!r}: no such layer group (this architecture has "
                f"{', '.join(sorted(groups)) or 'none'})"
            )
    return chosen


def frozen_parameters(
    model: Transferable, init: InitConfig, transferred: list[str]
) -> tuple[list[str], list[str]]:
    """(frozen, kept trainable because not fully transferred) for the chosen strategy."""
    groups = model.layer_groups()
    prefixes = [p for g in resolve_groups(groups, init.freeze) for p in groups[g]]
    names = [n for n, _ in model.named_parameters()]  # type: ignore[attr-defined]
    selected = [n for n in names if any(n.startswith(p) for p in prefixes)]
    ok = set(transferred)
    return [n for n in selected if n in ok], [n for n in selected if n not in ok]


def strategy_name(init: InitConfig) -> str:
    parts = [f"freeze={','.join(init.freeze)}"] if init.freeze else []
    if init.lr_scale_transferred != 1.0:
        parts.append(f"lr_scale_transferred={init.lr_scale_transferred:g}")
    return "+".join(parts) or "finetune_all"


def initialise(
    model: GenerativeModel, exp: Experiment, variables: list[str], shape: list[int]
) -> TransferReport:
    """Load, adapt and freeze; returns the report stored with every checkpoint."""
    init = exp.init
    assert init is not None
    arch, options = exp.architecture.name, exp.architecture.options
    target = require(model, Transferable, "transfer (init.from)")
    path = resolve_checkpoint(init.from_, exp.tracking_uri(), exp.tracking.experiment, init.which)
    tensors, meta = load_checkpoint(path)
    check_compatible(path, meta, arch, options, model, shape)
    done = adapt_state(target, variables, model_tensors(tensors), meta)
    frozen, fresh_in_frozen = frozen_parameters(target, init, done.transferred)
    model.set_trainable(set(frozen))
    src_vars = meta.variables
    report = {
        "from": init.from_,
        "checkpoint": str(path),
        "source_run_id": meta.run_id,
        "source_domain": meta.domain.name,
        "source_step": meta.step,
        "source_shape": meta.shape,
        "source_variables": src_vars,
        "variables": {
            "kept": [v for v in variables if v in src_vars],
            "new": [v for v in variables if v not in src_vars],
            "dropped": [v for v in src_vars if v not in variables],
        },
        "channel_map": {v: (src_vars.index(v) if v in src_vars else None) for v in variables},
        "tensors": {
            "copied": len(done.copied),
            "channel_mapped": done.channel_mapped,
            "recreated": done.recreated,
            "new": done.new,
            "dropped": done.dropped,
        },
        "normalisation": "target store (source statistics not used)",
        "strategy": strategy_name(init),
        "freeze": list(init.freeze),
        "lr_scale_transferred": init.lr_scale_transferred,
        "frozen": frozen,
        "trainable_in_frozen_groups": fresh_in_frozen,
        "transferred": done.transferred,
    }
    return TransferReport.model_validate(report)


def reapply_freezing(model: GenerativeModel, report: TransferReport | None) -> None:
    """On resume: freeze what the transfer froze (weights come from the checkpoint)."""
    if report is not None and report.frozen:
        model.set_trainable(set(report.frozen))


def scale_transferred_lr(
    optimizers: dict[str, torch.optim.Optimizer],
    model: GenerativeModel,
    report: TransferReport | None,
) -> None:
    """Split each optimiser group into transferred (lr x scale) and fresh parameters."""
    if report is None:
        return
    scale = float(report.lr_scale_transferred or 1.0)
    if scale == 1.0 or not report.transferred:
        return
    names = set(report.transferred)
    transferred = {id(p) for n, p in model.named_parameters() if n in names}
    for opt in optimizers.values():
        groups = []
        for group in opt.param_groups:
            settings = {k: v for k, v in group.items() if k != "params"}
            moved = [p for p in group["params"] if id(p) in transferred]
            fresh = [p for p in group["params"] if id(p) not in transferred]
            if moved:
                groups.append({**settings, "params": moved, "lr": group["lr"] * scale})
            if fresh:
                groups.append({**settings, "params": fresh})
        opt.param_groups.clear()
        for group in groups:
            opt.add_param_group(group)


def summary_lines(report: TransferReport, target_domain: str) -> list[str]:
    """What a user needs to see before the first step."""
    v, t = report.variables, report.tensors
    src = report.source_run_id or report.checkpoint
    lines = [
        f"transfer from {src} ({report.source_domain}, step {report.source_step}, "
        f"shape {report.source_shape}) to {target_domain}",
        "  variables: "
        + ", ".join(
            f"{name}<-{report.source_variables[i]}" if i is not None else f"{name} (new)"
            for name, i in report.channel_map.items()
        )
        + (f"; dropped {', '.join(v.dropped)}" if v.dropped else ""),
        f"  tensors: {t.copied} reused, {len(t.channel_mapped)} mapped by variable, "
        f"{len(t.recreated)} re-created for the new grid size, {len(t.new)} new, "
        f"{len(t.dropped)} dropped",
    ]
    lines += [f"    re-created {r}" for r in t.recreated]
    kept = report.trainable_in_frozen_groups
    lines.append(
        f"  strategy: {report.strategy} ({len(report.frozen)} parameters frozen"
        + (f", {len(kept)} in frozen groups left trainable as re-created or new" if kept else "")
        + "); normalisation from the target store"
    )
    return lines

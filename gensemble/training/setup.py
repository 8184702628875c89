"""Everything a run needs before its first step: device, store, model and its state.

The state comes from one of three places: a fresh initialisation, another run's
checkpoint adapted to this domain (``init:``, :mod:`.transfer`), or this run's own
checkpoint (``--resume``, exact: model, optimisers, batch RNG, step).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from gensemble.api.capabilities import StaticConditioned
from gensemble.api.model import BatchRandom, GenerativeModel
from gensemble.core.config import Experiment
from gensemble.core.errors import UserError
from gensemble.core.registry import get_registry
from gensemble.data.store import Store, check_store_matches
from gensemble.inference.checkpoint_io import load_checkpoint
from gensemble.inference.loaded import build_model, check_architecture
from gensemble.inference.metadata import CheckpointMeta
from gensemble.inference.resolve import resolve_checkpoint
from gensemble.inference.transfer_report import TransferReport
from gensemble.training import transfer
from gensemble.training.checkpointing import restore
from gensemble.training.distributed import DistInfo, broadcast_module
from gensemble.training.optim import remember_base_lr

LOG = logging.getLogger(__name__)


def pick_device(name: str, info: DistInfo) -> torch.device:
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda", info.local_rank)
        return torch.device("cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise UserError(f"training.device={name} but no CUDA device is available")
    return torch.device(name)


def open_store(exp: Experiment) -> Store:
    """The experiment's store, checked against its domain (variables and grid size)."""
    if exp.data.store is None:
        raise UserError("data.store is not set: prepare a store with `gensemble data prepare`")
    path = Path(exp.data.store)
    if not path.exists():
        raise UserError(f"data.store {path} does not exist")
    store = Store(path)
    if store.domain != exp.domain.name:
        raise UserError(
            f"data.store {path} holds domain {store.domain!r} but the experiment names "
            f"domain {exp.domain.name!r}"
        )
    domain = get_registry().get("domain", exp.domain.name)(exp.domain.options)
    check_store_matches(
        store,
        [v.name for v in domain.variables()],
        tuple(domain.grid().shape),
        f"domain {exp.domain.name} with the experiment's options",
        f"set domain.options to the store's {store.domain_options} or prepare the store "
        "with the same domain options",
    )
    return store


@dataclass
class TrainState:
    """What changes while training, and what a checkpoint saves."""

    model: GenerativeModel
    optimizers: dict[str, torch.optim.Optimizer]
    rand: BatchRandom
    step: int = 0
    images_seen: int = 0
    best_value: float | None = None
    init_report: TransferReport | None = None
    #: the checkpoint a resumed run started from (its run id and folder are reused)
    resumed_from: tuple[Path, CheckpointMeta] | None = None


def build_state(
    exp: Experiment,
    variables: list[str],
    shape: list[int],
    info: DistInfo,
    device: torch.device,
    resume: str | None,
    static: Any = None,
) -> TrainState:
    """Model, optimisers and RNG, fresh, transferred or resumed; ``static`` returns the
    store's static fields, for a model that asks for them (:class:`StaticConditioned`)."""
    t = exp.training
    resumed = None
    if resume:
        path = resolve_checkpoint(resume, exp.tracking_uri(), exp.tracking.experiment)
        check_architecture(path, exp.architecture.name, exp.architecture.options)
        tensors, meta = load_checkpoint(path)
        if meta.shape != shape:
            raise UserError(
                f"{path}: checkpoint shape {meta.shape} differs from the store's {shape}; "
                "use init.from to transfer to another domain"
            )
        if meta.step >= t.steps:
            raise UserError(
                f"{path} is at step {meta.step}, training.steps={t.steps}: nothing to do"
            )
        resumed = (path, meta)
    torch.manual_seed(t.seed)
    model = build_model(exp.architecture.name, exp.architecture.options, shape)
    report: TransferReport | None = None
    if resumed is not None:
        report = resumed[1].init
        transfer.reapply_freezing(model, report)
    elif exp.init is not None:
        report = transfer.initialise(model, exp, variables, shape)
        if info.is_main:
            for line in transfer.summary_lines(report, exp.domain.name):
                LOG.info(line)
    if isinstance(model, StaticConditioned) and model.static_fields_used():
        fields = static() if static is not None else {}
        missing = [n for n in model.static_fields_used() if n not in fields]
        if missing:
            raise UserError(
                f"{exp.architecture.name} is conditioned on static fields "
                f"{', '.join(missing)}, which the store does not hold (it has: "
                f"{', '.join(sorted(fields)) or 'none'})"
            )
        model.set_static_fields(fields)
    model.to(device)
    if t.compile and not model.compile_networks(t.compile_backend, training=True):
        LOG.warning("%s cannot be compiled; training uncompiled", exp.architecture.name)
    optimizers = model.make_optimizers(t.optimizer.kind, t.optimizer.weight_decay)
    transfer.scale_transferred_lr(optimizers, model, report)
    remember_base_lr(optimizers)
    rand = BatchRandom(t.seed + 1, info.rank, info.world, device)
    state = TrainState(model, optimizers, rand, init_report=report, resumed_from=resumed)
    if resumed is not None:
        path, meta = resumed
        restore(model, optimizers, rand, tensors, meta, device)
        state.step, state.images_seen, state.best_value = (
            meta.step,
            meta.images_seen,
            meta.best_value,
        )
    else:
        broadcast_module(model, info)
    return state

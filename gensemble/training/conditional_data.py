"""The loop's data for a model that declares :class:`ConditionalSampling`: the store's
forecasts split by reference time, and batches of seeds and targets drawn from them.

Nothing here knows an architecture: the model says how many seeds it takes and how
often its target is the truth (:class:`~gensemble.api.conditional.ConditionSpec`).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from gensemble.api.conditional import ConditionalSampling
from gensemble.core.errors import UserError
from gensemble.data.forecasts import ForecastIndex
from gensemble.data.store import Store
from gensemble.training.forecast_batches import ForecastBatchSampler, ForecastDataset

LOG = logging.getLogger(__name__)


def conditional_split(
    model: Any, store: Store, exp: Any
) -> tuple[ForecastIndex, ForecastIndex] | None:
    """Train and validation forecasts of a conditional model (None for any other): every
    forecast of one reference time on one side, and the truth's quality checked when the
    model trains on it."""
    if not isinstance(model, ConditionalSampling):
        return None
    spec = model.condition_spec()
    index = ForecastIndex.of(store)
    index.require_members(spec.seeds + (0 if spec.truth_fraction >= 1 else 1),
                          f"a conditional model with {spec.seeds} seeds")  # fmt: skip
    if spec.truth_fraction > 0 and not exp.training.allow_masked:
        q = dict(store.attrs.get("truth_quality", {}))
        bad = {**q.get("nan_count", {}), **q.get("out_of_range", {})}
        if bad:
            listing = ", ".join(f"{k}={v}" for k, v in bad.items())
            raise UserError(
                f"{store.path}: the truth fields have NaN or out-of-range values ({listing}); "
                "set training.allow_masked=true to train with them masked"
            )
    train, val = index.split_by_reference(exp.data.val_fraction, exp.training.seed)
    LOG.info(
        "conditional training on %d forecasts (%d held out for validation); %s",
        len(train), len(val), train.truth_summary(),
    )  # fmt: skip
    return train, val


def forecast_batches(trainer: Any, train: ForecastIndex) -> Any:
    """The trainer's batches of seeds and targets, from its current step on."""
    t, info = trainer.exp.training, trainer.info
    spec = trainer.state.model.condition_spec()
    sampler = ForecastBatchSampler(
        train, spec, t.batch_size, info.rank, info.world, t.seed, trainer.state.step
    )
    dataset = ForecastDataset(Path(trainer.exp.data.store), trainer.normalizer, t.allow_masked)
    if t.num_workers > 0:
        from gensemble.data.loader import ThreadedLoader

        pin = trainer.device.type == "cuda"
        return iter(ThreadedLoader(dataset, sampler, t.num_workers, pin_memory=pin))  # type: ignore[arg-type]
    return (dataset.__getitems__(rows) for rows in sampler)

"""What the data behind an event report are, said on the page.

A forecaster must not mistake a synthetic store for weather, a held-out member for an
observation, or an event the generator was trained on for a test.  The report carries:

* a banner when the store was synthesised (``gensemble data synth``): its fields and
  relief are invented;
* when the truth is a held-out member: that no observation was used, and that the raw
  ensemble is then reliable by construction (the truth is exchangeable with its members);
* whether the event falls inside the generator's training period (in-sample), read from
  the training store the run names; unknown when that store is not at hand.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

LOG = logging.getLogger(__name__)


@dataclass
class Provenance:
    synthetic: bool
    truth: str  # "observations" or "held-out member"
    in_sample: bool | None  # None: the training period is unknown here
    training_period: tuple[str, str] | None = None
    warnings: list[str] = field(default_factory=list)  # shown as banners, most serious first


def provenance(store: Any, loaded: Any, event: Any, truth: str) -> Provenance:
    """What the report must say about the store, the truth and the training period."""
    from gensemble.data.store import Store
    from gensemble.inference.loaded import experiment_of

    warnings = []
    if store.synthetic:
        warnings.append(
            "SYNTHETIC DATA: this store was synthesised by gensemble (invented fields and "
            "terrain). Nothing on this page is weather."
        )
    if truth != "observations":
        warnings.append(
            "The truth is a held-out member, not an observation: the raw ensemble is "
            "reliable by construction (the truth is exchangeable with its members), so the "
            "scores measure agreement with the NWP ensemble, not with the weather."
        )
    period, in_sample = None, None
    train_path = experiment_of(loaded.meta).data.store
    if train_path is not None and Path(train_path).exists():
        try:
            times = Store(Path(train_path)).times()
        except Exception as exc:  # an unreadable training store only loses the check
            LOG.warning(
                "training store %s unreadable (%s): in-sample check skipped", train_path, exc
            )
            times = np.zeros(0, "datetime64[s]")
        if times.size:
            period = (str(times.min()), str(times.max()))
            t0, t1 = event.window()
            in_sample = bool(((times >= t0) & (times <= t1)).any())
    if in_sample:
        warnings.append(
            f"IN-SAMPLE: the generator was trained on data valid during this event "
            f"(training period {period[0]} .. {period[1]} UTC); its scores here are not "
            "those of a forecast it never saw."
        )
    elif in_sample is None:
        warnings.append(
            "The generator's training period could not be checked (its training store is "
            "not at hand): the event may be in-sample."
        )
    return Provenance(bool(store.synthetic), truth, in_sample, period, warnings)

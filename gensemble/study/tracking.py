"""A study in MLflow: one parent run, a child run per compared ensemble.

The parent holds the configuration, the answer and the report and JSON as artifacts;
each child holds one ensemble's scores (``VARIABLE/SCORE``) and its paired differences
from the raw ensemble (``diff/VARIABLE/SCORE``), so the MLflow UI compares methods
side by side.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np

from gensemble.core.config import flatten

LOG = logging.getLogger(__name__)

TAG_KIND = "gensemble.kind"


def _finite(d: dict[str, float]) -> dict[str, float]:
    return {k: float(v) for k, v in d.items() if v is not None and np.isfinite(v)}


def log_study(res: Any, files: list[Path]) -> str:
    """Log the study; the parent run's id."""
    from gensemble.core.tracking import TAG_PARENT, Tracker

    uri, experiment = res.config.tracking.get("uri"), res.config.tracking.get("experiment")
    parent = Tracker(uri, experiment or "gensemble")
    parent_id = parent.start(f"study {res.config.name}", {TAG_KIND: "study"})
    params = flatten(res.config.model_dump(mode="json"))
    parent.log_params({k: str(v)[:500] for k, v in params.items()})
    summary = {}
    for (ens, var, s), e in res.scores.gap.items():
        if s == "crps" and not ens.startswith(("raw-", "oracle-")):
            summary[f"gap_closed/{ens}/{var}"] = e.value
    parent.log_metrics(_finite(summary), 0)
    for path in files:
        parent.log_artifact(path, "study")
    for ens in res.ensembles:
        child = Tracker(uri, experiment or "gensemble", client=parent.client)
        child.start(
            f"{res.config.name}: {ens}",
            {TAG_KIND: "study-ensemble", TAG_PARENT: parent_id, "mlflow.parentRunId": parent_id},
        )
        child.log_params({"ensemble": ens, "members": res.members[ens]})
        metrics = {
            f"{var}/{s}": e.value for (e_, var, s), e in res.scores.scores.items() if e_ == ens
        }
        metrics |= {
            f"diff/{var}/{s}": e.value
            for (e_, ref, var, s), e in res.scores.diffs.items()
            if e_ == ens and ref == res.reference
        }
        child.log_metrics(_finite(metrics), 0)
        child.end()
    parent.end()
    return parent_id

"""The tags that tie a transfer run to its source, and following them back to the first
run of a chain (``gensemble lineage``)."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from gensemble.core.errors import UserError
from gensemble.core.server_errors import Failure, classify, lookup_failure
from gensemble.core.tracking import (
    TAG_ARCH,
    TAG_DOMAIN,
    TAG_MODEL,
    TAG_PARENT,
    TAG_SOURCE,
    TAG_SOURCE_DOMAIN,
    TAG_SOURCE_STEP,
    TAG_STRATEGY,
)
from gensemble.inference.transfer_report import TransferReport

LOG = logging.getLogger(__name__)


def tags_for(report: TransferReport | None) -> dict[str, str]:
    """The tags a transfer run carries (from its transfer report; none from scratch)."""
    if report is None:
        return {}
    tags = {
        TAG_SOURCE_DOMAIN: report.source_domain,
        TAG_SOURCE_STEP: str(report.source_step),
        TAG_SOURCE: report.source_ref,
        TAG_STRATEGY: report.strategy,
    }
    if report.source_run_id:
        tags[TAG_PARENT] = report.source_run_id
    return tags


@dataclass
class Link:
    """One run of a lineage, as shown by ``gensemble lineage``."""

    run_id: str
    name: str
    experiment: str
    domain: str
    architecture: str
    status: str
    steps: str
    source: str
    source_step: str
    strategy: str
    registered: str


def _link(client: Any, run: Any, experiments: dict[str, str]) -> Link:
    t, p = run.data.tags, run.data.params
    eid = run.info.experiment_id
    if eid not in experiments:
        experiments[eid] = client.get_experiment(eid).name
    return Link(
        run_id=run.info.run_id,
        name=run.info.run_name or "",
        experiment=experiments[eid],
        domain=t.get(TAG_DOMAIN, ""),
        architecture=t.get(TAG_ARCH, ""),
        status=run.info.status,
        steps=p.get("training.steps", ""),
        source=t.get(TAG_SOURCE, ""),
        source_step=t.get(TAG_SOURCE_STEP, ""),
        strategy=t.get(TAG_STRATEGY, "from scratch" if TAG_SOURCE not in t else ""),
        registered=t.get(TAG_MODEL, ""),
    )


def lineage(client: Any, run_id: str, max_depth: int = 100) -> tuple[list[Link], str | None]:
    """Runs from the first ancestor to ``run_id``; the second item names a parent that
    the tracking store does not hold (the chain then starts there)."""
    experiments: dict[str, str] = {}
    try:
        run = client.get_run(run_id)
    except Exception as exc:
        raise lookup_failure(exc, f"run {run_id!r}", None) from None
    links = [_link(client, run, experiments)]
    seen = {run_id}
    missing = None
    parent = run.data.tags.get(TAG_PARENT)
    while parent and len(links) < max_depth:
        if parent in seen:
            raise UserError(f"run {run_id}: lineage loops back to {parent}")
        seen.add(parent)
        try:
            run = client.get_run(parent)
        except Exception as exc:
            if classify(exc) is not Failure.NOT_FOUND:
                raise lookup_failure(
                    exc, f"run {parent!r}, an ancestor of {run_id}", None
                ) from None
            missing = parent
            break
        links.append(_link(client, run, experiments))
        parent = run.data.tags.get(TAG_PARENT)
    return links[::-1], missing

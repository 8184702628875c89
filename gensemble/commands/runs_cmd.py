"""``gensemble runs``: recent runs of an experiment in the tracking store."""

from __future__ import annotations

import logging

import typer
from rich.console import Console
from rich.table import Table

from gensemble.core.tracking import TAG_ARCH, TAG_DOMAIN, TAG_PARENT, Tracker

LOG = logging.getLogger(__name__)


def runs(
    experiment: str = typer.Option("gensemble", help="MLflow experiment name"),
    uri: str = typer.Option(None, help="tracking URI (default: MLFLOW_TRACKING_URI or sqlite)"),
    limit: int = typer.Option(20, min=1),
) -> None:
    """List recent runs with domain, architecture, parent and status."""
    tracker = Tracker(uri, experiment)
    tracker.check()
    exp = tracker.client.get_experiment_by_name(experiment)
    found = tracker.client.search_runs(
        [exp.experiment_id], max_results=limit, order_by=["attributes.start_time DESC"]
    )
    table = Table(title=f"runs of {experiment!r} in {tracker.uri}")
    for col in ("run id", "name", "status", "domain", "architecture", "parent"):
        table.add_column(col)
    for r in found:
        t = r.data.tags
        table.add_row(
            r.info.run_id,
            r.info.run_name or "",
            r.info.status,
            t.get(TAG_DOMAIN, ""),
            t.get(TAG_ARCH, ""),
            t.get(TAG_PARENT, ""),
        )
    Console(width=160).print(table)


def register(app: typer.Typer) -> None:
    app.command("runs")(runs)

"""``gensemble lineage``: a run's family, from its first ancestor (transfer chains)."""

from __future__ import annotations

import logging

import typer
from rich.console import Console
from rich.table import Table

from gensemble.commands._common import URI_HELP

LOG = logging.getLogger(__name__)


def lineage(
    run_id: str = typer.Argument(..., help="MLflow run id"),
    uri: str = typer.Option(None, help=URI_HELP),
) -> None:
    """Print the chain of runs that led to RUN_ID, from the first one."""
    from gensemble.core.tracking import Tracker
    from gensemble.training.lineage import lineage as walk

    tracker = Tracker(uri)
    tracker.check(create=False)
    links, missing = walk(tracker.client, run_id)
    table = Table(title=f"lineage of {run_id} in {tracker.uri}")
    for col in (
        "#",
        "run id",
        "name",
        "experiment",
        "domain",
        "architecture",
        "steps",
        "initialised from",
        "source step",
        "strategy",
        "registered",
        "status",
    ):
        table.add_column(col, no_wrap=col in ("run id", "initialised from", "registered"))
    if missing:
        table.add_row("", missing, "(not in this tracking store)", *[""] * 9)
    for i, link in enumerate(links):
        table.add_row(
            str(i),
            link.run_id,
            link.name,
            link.experiment,
            link.domain,
            link.architecture,
            link.steps,
            link.source,
            link.source_step,
            link.strategy,
            link.registered,
            link.status,
        )
    Console(width=260).print(table)


def register(app: typer.Typer) -> None:
    app.command("lineage")(lineage)

"""``gensemble compare``: metrics of runs side by side at equal training steps."""

from __future__ import annotations

import logging
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from gensemble.commands._common import URI_HELP

LOG = logging.getLogger(__name__)


def compare(
    run_ids: list[str] = typer.Argument(..., help="two or more MLflow run ids"),
    metrics: str = typer.Option(
        None, help="comma-separated metric keys (default: every eval/ metric all runs logged)"
    ),
    step: list[int] = typer.Option([], "--step", help="compare at this step (repeatable)"),
    out: Path = typer.Option(Path("compare.png"), help="figure of the metric curves"),
    uri: str = typer.Option(None, help=URI_HELP),
    log: bool = typer.Option(True, help="also log the figure and table to each run"),
) -> None:
    """Table and figure of metrics across runs at equal training steps."""
    from gensemble.evaluation.compare import compare_runs

    requested = [m.strip() for m in (metrics or "").split(",") if m.strip()]
    result = compare_runs(run_ids, requested, step or None, out, uri, log)
    runs = result.runs
    table = Table(title=f"{len(runs)} runs at equal steps (lower is better for distances)")
    table.add_column("metric")
    table.add_column("step", justify="right")
    for r in runs:
        table.add_column(f"{r.label}\n{r.run_id}", justify="right", overflow="fold")
    if len(runs) == 2:
        table.add_column("2nd / 1st", justify="right")
    for key, s, values in result.rows:
        cells = [f"{v:.4g}" for v in values]
        if len(runs) == 2:
            cells.append(f"{values[1] / values[0]:.3f}" if values[0] else "-")
        table.add_row(key, s, *cells)
    Console(width=200).print(table)
    typer.echo(f"wrote {result.figure} and {result.csv}")


def register(app: typer.Typer) -> None:
    app.command("compare")(compare)

"""``gensemble lineage``, ``gensemble compare`` and ``gensemble register``: runs as a
family (transfer chains), side by side, and in the model registry."""

from __future__ import annotations

import logging
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

LOG = logging.getLogger(__name__)

URI_HELP = "tracking URI (default: MLFLOW_TRACKING_URI or sqlite:///mlflow.db)"


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
    from gensemble.core.errors import UserError
    from gensemble.core.tracking import Tracker
    from gensemble.evaluation import compare as cmp

    if len(run_ids) < 2:
        raise UserError("compare needs at least two run ids")
    tracker = Tracker(uri)
    tracker.check(create=False)
    runs = cmp.load_runs(tracker.client, run_ids)
    requested = [m.strip() for m in (metrics or "").split(",") if m.strip()]
    keys = cmp.choose_metrics(runs, requested)
    if not keys:
        raise UserError("compare: the runs have no metric in common")
    cmp.fetch(tracker.client, runs, keys)
    rows = cmp.comparison_rows(runs, keys, step or None)
    table = Table(title=f"{len(runs)} runs at equal steps (lower is better for distances)")
    table.add_column("metric")
    table.add_column("step", justify="right")
    for r in runs:
        table.add_column(f"{r.label}\n{r.run_id}", justify="right", overflow="fold")
    if len(runs) == 2:
        table.add_column("2nd / 1st", justify="right")
    for key, s, values in rows:
        cells = [f"{v:.4g}" for v in values]
        if len(runs) == 2:
            cells.append(f"{values[1] / values[0]:.3f}" if values[0] else "-")
        table.add_row(key, s, *cells)
    Console(width=200).print(table)
    figure = cmp.comparison_figure(runs, keys, out)
    csv_path = cmp.write_csv(out.with_suffix(".csv"), runs, rows)
    typer.echo(f"wrote {figure} and {csv_path}")
    if log:
        for r in runs:
            run_tracker = Tracker(uri)
            run_tracker.run_id = r.run_id
            run_tracker.log_artifact(figure, "compare")
            run_tracker.log_artifact(csv_path, "compare")


def register_model(
    run_id: str = typer.Argument(..., help="MLflow run id"),
    name: str = typer.Option(None, help="registered model name (default DOMAIN-ARCH)"),
    which: str = typer.Option("last", help="last or best checkpoint"),
    uri: str = typer.Option(None, help=URI_HELP),
) -> None:
    """Register a run's generator as a new model version (models:/NAME/VERSION)."""
    from gensemble.core.errors import UserError
    from gensemble.core.tracking import TAG_MODEL, Tracker
    from gensemble.inference import model_registry as registry
    from gensemble.inference.checkpoint_io import read_metadata
    from gensemble.inference.resolve import resolve_checkpoint

    if which not in ("last", "best"):
        raise UserError(f"--which must be last or best, got {which!r}")
    tracker = Tracker(uri)
    tracker.check(create=False)
    meta = read_metadata(resolve_checkpoint(run_id, uri, which=which))
    name = name or registry.default_model_name(meta.domain.name, meta.architecture.name)
    version = registry.register_run(tracker.client, run_id, name, which, meta)
    tracker.run_id = run_id
    tracker.set_tags({TAG_MODEL: f"models:/{name}/{version}"})
    typer.echo(f"registered models:/{name}/{version}")


def register(app: typer.Typer) -> None:
    app.command("lineage")(lineage)
    app.command("compare")(compare)
    app.command("register")(register_model)

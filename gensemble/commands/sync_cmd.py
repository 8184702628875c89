"""``gensemble sync SRC DEST``: copy runs trained offline to the team's MLflow server."""

from __future__ import annotations

import logging

import typer

LOG = logging.getLogger(__name__)


def _uri(text: str) -> str:
    """A path to a sqlite file (e.g. ``runs/offline-mlflow.db``) or any MLflow URI."""
    from pathlib import Path

    if "://" in text:
        return text
    path = Path(text)
    if path.suffix == ".db" or path.is_file():
        return f"sqlite:///{path.resolve()}"
    return text


def sync(
    source: str = typer.Argument(
        ..., help="source store (offline-mlflow.db path or URI), or a run folder to finish"
    ),
    dest: str = typer.Argument(None, help="destination store: http://server:5000 or URI"),
    experiment: list[str] = typer.Option([], "--experiment", help="only this experiment"),
    run: list[str] = typer.Option([], "--run", help="only this run (and its ancestors)"),
    dry_run: bool = typer.Option(False, "--dry-run", help="show what would be copied"),
) -> None:
    """Copy experiments, runs (params, every metric point, tags, artifacts, dataset inputs,
    status) and registered model versions, parents before children, lineage re-pointed to
    the destination's run ids.  A second sync copies only what is new; a sync killed
    half-way finishes on the next call without duplicates.  With a run folder as SOURCE,
    finish a run whose server went down: journalled points, checkpoints, final status and
    registration are sent to its own store."""
    from pathlib import Path

    from rich.console import Console
    from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn
    from rich.table import Table

    from gensemble.sync.run_replay import is_run_dir, replay_run
    from gensemble.sync.stores import sync_stores

    if is_run_dir(Path(source)):  # a run that lost its server: finish it there
        r = replay_run(Path(source), _uri(dest) if dest else None)
        typer.echo(
            f"run {r.run_id} on {r.uri}: {r.points} metric points, {r.checkpoints} "
            f"checkpoints sent"
            + (f", status {r.status}" if r.status else "")
            + (f", registered {r.registered}" if r.registered else "")
        )
        return
    if dest is None:
        from gensemble.core.errors import UserError

        raise UserError("sync: give the destination store (DEST)")
    src, dst = _uri(source), _uri(dest)
    console = Console(stderr=True)
    with Progress(
        TextColumn("{task.description}"), BarColumn(), DownloadColumn(), console=console
    ) as bar:
        task = bar.add_task("sync", total=None)

        def on_run(r) -> None:  # noqa: ANN001
            bar.update(task, description=f"sync run {r.source_id[:8]}")

        report = sync_stores(
            src, dst, experiment, run, dry_run, on_run, lambda n: bar.advance(task, n)
        )
    table = Table(title=f"{'would copy' if dry_run else 'copied'}: {src} -> {dst}")
    for col in (
        "source run",
        "destination run",
        "new",
        "params",
        "metric points",
        "artifacts",
        "MB",
        "status",
    ):
        table.add_column(
            col,
            justify="right" if col in ("params", "metric points", "artifacts", "MB") else "left",
        )
    for r in report.runs:
        table.add_row(
            r.source_id[:12],
            (r.dest_id or "(new)")[:12],
            "yes" if r.created else "",
            str(r.params),
            str(r.points),
            str(r.artifacts),
            f"{r.bytes / 1e6:.1f}",
            r.status,
        )
    Console().print(table)
    changed = sum(r.changed for r in report.runs)
    typer.echo(
        f"{len(report.runs)} runs, {changed} changed, "
        f"{sum(r.points for r in report.runs)} metric points, "
        f"{sum(r.artifacts for r in report.runs)} artifacts, "
        f"{len(report.versions)} model versions"
        + (
            f", experiments created: {', '.join(report.experiments_created)}"
            if report.experiments_created
            else ""
        )
    )


def register(app: typer.Typer) -> None:
    app.command("sync")(sync)

"""``gensemble study CONFIG``: does an enriched ensemble add skill? One controlled study."""

from __future__ import annotations

import logging
from pathlib import Path

import typer

from gensemble.commands.config_cmd import SET_HELP

LOG = logging.getLogger(__name__)


def study(
    config: Path = typer.Argument(None, help="YAML or TOML study (default: the reference study)"),
    set_: list[str] = typer.Option([], "--set", help=SET_HELP),
    no_tracking: bool = typer.Option(False, "--no-tracking", help="write files only, no MLflow"),
) -> None:
    """Split dates, train or load the generator, calibrate, enlarge the test forecasts and
    score every ensemble against controls (resampling, climate, oracle), with paired
    intervals; writes study.json and study.html into the study's output folder."""
    from rich.console import Console

    from gensemble.study.config import load_study
    from gensemble.study.job import run_study
    from gensemble.study.outputs import print_tables, write_json
    from gensemble.study.report import write_report

    cfg = load_study(config, set_)
    res = run_study(cfg, typer.echo)
    out = Path(cfg.output)
    files = [write_json(res, out / "study.json"), write_report(res, out / "study.html")]
    print_tables(res, Console(width=160))
    if not no_tracking:
        from gensemble.study.tracking import log_study

        run = log_study(res, files)
        typer.echo(f"study run {run}")
    typer.echo(f"wrote {files[0]} and {files[1]}")


def register(app: typer.Typer) -> None:
    app.command("study")(study)

"""``gensemble config show|schema``."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import typer

from gensemble.core.config import dump_experiment, experiment_schema, load_experiment

LOG = logging.getLogger(__name__)

config_app = typer.Typer(help="Inspect experiment configs.", no_args_is_help=True)

SET_HELP = "override a key, e.g. --set training.batch_size=8 (repeatable)"


@config_app.command("show")
def show(
    experiment: Path = typer.Argument(None, help="YAML or TOML experiment (default: built-in)"),
    set_: list[str] = typer.Option([], "--set", help=SET_HELP),
    fmt: str = typer.Option("yaml", "--format", help="yaml or json"),
) -> None:
    """Print the fully resolved config (defaults and plugin options filled in)."""
    exp = load_experiment(experiment, set_)
    typer.echo(dump_experiment(exp, fmt))


@config_app.command("schema")
def schema() -> None:
    """Print the JSON schema of experiment files (for editor validation)."""
    typer.echo(json.dumps(experiment_schema(), indent=2))


def register(app: typer.Typer) -> None:
    app.add_typer(config_app, name="config")

"""``gensemble train``: one experiment, from scratch, transferred or resumed."""

from __future__ import annotations

import logging
from pathlib import Path

import typer

from gensemble.commands.config_cmd import SET_HELP
from gensemble.core.config import load_experiment

LOG = logging.getLogger(__name__)


def train(
    experiment: Path = typer.Argument(None, help="YAML or TOML experiment (default: built-in)"),
    set_: list[str] = typer.Option([], "--set", help=SET_HELP),
    resume: str = typer.Option(None, help="continue a run: RUN_ID, run folder or checkpoint"),
) -> None:
    """Train the experiment's architecture on its domain's store (torchrun for multi-GPU)."""
    from gensemble.training.loop import train as run_training

    exp = load_experiment(experiment, set_)
    result = run_training(exp, resume=resume)
    if result.last_checkpoint is not None:  # rank 0 only under torchrun
        typer.echo(f"run {result.run_id}: step {result.step}, checkpoint {result.last_checkpoint}")


def register(app: typer.Typer) -> None:
    app.command("train")(train)

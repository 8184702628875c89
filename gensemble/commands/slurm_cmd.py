"""``gensemble slurm``: a SLURM batch script for an experiment, printed or submitted."""

from __future__ import annotations

import logging
from pathlib import Path

import typer

from gensemble.commands.config_cmd import SET_HELP
from gensemble.core.config import load_experiment
from gensemble.core.errors import UserError

LOG = logging.getLogger(__name__)


def slurm(
    experiment: Path = typer.Argument(..., help="experiment file"),
    set_: list[str] = typer.Option([], "--set", help=SET_HELP),
    nodes: int = typer.Option(1, min=1),
    gpus: int = typer.Option(4, min=1, help="GPUs per node"),
    cpus: int = typer.Option(8, min=1, help="CPU cores per task"),
    time: str = typer.Option("24:00:00", help="wall-clock limit"),
    partition: str = typer.Option(None),
    account: str = typer.Option(None),
    submit: bool = typer.Option(False, help="submit with sbatch instead of printing"),
) -> None:
    """Print (or submit) a SLURM batch script running the experiment with torchrun."""
    import shutil
    import subprocess

    from gensemble.training.slurm import slurm_script

    exp = load_experiment(experiment, set_)  # fail now, not in the queue
    script = slurm_script(exp, experiment, set_, nodes, gpus, cpus, time, partition, account)
    if not submit:
        typer.echo(script)
        return
    if shutil.which("sbatch") is None:
        raise UserError("sbatch is not available on this machine; run without --submit")
    done = subprocess.run(["sbatch"], input=script, text=True, capture_output=True)
    typer.echo(done.stdout.strip() or done.stderr.strip())
    raise typer.Exit(done.returncode)


def register(app: typer.Typer) -> None:
    app.command("slurm")(slurm)

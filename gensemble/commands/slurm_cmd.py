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
    ctx: typer.Context,
    experiment: Path = typer.Argument(
        ..., help="experiment file, or `enrich` followed by enrich's arguments (an archive)"
    ),
    set_: list[str] = typer.Option([], "--set", help=SET_HELP),
    nodes: int = typer.Option(1, min=1),
    gpus: int = typer.Option(4, min=1, help="GPUs per node"),
    cpus: int = typer.Option(8, min=1, help="CPU cores per task"),
    time: str = typer.Option("24:00:00", help="wall-clock limit"),
    partition: str = typer.Option(None),
    account: str = typer.Option(None),
    submit: bool = typer.Option(False, help="submit with sbatch instead of printing"),
) -> None:
    """Print (or submit) a SLURM batch script running the experiment with torchrun, or
    with `enrich RUN --data STORE --dates START..END --out X.zarr ...` an archive
    enrichment shared among the ranks."""
    import shutil
    import subprocess

    from gensemble.training.slurm import enrich_script, slurm_script

    if str(experiment) == "enrich":
        args = _checked_enrich_args(list(ctx.args))
        script = enrich_script(args, nodes, gpus, cpus, time, partition, account)
    else:
        if ctx.args:
            raise UserError(f"unexpected arguments {' '.join(ctx.args)}")
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


def _checked_enrich_args(args: list[str]) -> list[str]:
    """enrich's arguments, parsed by enrich itself (mistakes fail now, not in the queue),
    with the store, the archive and a study record as absolute paths (the job runs in the
    script's folder)."""
    from gensemble.commands.enrich_cmd import enrich
    from gensemble.enrichment.archive import study_record

    command = typer.main.get_command(_single(enrich))
    try:
        params = command.make_context("enrich", list(args), resilient_parsing=False).params
    except Exception as exc:  # typer's click: a usage error formats its own message
        if not hasattr(exc, "format_message"):
            raise
        raise UserError(f"enrich arguments: {exc.format_message()}") from None
    if params.get("dates") is None or params.get("data") is None:
        raise UserError("a SLURM enrichment is an archive: give --data STORE and --dates")
    if Path(params["out"]).suffix != ".zarr":
        raise UserError(f"an archive is a .zarr folder, got {Path(params['out']).name}")
    out, it = [], iter(args)
    for a in it:
        out.append(a)
        if a in ("--data", "--out"):
            out.append(str(Path(next(it)).resolve()))
        elif a == "--dates":  # a study's study.json, not START..END, is a path too
            dates = next(it)
            record = study_record(dates)
            out.append(str(record.resolve()) if record is not None else dates)
    return out


def _single(fn: object) -> typer.Typer:
    app = typer.Typer()
    app.command()(fn)
    return app


def register(app: typer.Typer) -> None:
    app.command(
        "slurm", context_settings={"allow_extra_args": True, "ignore_unknown_options": True}
    )(slurm)

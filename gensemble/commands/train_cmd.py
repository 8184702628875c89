"""``gensemble train``, ``gensemble generate`` and ``gensemble slurm``."""

from __future__ import annotations

import logging
import shlex
import sys
from pathlib import Path

import typer

from gensemble.commands.config_cmd import SET_HELP
from gensemble.core.config import load_experiment
from gensemble.core.errors import UserError

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


def generate(
    source: str = typer.Argument(..., help="RUN_ID, run folder or checkpoint file"),
    n: int = typer.Option(None, "-n", min=1, help="number of members (default 100)"),
    out: Path = typer.Option(Path("members.nc"), "--out", help=".nc or .zarr"),
    seed: int = typer.Option(0, help="random seed of the latent draws"),
    truncation: float = typer.Option(1.0, help="truncation psi (1: none)"),
    batch: int = typer.Option(16, min=1),
    device: str = typer.Option("cpu", help="cpu, cuda, cuda:N"),
    uri: str = typer.Option(None, help="tracking URI when SOURCE is a run id"),
    experiment_name: str = typer.Option("gensemble", "--experiment"),
    which: str = typer.Option("last", help="last or best checkpoint of a run"),
    compile_: bool = typer.Option(
        False, "--compile", help="torch.compile the generator (CUDA: with CUDA graphs)"
    ),
    compile_backend: str = typer.Option("inductor", help="torch.compile backend"),
    latents: Path = typer.Option(
        None, "--latents", help=".npy of latent codes: one member per code (z or W+)"
    ),
    latent_space: str = typer.Option("z", "--latent-space", help="z or w+ (with --latents)"),
    noise: str = typer.Option(
        "random", "--noise", help="with --latents: const (stored maps), random or zero"
    ),
) -> None:
    """Write N generated members in physical units on the domain's grid (CF netCDF/zarr),
    or one member per given latent code (--latents)."""
    from gensemble.inference.generate import write_members
    from gensemble.inference.loaded import LoadedModel
    from gensemble.inference.resolve import resolve_checkpoint

    path = resolve_checkpoint(source, uri, experiment_name, which)
    loaded = LoadedModel(path)
    if compile_:
        loaded.model.to(device)
        mode = "reduce-overhead" if str(device).startswith("cuda") else None
        loaded.model.compile_networks(compile_backend, mode, training=False)
    if latents is not None:
        from gensemble.inference.generate import write_from_latents

        if n is not None:
            raise UserError("-n and --latents exclude each other (one member per code)")
        written, n = write_from_latents(
            loaded, latents, out, latent_space, noise, truncation, seed, batch, device
        )
    else:
        if latent_space != "z" or noise != "random":
            raise UserError("--latent-space and --noise apply to --latents")
        n = 100 if n is None else n
        written = write_members(loaded, n, out, seed, truncation, batch, device)
    typer.echo(f"wrote {n} members of {', '.join(loaded.variables)} to {written}")


SLURM_TEMPLATE = """#!/bin/bash
#SBATCH --job-name={job}
#SBATCH --nodes={nodes}
#SBATCH --ntasks-per-node=1
#SBATCH --gpus-per-node={gpus}
#SBATCH --cpus-per-task={cpus}
#SBATCH --time={time}
#SBATCH --signal=TERM@300
#SBATCH --output={job}-%j.out
{extra}
# gensemble checkpoints and stops cleanly on SIGTERM (sent 5 min before the limit);
# resubmit with RESUME=<run id> to continue exactly where it stopped.
# Compute nodes often have no internet: point MLFLOW_TRACKING_URI at a shared sqlite
# file or a server reachable from the nodes.
set -euo pipefail
export MLFLOW_TRACKING_URI=${{MLFLOW_TRACKING_URI:-sqlite:///{workdir}/mlflow.db}}
export OMP_NUM_THREADS={cpus}
MASTER_ADDR=$(scontrol show hostnames "$SLURM_JOB_NODELIST" | head -n 1)
RESUME_ARG=${{RESUME:+--resume $RESUME}}
cd {workdir}
srun {python} -m torch.distributed.run \\
    --nnodes="$SLURM_NNODES" --nproc-per-node={gpus} \\
    --rdzv-backend=c10d --rdzv-endpoint="$MASTER_ADDR:29500" --rdzv-id="$SLURM_JOB_ID" \\
    -m gensemble train {experiment} {sets} $RESUME_ARG
"""


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

    exp = load_experiment(experiment, set_)  # fail now, not in the queue
    if exp.training.batch_size % (nodes * gpus):
        from gensemble.core.errors import UserError

        raise UserError(
            f"training.batch_size={exp.training.batch_size} is not divisible by {nodes * gpus} GPUs"
        )
    extra = "\n".join(
        line
        for line in (
            f"#SBATCH --partition={partition}" if partition else "",
            f"#SBATCH --account={account}" if account else "",
        )
        if line
    )
    script = SLURM_TEMPLATE.format(
        job=f"gensemble-{exp.domain.name}",
        nodes=nodes,
        gpus=gpus,
        cpus=cpus,
        time=time,
        extra=extra,
        workdir=shlex.quote(str(Path.cwd())),
        python=shlex.quote(sys.executable),
        experiment=shlex.quote(str(experiment.resolve())),
        sets=" ".join(f"--set {shlex.quote(s)}" for s in set_),
    )
    if not submit:
        typer.echo(script)
        return
    if shutil.which("sbatch") is None:
        from gensemble.core.errors import UserError

        raise UserError("sbatch is not available on this machine; run without --submit")
    done = subprocess.run(["sbatch"], input=script, text=True, capture_output=True)
    typer.echo(done.stdout.strip() or done.stderr.strip())
    raise typer.Exit(done.returncode)


def register(app: typer.Typer) -> None:
    app.command("train")(train)
    app.command("generate")(generate)
    app.command("slurm")(slurm)

"""SLURM batch scripts that run an experiment with torchrun (one task per node, one
process per GPU), checkpoint on SLURM's warning signal and resume where they stopped."""

from __future__ import annotations

import logging
import shlex
import sys
from pathlib import Path

from gensemble.core.config import Experiment
from gensemble.core.errors import ConfigError

LOG = logging.getLogger(__name__)

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


def _account_lines(partition: str | None, account: str | None) -> str:
    """The optional ``#SBATCH`` lines of a partition and an account."""
    lines = [f"#SBATCH --partition={partition}" if partition else "",
             f"#SBATCH --account={account}" if account else ""]  # fmt: skip
    return "\n".join(line for line in lines if line)


def slurm_script(
    exp: Experiment,
    experiment_file: Path,
    overrides: list[str],
    nodes: int = 1,
    gpus: int = 4,
    cpus: int = 8,
    time: str = "24:00:00",
    partition: str | None = None,
    account: str | None = None,
    workdir: Path | None = None,
) -> str:
    """The batch script; refused when the global batch does not split over the GPUs."""
    if exp.training.batch_size % (nodes * gpus):
        raise ConfigError(
            f"training.batch_size={exp.training.batch_size} is not divisible by {nodes * gpus} GPUs"
        )
    extra = _account_lines(partition, account)
    return SLURM_TEMPLATE.format(
        job=f"gensemble-{exp.domain.name}",
        nodes=nodes,
        gpus=gpus,
        cpus=cpus,
        time=time,
        extra=extra,
        workdir=shlex.quote(str(workdir or Path.cwd())),
        python=shlex.quote(sys.executable),
        experiment=shlex.quote(str(Path(experiment_file).resolve())),
        sets=" ".join(f"--set {shlex.quote(s)}" for s in overrides),
    )


ENRICH_TEMPLATE = """#!/bin/bash
#SBATCH --job-name={job}
#SBATCH --nodes={nodes}
#SBATCH --ntasks-per-node=1
#SBATCH --gpus-per-node={gpus}
#SBATCH --cpus-per-task={cpus}
#SBATCH --time={time}
#SBATCH --output={job}-%j.out
{extra}
# Every forecast x lead time of the dates is one case; the ranks share the cases (a rank
# done with its share takes cases nobody has started) and each case lands in the archive
# by region.  The job is resumable: submit the same script again after a time limit, a
# node failure or scancel, and it skips the finished cases and redoes the unfinished.
# Compute nodes often have no internet: give the model as a checkpoint path or point
# MLFLOW_TRACKING_URI at a shared sqlite file or a server reachable from the nodes.
set -euo pipefail
export MLFLOW_TRACKING_URI=${{MLFLOW_TRACKING_URI:-sqlite:///{workdir}/mlflow.db}}
export OMP_NUM_THREADS={cpus}
MASTER_ADDR=$(scontrol show hostnames "$SLURM_JOB_NODELIST" | head -n 1)
cd {workdir}
srun {python} -m torch.distributed.run \\
    --nnodes="$SLURM_NNODES" --nproc-per-node={gpus} \\
    --rdzv-backend=c10d --rdzv-endpoint="$MASTER_ADDR:29500" --rdzv-id="$SLURM_JOB_ID" \\
    -m gensemble enrich {args}
"""


def enrich_script(
    args: list[str], nodes: int = 1, gpus: int = 4, cpus: int = 8, time: str = "24:00:00",
    partition: str | None = None, account: str | None = None, workdir: Path | None = None,
) -> str:  # fmt: skip
    """The batch script of an archive enrichment (``enrich ... --dates ... --out X.zarr``
    arguments, checked by the caller); paths in ``args`` are taken as given."""
    extra = _account_lines(partition, account)
    return ENRICH_TEMPLATE.format(
        job="gensemble-enrich", nodes=nodes, gpus=gpus, cpus=cpus, time=time, extra=extra,
        workdir=shlex.quote(str(workdir or Path.cwd())), python=shlex.quote(sys.executable),
        args=" ".join(shlex.quote(a) for a in args),
    )  # fmt: skip

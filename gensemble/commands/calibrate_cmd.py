"""``gensemble calibrate``: learn the perturbation (a, b) of StyleGAN forecasts."""

from __future__ import annotations

import logging
from pathlib import Path

import typer

from gensemble.commands._common import URI_HELP, ints, settings_errors

LOG = logging.getLogger(__name__)


def calibrate(
    source: str = typer.Argument(..., help="RUN_ID, models:/NAME/VERSION or checkpoint"),
    data: Path = typer.Option(..., "--data", help="store with past forecasts"),
    dates: str = typer.Option(..., "--dates", help="forecast reference times, comma-separated"),
    leads: str = typer.Option(None, "--leads", help="lead times (h); default: all of a date"),
    objective: str = typer.Option(
        "crps",
        help="crps (leave-half-out) or reference (L1 to the members' mean and inflated spread); "
        "truth (against each forecast's truth) is for gensemble study",
    ),
    inflation: float = typer.Option(1.2, min=0.01, help="reference: spread inflation"),
    n: int = typer.Option(32, "-n", min=2, help="members generated per forecast"),
    steps: int = typer.Option(
        1000, min=1, help="inversion steps (as enrich: calibrate with the settings you enrich with)"
    ),
    noise: str = typer.Option("const", help="noise maps: const, fixed, random or optimize"),
    loss: str = typer.Option("mse", help="inversion loss: mse or mae"),
    precision: str = typer.Option(
        "auto", help="synthesis precision: auto (bf16 on a GPU), fp32 or bf16"
    ),
    evals: int = typer.Option(60, min=1, help="objective evaluations"),
    levels: str = typer.Option(None, help="perturbed resolution levels (0 coarsest)"),
    per_level: bool = typer.Option(False, help="one (a, b) per level (needs more --evals)"),
    seed: int = typer.Option(0),
    out: Path = typer.Option(Path("calibration.json"), "--out"),
    log: bool = typer.Option(True, help="log to MLflow and tag the model's run"),
    device: str = typer.Option("cpu"),
    uri: str = typer.Option(None, help=URI_HELP),
    experiment_name: str = typer.Option("gensemble", "--experiment"),
    which: str = typer.Option("last"),
) -> None:
    """Learn a and b per resolution level over past forecasts; writes a calibration file."""
    from gensemble.core.progress import work_bar
    from gensemble.enrichment.calibrate import CalibrationConfig
    from gensemble.enrichment.calibration_job import CalibrateJob, log_calibration, run_calibrate
    from gensemble.enrichment.invert import InversionConfig
    from gensemble.enrichment.job import ModelSource

    with settings_errors(dates="--dates", store="--data"):
        job = CalibrateJob(
            model=ModelSource(source, which, uri, experiment_name, device),
            store=data,
            dates=[x.strip() for x in dates.split(",") if x.strip()],
            out=out,
            leads=[float(h) for h in leads.split(",")] if leads else None,
            config=CalibrationConfig(
                objective=objective,
                n=n,
                evals=evals,
                seed=seed,
                per_level=per_level,
                inflation=inflation,
            ),
            inversion=InversionConfig(
                steps=steps, noise=noise, loss=loss, seed=seed, precision=precision
            ),
            levels=ints(levels),
        )
        with work_bar("invert") as (on_start, on_step):
            result = run_calibrate(job, on_step=on_step, on_start=on_start)
    record = result.record
    typer.echo(
        f"{objective} objective {record['value_before']:.4g} -> {record['value_after']:.4g} "
        f"over {result.forecasts} forecast(s); wrote {result.path}"
    )
    if log and result.model_run:
        run_id = log_calibration(result, uri)
        if run_id:
            typer.echo(f"logged calibration run {run_id}; tagged run {result.model_run}")


def register(app: typer.Typer) -> None:
    app.command("calibrate")(calibrate)

"""``gensemble enrich``: StyleGAN forecasts from a real ensemble."""

from __future__ import annotations

import logging
from pathlib import Path

import typer

from gensemble.commands._common import URI_HELP, floats, ints, settings_errors
from gensemble.core.errors import UserError

LOG = logging.getLogger(__name__)


def enrich(
    source: str = typer.Argument(..., help="RUN_ID, models:/NAME/VERSION or checkpoint"),
    members: Path = typer.Option(None, "--members", help="CF netCDF/GRIB ensemble"),
    data: Path = typer.Option(None, "--data", help="or: a prepared store"),
    date: str = typer.Option(None, "--date", help="with --data: forecast reference time"),
    dates: str = typer.Option(
        None,
        "--dates",
        help="with --data: every forecast issued START..END (or a study's test dates: "
        "its study.json) into a .zarr archive (resumable; torchrun shares the cases)",
    ),
    leads: str = typer.Option(None, "--leads", help="with --dates: lead times (hours), e.g. 6,12"),
    lead: float = typer.Option(None, "--lead", help="with --data: lead time (hours)"),
    n: int = typer.Option(120, "-n", min=1, help="output members per forecast"),
    method: str = typer.Option(
        "inversion",
        help="inversion (invert every member, perturb its latent code) or conditional "
        "(a conditional model draws all N from K seed members; no inversion)",
    ),
    seeds: int = typer.Option(
        None, min=1, help="conditional: seed members K (default: the model's)"
    ),
    out: Path = typer.Option(..., "--out", help="output CF netCDF (.nc)"),
    hybrid: bool = typer.Option(False, help="keep the input members among the N"),
    calibration: str = typer.Option(None, help="calibration file or run id (a, b)"),
    a: str = typer.Option(None, help="mixing toward the mean, one value or one per row"),
    b: str = typer.Option(None, help="perturbation scale, one value or one per row"),
    levels: str = typer.Option(None, help="perturbed resolution levels (0 coarsest)"),
    prior_levels: str = typer.Option(None, help="levels perturbed from the prior"),
    steps: int = typer.Option(1000, min=1, help="inversion steps"),
    noise: str = typer.Option(
        "const", help="noise maps: const (zero), fixed (one seeded draw), random or optimize"
    ),
    loss: str = typer.Option("mse", help="inversion loss: mse or mae"),
    precision: str = typer.Option(
        "auto", help="synthesis precision: auto (bf16 on a GPU), fp32 or bf16"
    ),
    seed: int = typer.Option(0, help="seed of every random draw"),
    holdout: int = typer.Option(0, min=0, help="score against the last K members, held back"),
    compile_: bool = typer.Option(
        False, "--compile", help="torch.compile the generator (CUDA: with CUDA graphs)"
    ),
    strict: bool = typer.Option(
        False, help="refuse a calibration made with other inversion settings (else a warning)"
    ),
    device: str = typer.Option("cpu"),
    uri: str = typer.Option(None, help=URI_HELP),
    experiment_name: str = typer.Option("gensemble", "--experiment"),
    which: str = typer.Option("last", help="last or best checkpoint of a run"),
) -> None:
    """Enlarge a real forecast ensemble: invert its members and perturb them, or draw
    the members from K seeds with a conditional model; write N members."""
    from gensemble.core.progress import work_bar
    from gensemble.enrichment.invert import InversionConfig
    from gensemble.enrichment.job import EnrichJob, ModelSource, holdout_scores, run_enrich

    if (members is None) == (data is None):
        raise UserError("give the input ensemble with --members FILE or --data STORE")
    if dates is None and data is not None and (date is None or lead is None):
        raise UserError("--data needs --date (forecast reference time) and --lead (hours)")
    if dates is not None and data is None:
        raise UserError("--dates needs the forecasts as a store (--data)")
    with settings_errors(
        date="--date", holdout="--holdout", calibration="--calibration", n="-n", seeds="--seeds",
        dates="--dates", leads="--leads", out="--out",
    ):  # fmt: skip
        job = EnrichJob(
            model=ModelSource(source, which, uri, experiment_name, device),
            out=out,
            n=n,
            members=members,
            store=data,
            date=date,
            lead=lead,
            hybrid=hybrid,
            calibration=calibration,
            perturb={
                "a": floats(a),
                "b": floats(b),
                "levels": ints(levels),
                "prior_levels": ints(prior_levels),
            },  # fmt: skip
            inversion=InversionConfig(
                steps=steps, noise=noise, loss=loss, seed=seed, precision=precision
            ),
            seed=seed,
            holdout=holdout,
            compile=compile_,
            strict=strict,
            method=method,
            seeds=seeds,
            dates=dates,
            leads=floats(leads),
        )
        if dates is not None:
            _archive(job)
            return
        with work_bar("invert" if method == "inversion" else "sample") as (on_start, on_step):
            result = run_enrich(job, on_step=on_step, on_start=on_start)
    typer.echo(f"wrote {result.path}: {len(result.cases)} forecast(s) x {n} members")
    if method == "conditional":
        typer.echo(f"drawn from {result.provenance['seeds_k']} seed members per forecast: "
                   f"{result.provenance['seed_members']}")  # fmt: skip
    else:
        detail = ", ".join(
            f"{v} {e:.3g}" for v, e in zip(result.variables, result.rmse, strict=True)
        )
        typer.echo(f"reconstruction RMSE (mean over members): {detail}")
    if holdout:
        _print_holdout(holdout_scores(result), holdout)


def _archive(job: object) -> None:
    """A season of forecasts into one archive (any number of torchrun ranks)."""
    from gensemble.core.progress import work_bar
    from gensemble.enrichment.archive_job import run_archive

    with work_bar("cases") as (on_start, on_step):
        result = run_archive(job, on_start, on_step)
    if result.rank == 0:
        typer.echo(f"wrote {result.path}: {result.cases} cases ({result.skipped} done before, "
                   f"{result.made} made by rank 0 of {result.world})")  # fmt: skip


def _print_holdout(rows: dict[str, dict[str, float]], held: int) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"against {held} held-back members per forecast")
    table.add_column("score")
    for label in rows:
        table.add_column(label, justify="right")
    for key in sorted(next(iter(rows.values()))):
        table.add_row(key, *(f"{rows[label].get(key, float('nan')):.4g}" for label in rows))
    Console(width=140).print(table)


def register(app: typer.Typer) -> None:
    app.command("enrich")(enrich)

"""``gensemble evaluate``: score a trained generator against a store with metric plugins."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import torch
import typer

from gensemble.core.errors import UserError

LOG = logging.getLogger(__name__)


def evaluate(
    source: str = typer.Argument(..., help="RUN_ID, run folder or checkpoint file"),
    data: Path = typer.Option(..., "--data", help="store of real fields (gensemble data prepare)"),
    metrics: str = typer.Option("swd,w1,spectrum,quantiles", help="comma-separated metric names"),
    n: int = typer.Option(256, "-n", min=2, help="samples of each set"),
    split: str = typer.Option("val", help="val (held-out split of the run) or all"),
    seed: int = typer.Option(0),
    truncation: float = typer.Option(1.0),
    device: str = typer.Option("cpu"),
    uri: str = typer.Option(None, help="tracking URI (default: the run's / sqlite)"),
    experiment_name: str = typer.Option("gensemble", "--experiment"),
    which: str = typer.Option("last", help="last or best checkpoint of a run"),
    out: Path = typer.Option(None, help="folder for scalars.json, maps.npz and figures"),
    log: bool = typer.Option(True, help="log numbers and figures to the run in MLflow"),
    event: str = typer.Option(None, "--event", help="verify on a high-impact event instead"),
    obs: Path = typer.Option(
        None,
        "--obs",
        help="--event: station CSV (station,lat,lon,time,variable,value) or CF timeSeries netCDF",
    ),
    enrich: int = typer.Option(0, "--enrich", min=0, help="with --event: N enriched members"),
    archive: Path = typer.Option(
        None, "--archive", help="--event --obs: enriched members from this archive (enrich --out)"
    ),
    calibration: str = typer.Option(None, "--calibration", help="a/b from calibrate (--event)"),
    rotations: int = typer.Option(2, min=1, help="--event without --obs: held-out members"),
    bootstrap: int = typer.Option(200, min=10, help="--event: bootstrap replicates"),
    steps: int = typer.Option(100, min=1, help="--event --enrich: inversion steps"),
    report: Path = typer.Option(None, "--report", help="--event: HTML report path"),
    event_metrics: str = typer.Option(
        "", "--event-metrics", help="--event: registered ensemble metrics added to the report"
    ),
) -> None:
    """Generate N members, compare them with N real fields, print and log the metrics;
    with --event, verify raw, enriched, hybrid and climate ensembles on a high-impact
    event and write an HTML report."""
    from gensemble.api.metric_context import EvalContext
    from gensemble.core.tracking import Tracker
    from gensemble.data.loader import split_indices
    from gensemble.data.store import Store, check_store_matches
    from gensemble.evaluation.runner import build_metrics, print_table, run_metrics, save_result
    from gensemble.inference.loaded import LoadedModel, experiment_of
    from gensemble.inference.resolve import resolve_checkpoint

    if event is not None:
        from gensemble.events.job import EventJob

        job = EventJob(
            event=event,
            data=data,
            obs=obs,
            enrich=enrich,
            calibration=calibration,
            tracking_uri=uri,
            rotations=rotations,
            bootstrap=bootstrap,
            seed=seed,
            steps=steps,
            device=device,
            report=report,
            metrics=tuple(m.strip() for m in event_metrics.split(",") if m.strip()),
            archive=archive,
        )
        _event(source, job, experiment_name, which, log)
        return
    names = [m.strip() for m in metrics.split(",") if m.strip()]
    plugins = build_metrics(names)  # unknown names fail before any work
    path = resolve_checkpoint(source, uri, experiment_name, which)
    loaded = LoadedModel(path)
    if not Path(data).exists():
        raise UserError(f"--data {data} does not exist")
    store = Store(Path(data))
    check_store_matches(store, loaded.variables, tuple(loaded.meta.shape), f"the model {path}")
    if split == "val":
        exp = experiment_of(loaded.meta)
        _, pool = split_indices(store.n_samples, exp.data.val_fraction, exp.training.seed)
        if len(pool) == 0:
            raise UserError("the run has no validation split (val_fraction=0); use --split all")
    elif split == "all":
        pool = np.arange(store.n_samples)
    else:
        raise UserError(f"--split must be val or all, got {split!r}")
    idx = np.sort(pool[: min(n, len(pool))])
    real = torch.from_numpy(store.read(idx))
    fake = loaded.generate_physical(
        len(idx), torch.Generator().manual_seed(seed), truncation, device
    )
    ctx = EvalContext(loaded.variables, loaded.grid.spacing_m()[0], device, seed)
    ctx.model = loaded.model
    result, timings = run_metrics(plugins, real, fake, ctx)
    print_table(
        result, f"{len(idx)} real ({split}) vs {len(idx)} generated, step {loaded.meta.step}"
    )
    folder = out or (path.parent.parent / "eval" / f"cli_step_{loaded.meta.step:07d}")
    files = save_result(result, Path(folder))
    typer.echo(f"saved {len(files)} files to {folder}")
    run_id = loaded.meta.run_id
    if log and run_id:
        exp = experiment_of(loaded.meta)
        tracker = Tracker(uri or exp.tracking_uri(), exp.tracking.experiment)
        tracker.attach(run_id)  # the run's status (running, killed...) stays as it is
        tracker.log_metrics(result.tracked_scalars(), loaded.meta.step)
        tracker.log_metrics({f"eval_time_s/{k}": v for k, v in timings.items()}, loaded.meta.step)
        for f in files:
            tracker.log_artifact(f, f"eval/cli_step_{loaded.meta.step:07d}")
        tracker.flush()
        typer.echo(f"logged to run {run_id} in {tracker.uri}")


def register(app: typer.Typer) -> None:
    app.command("evaluate")(evaluate)


def _event(source: str, job, experiment: str, which: str, log: bool) -> None:  # noqa: ANN001
    """``--event``: the verification, its table, the report, and the scores in MLflow."""
    from gensemble.core.tracking import Tracker
    from gensemble.events.job import run_event
    from gensemble.inference.loaded import LoadedModel, experiment_of
    from gensemble.inference.resolve import resolve_checkpoint

    path = resolve_checkpoint(source, job.tracking_uri, experiment, which)
    loaded = LoadedModel(path)
    outcome = run_event(loaded, path, job)
    res = outcome.verification
    for row in res.table:
        if np.isfinite(row.lo):
            typer.echo(
                f"{row.ensemble:>9s} {row.score:<28s} {row.value:.4g} [{row.lo:.4g}, {row.hi:.4g}]"
                f" {row.units}"
            )
    for d in res.diffs:
        mark = "significant" if d.significant else "not significant"
        typer.echo(f"{d.ensemble} - raw {d.score}: {d.diff:+.4g} ({mark})")
    for note in res.notes:
        typer.echo(f"note: {note}")
    typer.echo(f"report: {outcome.report}")
    run_id = loaded.meta.run_id
    if log and run_id:
        exp = experiment_of(loaded.meta)
        tracker = Tracker(job.tracking_uri or exp.tracking_uri(), exp.tracking.experiment)
        tracker.attach(run_id)
        scalars = {
            f"event/{job.event}/{r.ensemble}/{r.score.replace(':', '/')}": r.value
            for r in res.table
            if np.isfinite(r.value)
        }
        tracker.log_metrics(scalars, loaded.meta.step)
        tracker.log_artifact(outcome.report, f"events/{job.event}")
        tracker.flush()
        typer.echo(f"logged to run {run_id} in {tracker.uri}")

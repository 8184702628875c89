"""``gensemble evaluate``: score a trained generator against a store with metric plugins."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
import typer

from gensemble.core.errors import UserError


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
) -> None:
    """Generate N members, compare them with N real fields, print and log the metrics."""
    from gensemble.core.tracking import Tracker
    from gensemble.data.loader import split_indices
    from gensemble.data.store import Store, check_store_matches
    from gensemble.evaluation.context import EvalContext
    from gensemble.evaluation.runner import build_metrics, print_table, run_metrics, save_result
    from gensemble.inference.loaded import LoadedModel, experiment_of
    from gensemble.inference.resolve import resolve_checkpoint

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

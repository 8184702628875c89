"""``gensemble enrich`` and ``gensemble calibrate``: StyleGAN forecasts from real ensembles."""

from __future__ import annotations

import json
import logging
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import typer

from gensemble.commands._flags import flag_names
from gensemble.core.errors import UserError

LOG = logging.getLogger(__name__)

URI_HELP = "tracking URI (default: MLFLOW_TRACKING_URI or sqlite:///mlflow.db)"
TAG_CALIBRATION = "gensemble.calibration"


@contextmanager
def _user_errors(date_flag: str):  # noqa: ANN202
    """Settings built from the flags that their models refuse (pydantic) become one-line
    errors, and library errors about one argument name its flag; any other exception is
    a bug and keeps its traceback."""
    from pydantic import ValidationError

    try:
        with flag_names(date=date_flag):
            yield
    except ValidationError as exc:
        first = exc.errors()[0]
        raise UserError(f"{'.'.join(map(str, first['loc']))}: {first['msg']}") from None


def _floats(text: str | None) -> float | list[float] | None:
    if text is None:
        return None
    values = [float(v) for v in text.split(",") if v.strip()]
    return values[0] if len(values) == 1 else values


def _ints(text: str | None) -> list[int] | None:
    return None if text is None else [int(v) for v in text.split(",") if v.strip()]


def _enricher(source: str, uri: str | None, experiment: str, which: str, device: str):  # noqa: ANN202
    from gensemble.enrichment.pipeline import Enricher
    from gensemble.inference.loaded import LoadedModel
    from gensemble.inference.resolve import resolve_checkpoint

    path = resolve_checkpoint(source, uri, experiment, which)
    return Enricher(LoadedModel(path), device), path


def read_calibration(ref: str, uri: str | None) -> dict[str, Any]:
    """A calibration record from a JSON file, a calibration run, or a model run tagged
    with its calibration."""
    path = Path(ref)
    if path.is_file():
        try:
            return json.loads(path.read_text())
        except json.JSONDecodeError as exc:
            raise UserError(f"--calibration {ref}: not JSON ({exc})") from None
    from gensemble.core.tracking import Tracker

    tracker = Tracker(uri)
    tracker.check(create=False)
    try:
        run = tracker.client.get_run(ref)
        run_id = run.data.tags.get(TAG_CALIBRATION, ref)
        folder = tracker.client.download_artifacts(run_id, "calibration")
    except Exception:
        raise UserError(
            f"--calibration {ref}: neither a calibration file nor a run with a calibration "
            f"in {tracker.uri}"
        ) from None
    return json.loads((Path(folder) / "calibration.json").read_text())


def enrich(
    source: str = typer.Argument(..., help="RUN_ID, models:/NAME/VERSION or checkpoint"),
    members: Path = typer.Option(None, "--members", help="CF netCDF/GRIB ensemble"),
    data: Path = typer.Option(None, "--data", help="or: a prepared store"),
    date: str = typer.Option(None, "--date", help="with --data: forecast reference time"),
    lead: float = typer.Option(None, "--lead", help="with --data: lead time (hours)"),
    n: int = typer.Option(120, "-n", min=1, help="output members per forecast"),
    out: Path = typer.Option(..., "--out", help="output CF netCDF (.nc)"),
    hybrid: bool = typer.Option(False, help="keep the input members among the N"),
    calibration: str = typer.Option(None, help="calibration file or run id (a, b)"),
    a: str = typer.Option(None, help="mixing toward the mean, one value or one per row"),
    b: str = typer.Option(None, help="perturbation scale, one value or one per row"),
    levels: str = typer.Option(None, help="perturbed resolution levels (0 coarsest)"),
    prior_levels: str = typer.Option(None, help="levels perturbed from the prior"),
    steps: int = typer.Option(1000, min=1, help="inversion steps"),
    noise: str = typer.Option("const", help="noise maps: const or optimize (then reused)"),
    loss: str = typer.Option("mse", help="inversion loss: mse or mae"),
    seed: int = typer.Option(0, help="seed of every random draw"),
    holdout: int = typer.Option(0, min=0, help="score against the last K members, held back"),
    compile_: bool = typer.Option(
        False, "--compile", help="torch.compile the generator (CUDA: with CUDA graphs)"
    ),
    device: str = typer.Option("cpu"),
    uri: str = typer.Option(None, help=URI_HELP),
    experiment_name: str = typer.Option("gensemble", "--experiment"),
    which: str = typer.Option("last", help="last or best checkpoint of a run"),
) -> None:
    """Enlarge a real forecast ensemble: invert its members, perturb, write N members."""
    import numpy as np

    from gensemble.core.progress import progress
    from gensemble.enrichment.invert import InversionConfig
    from gensemble.enrichment.io import read_file, read_store, sha256, write_forecast
    from gensemble.enrichment.perturb import PerturbConfig

    if (members is None) == (data is None):
        raise UserError("give the input ensemble with --members FILE or --data STORE")
    if data is not None and (date is None or lead is None):
        raise UserError("--data needs --date (forecast reference time) and --lead (hours)")
    with _user_errors("--date"):
        inv_cfg = InversionConfig(steps=steps, noise=noise, loss=loss, seed=seed)
        given = {"a": _floats(a), "b": _floats(b), "levels": _ints(levels)}
        given["prior_levels"] = _ints(prior_levels)
        if calibration:
            from gensemble.enrichment.calibrate import perturb_from_record

            base = perturb_from_record(read_calibration(calibration, uri), calibration)
        else:
            base = PerturbConfig()
        update = {k: v for k, v in given.items() if v is not None} | {"seed": seed}
        cfg = PerturbConfig.model_validate(base.model_dump() | update)
        enricher, path = _enricher(source, uri, experiment_name, which, device)
        loaded = enricher.loaded
        if compile_:  # inversion differentiates once through synthesis: compilable
            mode = "reduce-overhead" if str(device).startswith("cuda") else None
            loaded.model.compile_networks(mode=mode, training=False)
        if members is not None:
            cases = read_file(members, loaded.variables, loaded.grid)
        else:
            cases = read_store(data, loaded.variables, tuple(loaded.meta.shape), date, lead)
        held = []
        if holdout:
            if cases[0].members.shape[0] - holdout < 2:
                raise UserError(f"--holdout {holdout} leaves fewer than 2 members to invert")
            held = [c.members[-holdout:] for c in cases]
            for c in cases:
                c.members, c.member_ids = c.members[:-holdout], c.member_ids[:-holdout]
        outputs = []
        total = steps * sum(c.members.shape[0] for c in cases)
        with progress() as bar:
            task = bar.add_task("invert", total=total)
            for case in cases:
                outputs.append(
                    enricher.enrich(
                        case.members,
                        n,
                        inv_cfg,
                        cfg,
                        hybrid,
                        lambda k: bar.update(task, advance=k),
                    )
                )
    plan = enricher.plan(cfg)
    provenance = {
        "checkpoint": str(path),
        "checkpoint_sha256": sha256(path),
        "run_id": str(loaded.meta.run_id),
        "training_step": int(loaded.meta.step),
        "perturbation_a": plan.a.tolist(),
        "perturbation_b": plan.b.tolist(),
        "perturbation": cfg.model_dump(mode="json"),
        "calibration": calibration or "none",
        "seed": seed,
        "inversion": inv_cfg.model_dump(mode="json"),
        "inversion_steps_run": [o["inversion"].steps for o in outputs],
        "hybrid": int(hybrid),
    }
    written = write_forecast(
        out, loaded.grid, loaded.meta.domain.name, loaded.variables, cases, outputs, provenance
    )
    rmse = np.stack([o["rmse"] for o in outputs]).mean(axis=(0, 1))
    detail = ", ".join(f"{v} {e:.3g}" for v, e in zip(loaded.variables, rmse, strict=True))
    typer.echo(f"wrote {written}: {len(cases)} forecast(s) x {n} members")
    typer.echo(f"reconstruction RMSE (mean over members): {detail}")
    if holdout:
        _print_holdout(loaded.variables, cases, outputs, held)


def _print_holdout(variables: list[str], cases: list, outputs: list, held: list) -> None:
    import numpy as np
    from rich.console import Console
    from rich.table import Table

    from gensemble.enrichment.scores import holdout_table

    observed = np.concatenate(held)
    raw = np.concatenate([c.members for c in cases])
    gen = np.concatenate([o["fields"][o["generated"] == 1] for o in outputs])
    rows = holdout_table(
        variables,
        observed,
        {
            f"raw ({cases[0].members.shape[0]})": raw,
            f"enriched ({int(outputs[0]['generated'].sum())})": gen,
            "hybrid": np.concatenate([raw, gen]),
        },
    )
    table = Table(title=f"against {held[0].shape[0]} held-back members per forecast")
    table.add_column("score")
    for label in rows:
        table.add_column(label, justify="right")
    for key in sorted(next(iter(rows.values()))):
        table.add_row(key, *(f"{rows[label].get(key, float('nan')):.4g}" for label in rows))
    Console(width=140).print(table)


def calibrate(
    source: str = typer.Argument(..., help="RUN_ID, models:/NAME/VERSION or checkpoint"),
    data: Path = typer.Option(..., "--data", help="store with past forecasts"),
    dates: str = typer.Option(..., "--dates", help="forecast reference times, comma-separated"),
    leads: str = typer.Option(None, "--leads", help="lead times (h); default: all of a date"),
    objective: str = typer.Option("crps", help="crps (leave-half-out) or reference (L1)"),
    n: int = typer.Option(32, "-n", min=2, help="members generated per forecast"),
    steps: int = typer.Option(300, min=1, help="inversion steps"),
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
    import numpy as np

    from gensemble.core.atomic import atomic_path
    from gensemble.core.progress import progress
    from gensemble.data.store import Store
    from gensemble.enrichment.calibrate import Calibration, CalibrationConfig, split_members
    from gensemble.enrichment.calibrate import calibrate as run_calibration
    from gensemble.enrichment.invert import InversionConfig
    from gensemble.enrichment.io import read_store
    from gensemble.enrichment.perturb import PerturbConfig

    with _user_errors("--dates"):
        cfg = CalibrationConfig(
            objective=objective, n=n, evals=evals, seed=seed, per_level=per_level
        )
        inv_cfg = InversionConfig(steps=steps, seed=seed)
        base = PerturbConfig(levels=_ints(levels), seed=seed)
        enricher, path = _enricher(source, uri, experiment_name, which, device)
        loaded = enricher.loaded
        if not Path(data).exists():
            raise UserError(f"--data {data} does not exist")
        store = Store(Path(data))
        forecasts = []
        for d in [x.strip() for x in dates.split(",") if x.strip()]:
            try:
                ref = np.datetime64(d, "s")
            except ValueError:
                raise UserError(f"--dates: {d!r} is not an ISO date/time") from None
            if leads:
                hours = [float(h) for h in leads.split(",")]
            else:
                valid = store.times()
                lead_h = store.lead_times().astype(float)
                starts = valid - (np.nan_to_num(lead_h) * 3600).astype("timedelta64[s]")
                hours = sorted(set(lead_h[starts == ref].tolist()))
            for h in hours or [0.0]:
                case = read_store(data, loaded.variables, tuple(loaded.meta.shape), d, h)[0]
                forecasts.append(case.members)
        with progress() as bar:
            per = steps * sum(len(split_members(m, objective)[0]) for m in forecasts)
            task = bar.add_task("invert", total=per)
            calib = Calibration(
                enricher, forecasts, cfg, inv_cfg, base, lambda k: bar.update(task, advance=k)
            )
        record = run_calibration(calib)
    record |= {"checkpoint": str(path), "run_id": loaded.meta.run_id, "dates": dates}
    with atomic_path(out) as tmp:
        tmp.write_text(json.dumps(record, indent=1))
    typer.echo(
        f"{objective} objective {record['value_before']:.4g} -> {record['value_after']:.4g} "
        f"over {len(forecasts)} forecast(s); wrote {out}"
    )
    if log and loaded.meta.run_id:
        _log_calibration(record, out, loaded.meta.run_id, uri, loaded.meta.experiment)


def _log_calibration(
    record: dict, out: Path, model_run: str, uri: str | None, experiment: dict
) -> None:
    import tempfile

    from gensemble.core.tracking import TAG_PARENT, Tracker

    tracking = experiment.get("tracking") or {}
    parent = Tracker(uri or tracking.get("uri"), tracking.get("experiment", "gensemble"))
    try:
        parent.attach(model_run)
    except UserError:
        LOG.warning(
            "run %s is not in %s: the calibration is only in %s", model_run, parent.uri, out
        )
        return
    tracker = Tracker(uri or tracking.get("uri"), tracking.get("experiment", "gensemble"))
    run_id = tracker.start(
        f"calibrate <- {model_run[:8]}",
        {TAG_PARENT: model_run, "gensemble.kind": "calibration"},
    )
    tracker.log_params({f"calibration.{k}": v for k, v in record["settings"].items()})
    tracker.log_metrics(
        {"calibration/before": record["value_before"], "calibration/after": record["value_after"]},
        0,
    )
    with tempfile.TemporaryDirectory() as tmp:  # the artifact's name is fixed
        copy = Path(tmp) / "calibration.json"
        copy.write_text(out.read_text())
        tracker.log_artifact(copy, "calibration")
    tracker.end()
    parent.set_tags({TAG_CALIBRATION: run_id})
    typer.echo(f"logged calibration run {run_id}; tagged run {model_run}")


def register(app: typer.Typer) -> None:
    app.command("enrich")(enrich)
    app.command("calibrate")(calibrate)

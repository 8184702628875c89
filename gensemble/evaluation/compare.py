"""Side-by-side comparison of runs from their MLflow metric histories.

Values are compared at the *same training step* (steps every run logged), so a transfer
run and a from-scratch run with the same step budget are judged fairly: by default the
first common step (where each run starts from, step 0 when ``eval_every`` is set) and the
last one.
"""

from __future__ import annotations

import csv
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gensemble.api.metric_result import EVAL_PREFIX
from gensemble.core.errors import UserError
from gensemble.core.server_errors import lookup_failure
from gensemble.core.tracking import TAG_DOMAIN, TAG_SOURCE_DOMAIN, TAG_SOURCE_STEP

LOG = logging.getLogger(__name__)


@dataclass
class RunCurves:
    run_id: str
    label: str
    keys: set[str]
    curves: dict[str, dict[int, float]] = field(default_factory=dict)


def run_label(run: Any) -> str:
    t = run.data.tags
    origin = (
        f"from {t[TAG_SOURCE_DOMAIN]}@{t.get(TAG_SOURCE_STEP, '?')}"
        if TAG_SOURCE_DOMAIN in t
        else "scratch"
    )
    return f"{run.info.run_name or run.info.run_id[:8]} ({t.get(TAG_DOMAIN, '?')}, {origin})"


def load_runs(client: Any, run_ids: list[str]) -> list[RunCurves]:
    if len(set(run_ids)) != len(run_ids):
        raise UserError("compare: a run is named twice")
    out = []
    for rid in run_ids:
        try:
            run = client.get_run(rid)
        except Exception as exc:
            raise lookup_failure(exc, f"run {rid!r}", None) from None
        out.append(RunCurves(rid, run_label(run), set(run.data.metrics)))
    return out


def choose_metrics(runs: list[RunCurves], requested: list[str]) -> list[str]:
    """Requested keys (``swd/mean`` also finds ``eval/swd/mean``), else every ``eval/``
    metric all runs logged, else the losses."""
    common = set.intersection(*(r.keys for r in runs))
    if requested:
        chosen = []
        for key in requested:
            full = f"{EVAL_PREFIX}{key}"
            hit = key if key in common else full if full in common else None
            if hit is None:
                keys = sorted(common, key=lambda k: (not k.startswith(EVAL_PREFIX), k))
                avail = ", ".join(keys[:12]) + (", ..." if len(keys) > 12 else "") or "none"
                raise UserError(
                    f"compare: metric {key!r} is not logged by every run; common: {avail}"
                )
            chosen.append(hit)
        return chosen
    chosen = sorted(k for k in common if k.startswith(EVAL_PREFIX))
    return chosen or sorted(k for k in common if k.startswith("loss_"))


def fetch(client: Any, runs: list[RunCurves], metrics: list[str]) -> None:
    for r in runs:
        for key in metrics:
            r.curves[key] = {m.step: m.value for m in client.get_metric_history(r.run_id, key)}


def comparison_rows(
    runs: list[RunCurves], metrics: list[str], steps: list[int] | None = None
) -> list[tuple[str, str, list[float]]]:
    """(metric, step label, value per run) at steps every run logged."""
    rows = []
    for key in metrics:
        common = sorted(set.intersection(*(set(r.curves[key]) for r in runs)))
        if steps:
            missing = [s for s in steps if s not in common]
            if missing:
                raise UserError(
                    f"compare: {key} is not logged at step(s) {missing} by every run; "
                    f"common steps: {common[:20]}"
                )
            chosen = list(steps)
        else:
            chosen = sorted({common[0], common[-1]}) if common else []
        if not chosen:
            rows.append((key, "last", [r.curves[key][max(r.curves[key])] for r in runs]))
        for s in chosen:
            rows.append((key, str(s), [r.curves[key][s] for r in runs]))
    return rows


def write_csv(path: Path, runs: list[RunCurves], rows: list[tuple[str, str, list[float]]]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["metric", "step", *(r.run_id for r in runs)])
        for key, step, values in rows:
            w.writerow([key, step, *(f"{v:.6g}" for v in values)])
    return path


def comparison_figure(runs: list[RunCurves], metrics: list[str], path: Path) -> Path:
    """One panel per metric: each run's curve against training step."""
    from gensemble.evaluation import figures

    ncols = min(len(metrics), 3)
    nrows = -(-len(metrics) // ncols)
    fig = figures.pyplot().figure(figsize=(4.6 * ncols, 3.4 * nrows))
    for i, key in enumerate(metrics):
        ax = fig.add_subplot(nrows, ncols, i + 1)
        for r in runs:
            pts = sorted(r.curves[key].items())
            ax.plot([p[0] for p in pts], [p[1] for p in pts], marker="o", ms=3, label=r.label)
        ax.set_title(key, fontsize=9)
        ax.set_xlabel("step")
        ax.grid(alpha=0.3)
    fig.axes[0].legend(fontsize=7)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=90)
    figures.close(fig)
    return path


@dataclass
class Comparison:
    """Runs side by side: their curves, the table rows, the figure and the CSV written."""

    runs: list[RunCurves]
    rows: list[tuple[str, str, list[float]]]
    figure: Path
    csv: Path


def compare_runs(
    run_ids: list[str],
    metrics: list[str],
    steps: list[int] | None,
    out: Path,
    uri: str | None,
    log: bool = True,
) -> Comparison:
    """The named (or every common ``eval/``) metrics of two or more runs at equal steps;
    the figure and table are also logged to each run when ``log``."""
    from gensemble.core.tracking import Tracker

    if len(run_ids) < 2:
        raise UserError("a comparison needs at least two run ids")
    tracker = Tracker(uri)
    tracker.check(create=False)
    runs = load_runs(tracker.client, run_ids)
    keys = choose_metrics(runs, metrics)
    if not keys:
        raise UserError("the runs have no metric in common")
    fetch(tracker.client, runs, keys)
    rows = comparison_rows(runs, keys, steps)
    figure = comparison_figure(runs, keys, out)
    csv_path = write_csv(out.with_suffix(".csv"), runs, rows)
    if log:
        for r in runs:
            run_tracker = Tracker(uri)
            run_tracker.run_id = r.run_id
            run_tracker.log_artifact(figure, "compare")
            run_tracker.log_artifact(csv_path, "compare")
    return Comparison(runs, rows, figure, csv_path)

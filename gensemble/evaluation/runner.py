"""Run a list of metric plugins on two sample sets; print, save and log what they return."""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from rich.console import Console
from rich.table import Table

from gensemble.api.metric_context import EvalContext
from gensemble.api.metric_result import MetricResult
from gensemble.core.registry import get_registry
from gensemble.evaluation.figures import close

LOG = logging.getLogger(__name__)


def build_metrics(refs: list[Any]) -> list[Any]:
    """Metric plugins from names or ``{name, options}`` refs (unknown names are errors)."""
    registry = get_registry()
    out = []
    for ref in refs:
        name = ref if isinstance(ref, str) else ref.name
        options = {} if isinstance(ref, str) else ref.options
        out.append(registry.get("metric", name)(options))
    return out


def run_metrics(
    metrics: list[Any], real: torch.Tensor, fake: torch.Tensor, ctx: EvalContext
) -> tuple[MetricResult, dict[str, float]]:
    """Every metric on the same two sets (each validates them: see ``validation``)."""
    result, timings = MetricResult(), {}
    for m in metrics:
        t0 = time.perf_counter()
        result.update(m.compute(real, fake, ctx))
        timings[m.name] = time.perf_counter() - t0
    return result, timings


def print_table(
    result: MetricResult, title: str = "metrics", console: Console | None = None
) -> None:
    table = Table(title=title)
    table.add_column("metric")
    table.add_column("value", justify="right")
    for key in sorted(result.scalars):
        if key in result.undefined:
            table.add_row(key, f"[yellow]undefined: {result.undefined[key]}[/yellow]")
        else:
            table.add_row(key, f"{result.scalars[key]:.6g}")
    (console or Console(width=120)).print(table)


def save_result(result: MetricResult, folder: Path) -> list[Path]:
    """scalars.json (undefined scores as null), undefined.json (their reasons), maps.npz
    and one PNG per figure; returns the files written."""
    folder.mkdir(parents=True, exist_ok=True)
    files = [folder / "scalars.json"]
    values = {k: (None if k in result.undefined else v) for k, v in result.scalars.items()}
    files[0].write_text(json.dumps(values, indent=1, sort_keys=True))
    if result.undefined:
        files.append(folder / "undefined.json")
        files[-1].write_text(json.dumps(result.undefined, indent=1, sort_keys=True))
    if result.maps:
        path = folder / "maps.npz"
        np.savez_compressed(path, **{k.replace("/", "__"): v for k, v in result.maps.items()})
        files.append(path)
    for name, fig in result.figures.items():
        path = folder / f"{name}.png"
        fig.savefig(path, dpi=90)
        close(fig)
        files.append(path)
    return files

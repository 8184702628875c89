"""What a study says: its answer in words, a JSON record, and a terminal table.

The answer is computed from the paired intervals, whatever it is: for each enrichment
method, on which variables and scores it beats the resampling control (which needs no
generator) and the raw ensemble, where it loses, where the test dates cannot tell, and
how much of the raw-to-oracle gap it closes.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import numpy as np

from gensemble.core.atomic import atomic_path
from gensemble.study.bootstrap import Estimate
from gensemble.study.scores import SCORE_BY_NAME, SCORES

LOG = logging.getLogger(__name__)

#: the scores the answer and the terminal table are about
HEADLINE = ("crps", "crps_fair", "brier_q99", "bss_q99", "spread_skill", "crps_max")
#: the scores the answer weighs (the question: distribution and risk)
VERDICT = ("crps", "brier_q90", "brier_q99", "crps_max")


def _fmt(x: float | None, digits: int = 4) -> str:
    return "n/a" if x is None or not np.isfinite(x) else f"{x:.{digits}g}"


def interval_text(e: Estimate) -> str:
    if not np.isfinite(e.lo):
        return _fmt(e.value)
    return f"{_fmt(e.value)} [{_fmt(e.lo, 3)}, {_fmt(e.hi, 3)}]"


def _tally(res: Any, ens: str, other: str) -> tuple[list[str], list[str], list[str]]:
    """Cells (variable score) where ``ens`` is better / worse than ``other`` beyond the
    interval, and those the test dates cannot decide."""
    better, worse, open_ = [], [], []
    for var in res.variables:
        for s in VERDICT:
            d = res.scores.diffs.get((ens, other, var, s))
            if d is None or not np.isfinite(d.value):
                continue
            cell = f"{var} {s}"
            (better if d.significant and d.hi < 0 else worse if d.significant else open_).append(
                cell
            )
    return better, worse, open_


def answer(res: Any) -> list[str]:
    """Plain sentences: each method against the control, the raw ensemble and the oracle."""
    lines = []
    ref = res.reference
    first = res.config.methods[0].name
    for m in res.config.methods[1:]:
        b, w, o = _tally(res, m.name, first)
        lines.append(
            f"{m.name} vs {first} (noise {m.noise}, sampling {m.sampling}, objective "
            f"{m.objective}): better in {len(b)}, worse in {len(w)}, undecided in {len(o)}"
        )
    for m in res.config.methods:
        for ens in (m.name, f"{m.name}:hybrid") if m.hybrid else (m.name,):
            for other in ("resample", ref):
                b, w, o = _tally(res, ens, other)
                lines.append(
                    f"{ens} vs {other}: better in {len(b)}, worse in {len(w)}, undecided in "
                    f"{len(o)} of {len(b) + len(w) + len(o)} (variable, score) cells"
                    + (f"; better: {', '.join(b)}" if b else "")
                    + (f"; worse: {', '.join(w)}" if w else "")
                )
            if res.oracle:
                gaps = [res.scores.gap.get((ens, v, "crps")) for v in res.variables]
                text = ", ".join(
                    f"{v} {interval_text(g)}" for v, g in zip(res.variables, gaps, strict=True) if g
                )
                lines.append(f"{ens}: share of the raw-to-oracle CRPS gap closed: {text}")
    return lines


def to_json(res: Any) -> dict[str, Any]:
    sc = res.scores
    scores: dict[str, Any] = {}
    for (ens, var, s), e in sc.scores.items():
        scores.setdefault(ens, {}).setdefault(var, {})[s] = e.to_json()
    diffs: dict[str, Any] = {}
    for (ens, ref, var, s), e in sc.diffs.items():
        diffs.setdefault(f"{ens} - {ref}", {}).setdefault(var, {})[s] = e.to_json()
    gap: dict[str, Any] = {}
    for (ens, var, s), e in sc.gap.items():
        gap.setdefault(ens, {}).setdefault(var, {})[s] = e.to_json()
    refs = res.dates
    return {
        "format": "gensemble-study/1",
        "name": res.config.name,
        "config": res.config.model_dump(mode="json"),
        "source": res.source,
        "split": {k: [str(refs[i]) for i in v] for k, v in res.split.as_dict().items()},
        "variables": res.variables,
        "ensembles": res.members,
        "reference": res.reference,
        "oracle": res.oracle,
        "thresholds": res.climate.thresholds,
        "calibration": [f.__dict__ for f in res.fitted],
        "blocks": sc.blocks,
        "bootstrap": sc.reps,
        "scores": scores,
        "differences": diffs,
        "gap_closed": gap,
        "score_direction": {s.name: s.better for s in SCORES},
        "quality": res.quality.to_json() if res.quality else None,
        "reconstruction_rmse": res.reconstruction,
        "timings": res.timings,
        "notes": res.notes,
        "answer": answer(res),
        "checkpoint": str(res.checkpoint),
        "generator_run": res.generator_run,
        "conditional_generators": res.conditional_generators,
    }


def write_json(res: Any, path: Path) -> Path:
    with atomic_path(path) as tmp:
        Path(tmp).write_text(json.dumps(to_json(res), indent=1, default=str))
    return path


def print_tables(res: Any, console: Any) -> None:
    """Per variable: every ensemble's headline scores, and the difference from the raw
    ensemble (negative: better) with its 95 % interval for CRPS and Brier >q99."""
    from rich.table import Table

    for var in res.variables:
        table = Table(title=f"{res.config.name}: {var} ({res.scores.blocks} test blocks)")
        table.add_column("ensemble")
        table.add_column("N", justify="right")
        for s in HEADLINE:
            table.add_column(SCORE_BY_NAME[s].label, justify="right")
        for s in ("crps", "brier_q99"):
            table.add_column(f"Δ{SCORE_BY_NAME[s].label} vs {res.reference}", justify="right")
        for ens in res.ensembles:
            row = [ens, str(res.members[ens])]
            row += [_fmt(res.scores.scores[(ens, var, s)].value) for s in HEADLINE]
            for s in ("crps", "brier_q99"):
                d = res.scores.diffs.get((ens, res.reference, var, s))
                row.append(interval_text(d) if d else "")
            table.add_row(*row)
        console.print(table)
    for line in answer(res):
        console.print(line)
    for name, per_var in res.reconstruction.items():
        text = ", ".join(f"{v} {x:.3g}" for v, x in per_var.items())
        console.print(f"reconstruction RMSE, {name}: {text}")

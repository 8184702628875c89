"""The study's self-contained HTML page (figures embedded as PNG, so it opens offline).

It says first what the truth is (a synthetic system's own draw, or a held-out member),
then the answer in words, the score tables with 95 % intervals, the paired differences,
the share of the raw-to-oracle gap closed, and the figures: scores against ensemble size
(raw 1, 2, 4 ... M, the enlarged ensembles at N, the oracle at every size), rank
histograms, reliability diagrams above the 90th percentile and the members' spectra.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np

from gensemble.core.atomic import atomic_path
from gensemble.evaluation import ensemble_scores as es
from gensemble.events.report import _png
from gensemble.study.outputs import HEADLINE, answer, interval_text
from gensemble.study.scores import SCORE_BY_NAME, SCORES

LOG = logging.getLogger(__name__)


def _shown(res: Any) -> list[str]:
    """The ensembles drawn in histograms and diagrams (the curves show the others)."""
    keep = [res.reference, *[m.name for m in res.config.methods], "resample", "climate"]
    return [e for e in keep + ([res.oracle] if res.oracle else []) if e in res.members]


def size_figure(res: Any, score: str) -> str:
    from gensemble.evaluation.figures import pyplot

    plt = pyplot()
    variables = res.variables
    fig, axes = plt.subplots(1, len(variables), figsize=(3.6 * len(variables), 3.2))
    for ax, var in zip(np.atleast_1d(axes), variables, strict=True):
        for prefix, style in (("raw-", "o-"), ("oracle-", "s--")):
            names = [e for e in res.ensembles if e.startswith(prefix)]
            if not names:
                continue
            sizes = [res.members[e] for e in names]
            vals = [res.scores.scores[(e, var, score)].value for e in names]
            ax.plot(sizes, vals, style, label=prefix.rstrip("-"))
        for e in res.ensembles:
            if e.startswith(("raw-", "oracle-")):
                continue
            est = res.scores.scores[(e, var, score)]
            yerr = None
            if np.isfinite(est.lo):
                yerr = [[est.value - est.lo], [est.hi - est.value]]
            ax.errorbar([res.members[e]], [est.value], yerr=yerr, fmt="^", capsize=3, label=e)
        ax.set_xscale("log", base=2)
        ax.set_title(f"{var}: {SCORE_BY_NAME[score].label}", fontsize=9)
        ax.set_xlabel("members")
    np.atleast_1d(axes)[-1].legend(fontsize=6)
    return _png(fig)


def _per_variable(res: Any) -> tuple[Any, list[tuple[Any, str]]]:
    """A figure with one panel per variable, and (axes, variable) pairs."""
    from gensemble.evaluation.figures import pyplot

    fig, axes = pyplot().subplots(1, len(res.variables), squeeze=False,
                                  figsize=(3.4 * len(res.variables), 3.2))  # fmt: skip
    return fig, list(zip(axes[0], res.variables, strict=True))


def rank_figure(res: Any) -> str:
    """One panel per variable: each ensemble's rank histogram as a step line, ranks
    scaled to [0, 1] and frequencies x (N + 1), so ensembles of any size share the axes
    (a flat histogram is the line at 1)."""
    fig, panels = _per_variable(res)
    for ax, var in panels:
        for ens in _shown(res):
            counts = res.table.total(ens, var, "rank")
            freq = counts / max(counts.sum(), 1) * len(counts)
            ax.stairs(freq, np.linspace(0, 1, len(freq) + 1), lw=0.9, label=ens)
        ax.axhline(1.0, color="k", lw=0.6, ls=":")
        ax.set_title(f"{var}: rank of the truth", fontsize=9)
        ax.set_xlabel("rank / (N + 1)")
    panels[-1][0].legend(fontsize=6)
    return _png(fig)


def reliability_figure(res: Any) -> str:
    fig, panels = _per_variable(res)
    for ax, var in panels:
        ax.plot([0, 1], [0, 1], "k:", lw=0.8)
        for ens in _shown(res):
            curve = es.reliability_curve(res.table.total(ens, var, "rel_q90"))
            keep = curve.count > 0
            ax.plot(curve.mean_p[keep], curve.freq[keep], ".-", ms=3, lw=0.8, label=ens)
        thr = res.climate.thresholds[var]["q90"]
        ax.set_title(f"{var} > {thr:.3g} (q90)", fontsize=9)
        ax.set_xlabel("forecast probability")
    panels[-1][0].legend(fontsize=6)
    return _png(fig)


def spectrum_figure(res: Any) -> str:
    fig, panels = _per_variable(res)
    for ax, var in panels:
        ref = res.reference
        truth = res.table.total(ref, var, "spec_truth")
        k = np.arange(1, len(truth))
        ax.loglog(k, truth[1:], "k-", lw=1.5, label="truth")
        for ens in _shown(res):
            ax.loglog(k, res.table.total(ens, var, "spec")[1:], lw=0.8, label=ens)
        ax.set_title(f"{var}: power spectrum", fontsize=9)
        ax.set_xlabel("wavenumber (cycles per domain)")
    panels[-1][0].legend(fontsize=6)
    return _png(fig)


def compact(value: Any) -> str:
    """(a or b) per style row, shortly: one number when every row has it (a dash for a
    method that has none: conditional sampling)."""
    if value is None:
        return "-"
    values = [float(v) for v in np.atleast_1d(value)]
    if len(set(values)) == 1:
        return f"{values[0]:.3g}" + (" (every row)" if len(values) > 1 else "")
    return ", ".join(f"{v:.3g}" for v in values)


def _score_rows(res: Any, var: str) -> list[list[str]]:
    rows = []
    for ens in res.ensembles:
        row = [ens, str(res.members[ens])]
        row += [interval_text(res.scores.scores[(ens, var, s.name)]) for s in SCORES]
        rows.append(row)
    return rows


def _diff_rows(res: Any, var: str) -> list[dict[str, Any]]:
    rows = []
    pairs = sorted({(e, r) for e, r, v, _ in res.scores.diffs if v == var},
                   key=lambda p: (p[1], res.ensembles.index(p[0])))  # fmt: skip
    for ens, ref in pairs:
        cells = []
        for s in HEADLINE:
            d = res.scores.diffs[(ens, ref, var, s)]
            cls = "" if not d.significant else ("good" if d.hi < 0 else "bad")
            cells.append({"text": interval_text(d), "cls": cls})
        rows.append({"name": f"{ens} − {ref}", "cells": cells})
    return rows


def write_report(res: Any, path: Path) -> Path:
    import jinja2

    env = jinja2.Environment(
        loader=jinja2.PackageLoader("gensemble.study", "templates"),
        autoescape=jinja2.select_autoescape(["html", "j2"]),
    )
    gap = []
    if res.oracle:
        for ens in res.ensembles:
            if ens.startswith(("raw-", "oracle-")):
                continue
            gap.append([ens] + [interval_text(res.scores.gap[(ens, v, "crps")])
                                for v in res.variables])  # fmt: skip
    env.filters["compact"] = compact
    page = env.get_template("study_report.html.j2").render(
        res=res,
        answer=answer(res),
        scores=SCORES,
        headline=[SCORE_BY_NAME[s] for s in HEADLINE],
        tables={v: _score_rows(res, v) for v in res.variables},
        diffs={v: _diff_rows(res, v) for v in res.variables},
        gap=gap,
        figures={
            "CRPS against ensemble size": size_figure(res, "crps"),
            "Brier score above the 99th percentile against ensemble size": size_figure(
                res, "brier_q99"
            ),
            "Rank histograms (frequency x (N + 1): 1 is flat)": rank_figure(res),
            "Reliability above the 90th percentile": reliability_figure(res),
            "Members' mean power spectrum against the truth's": spectrum_figure(res),
        },
        split={k: len(v) for k, v in res.split.as_dict().items()},
    )
    with atomic_path(path) as tmp:
        Path(tmp).write_text(page)
    return path

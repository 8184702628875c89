"""One self-contained HTML page per event evaluation: the score table with intervals,
enriched - raw differences and whether they are significant, exceedance-probability maps
of each ensemble side by side, reliability diagrams and rank histograms.  Figures are
embedded as PNG data, so the page opens offline; coastlines and relief come from the
domain's land-sea mask / orography (never downloaded)."""

from __future__ import annotations

import base64
import html
import io
import logging
from pathlib import Path
from typing import Any

import numpy as np

from gensemble.events.verify import ScoreDiff, ScoreRow, Verification

LOG = logging.getLogger(__name__)


def _png(fig: Any) -> str:
    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90, bbox_inches="tight")
    plt.close(fig)
    return base64.b64encode(buf.getvalue()).decode()


def _outline(ax: Any, lon: np.ndarray, lat: np.ndarray, static: dict, region) -> None:  # noqa: ANN001
    """Coast (land-sea mask 0.5), relief (orography 500 m) and the event's region."""
    if "lsm" in static:
        ax.contour(lon, lat, static["lsm"], levels=[0.5], colors="k", linewidths=0.8)
    if "orog" in static:
        ax.contour(lon, lat, static["orog"], levels=[500, 1500], colors="0.5", linewidths=0.4)
    poly = np.asarray(list(region) + [region[0]])
    ax.plot(poly[:, 0], poly[:, 1], "r-", lw=1.2)


def figures(res: Verification, lon: np.ndarray, lat: np.ndarray, static: dict, region) -> list:  # noqa: ANN001
    """(title, base64 PNG) of every figure of the report."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out = []
    fig, ax = plt.subplots(figsize=(5, 4))
    ax.pcolormesh(lon, lat, static.get("orog", np.zeros_like(lon)), cmap="terrain", shading="auto")
    _outline(ax, lon, lat, static, region)
    ax.set_title(f"{res.event}: region on the domain")
    out.append(("Region", _png(fig)))
    for label, maps in res.maps.items():
        names = list(maps)
        fig, axes = plt.subplots(1, len(names), figsize=(3.2 * len(names), 3.2), squeeze=False)
        rows, cols = np.where(np.isfinite(maps[names[-1]]))
        sl = (slice(rows.min(), rows.max() + 1), slice(cols.min(), cols.max() + 1))
        for ax, name in zip(axes[0], names, strict=True):
            im = ax.pcolormesh(lon[sl], lat[sl], maps[name][sl], vmin=0, vmax=1, cmap="Blues",
                               shading="auto")  # fmt: skip
            _outline(ax, lon[sl], lat[sl], {k: v[sl] for k, v in static.items()}, region)
            ax.set_title(f"{name}: P({label})" if name != "truth" else f"observed {label}")
        fig.colorbar(im, ax=axes[0].tolist(), shrink=0.8)
        out.append((f"Probability of exceedance, {label}", _png(fig)))
    for label, rel in res.reliability.items():
        fig, (a1, a2) = plt.subplots(1, 2, figsize=(9, 3.5))
        a1.plot([0, 1], [0, 1], "k:", lw=0.8)
        sharp = a1.inset_axes([0.62, 0.08, 0.35, 0.3])  # sharpness: cases per level
        for name, (mean_p, freq, count) in rel.items():
            seen = count > 0
            a1.plot(mean_p[seen], freq[seen], "o-", label=name)
            sharp.plot(mean_p[seen], count[seen], ".-", lw=0.8)
        sharp.set_yscale("log")
        sharp.set_title("count", fontsize=7)
        sharp.tick_params(labelsize=6)
        a1.set(
            xlabel="forecast probability", ylabel="observed frequency", title=f"reliability {label}"
        )
        a1.legend(fontsize=7)
        for name, counts in res.ranks[label].items():
            freq = counts / max(counts.sum(), 1)
            a2.plot(
                np.linspace(0, 1, len(freq)), freq * len(freq), drawstyle="steps-mid", label=name
            )
        a2.axhline(1, color="k", lw=0.8, ls=":")
        a2.set(
            xlabel="normalised rank", ylabel="frequency x (N + 1)", title=f"rank histogram {label}"
        )
        out.append((f"Reliability and rank histograms, {label}", _png(fig)))
    return out


def _num(v: float) -> str:
    return "" if not np.isfinite(v) else f"{v:.4g}"


def _pivot(rows: list[ScoreRow] | list[ScoreDiff], value: str, significant: bool = False) -> str:
    """Scores down, ensembles across; each cell ``value [lo, hi]`` (differences whose
    interval excludes 0 are marked and coloured)."""
    scores = list(dict.fromkeys(r.score for r in rows))
    names = list(dict.fromkeys(r.ensemble for r in rows))
    cell = {(r.score, r.ensemble): r for r in rows}
    head = "<th>score</th>" + "".join(f"<th>{html.escape(n)}</th>" for n in names)
    body = []
    for sc in scores:
        tds = [f"<td>{html.escape(sc)}</td>"]
        for n in names:
            r = cell.get((sc, n))
            if r is None:
                tds.append("<td></td>")
                continue
            text = _num(getattr(r, value))
            if np.isfinite(r.lo):
                text += f" [{_num(r.lo)}, {_num(r.hi)}]"
            mark = significant and getattr(r, "significant", False)
            tds.append(f"<td class='sig'>{text} *</td>" if mark else f"<td>{text}</td>")
        body.append("<tr>" + "".join(tds) + "</tr>")
    return f"<table><tr>{head}</tr>{''.join(body)}</table>"


def write_report(
    path: Path, res: Verification, event: Any, figs: list[tuple[str, str]], meta: dict[str, Any]
) -> Path:
    """The HTML page (written atomically)."""
    from gensemble.core.atomic import atomic_path

    ens = ", ".join(f"{k} ({v} members)" for k, v in res.ensembles.items())
    parts = [
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>",
        f"<title>{html.escape(event.title)}</title>",
        "<style>body{font-family:sans-serif;max-width:1100px;margin:auto}"
        "table{border-collapse:collapse;font-size:12px}td,th{border:1px solid #ccc;"
        "padding:2px 6px}.sig{color:#b00}</style></head><body>",
        f"<h1>{html.escape(event.title)}</h1>",
        f"<p>{html.escape(event.start)} .. {html.escape(event.end)}; truth: {res.truth}; "
        f"{res.n_cases} cases; ensembles: {html.escape(ens)}.</p>",
        f"<p>Observed: {html.escape(event.observed)}</p>",
        "<p>Sources: " + "; ".join(html.escape(s) for s in event.sources) + "</p>",
        "<p>" + html.escape(", ".join(f"{k}: {v}" for k, v in meta.items())) + "</p>",
        "<h2>Scores (95 % bootstrap intervals over cases and members)</h2>",
        _pivot(res.table, "value"),
        "<h2>Differences from the raw ensemble (paired over cases)</h2>",
        "<p>* the 95 % interval of the difference excludes 0 (lower is better for CRPS and "
        "Brier, higher for ROC area).</p>",
        _pivot(res.diffs, "diff", significant=True),
    ]
    if res.notes:
        parts.append(
            "<h2>Notes</h2><ul>"
            + "".join(f"<li>{html.escape(n)}</li>" for n in res.notes)
            + "</ul>"
        )
    for title, data in figs:
        name = html.escape(title)
        parts.append(f"<h2>{name}</h2><img alt='{name}' src='data:image/png;base64,{data}'>")
    parts.append("</body></html>")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp:
        Path(tmp).write_text("\n".join(parts), encoding="utf-8")
    return path

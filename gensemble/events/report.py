"""One self-contained HTML page per event evaluation, for a forecaster.

The page says first what the data are (synthetic store, held-out member as truth,
in-sample event: :mod:`.provenance`), then the score table - units, which way is better,
95 % intervals, the cases, independent blocks and observations each score rests on -, the
differences from the raw ensemble with their significance, and the maps: probability of
exceedance averaged over the window's cases, on the domain's projection with real
coastlines and borders (:mod:`.geography`), reliability diagrams with their sharpness
counts and rank histograms.  Figures are embedded PNG, so the page opens offline; the page
is rendered from a Jinja2 template (``templates/event_report.html.j2``).
"""

from __future__ import annotations

import base64
import io
import logging
from pathlib import Path
from typing import Any

import numpy as np

from gensemble.events.geography import MapFrame
from gensemble.events.provenance import Provenance
from gensemble.events.verify import ScoreDiff, ScoreRow, Verification, direction

LOG = logging.getLogger(__name__)


def _png(fig: Any) -> str:
    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90, bbox_inches="tight")
    plt.close(fig)
    return base64.b64encode(buf.getvalue()).decode()


def draw_region(ax: Any, frame: MapFrame, static: dict, region) -> None:  # noqa: ANN001
    """Coastlines and borders, relief where the data carry a real one (500 and 1500 m),
    and the event's region in red, on the domain's projection."""
    if "orog" in static:
        ax.contour(
            frame.x_km, frame.y_km, static["orog"], levels=[500, 1500], colors="0.6", linewidths=0.4
        )
    frame.draw(ax)
    poly = np.asarray(list(region) + [region[0]], dtype=float)
    # the polygon's edges densified so they bend with the projection
    t = np.linspace(0, 1, 20)[:-1]
    dense = np.concatenate(
        [a + (b - a) * t[:, None] for a, b in zip(poly[:-1], poly[1:], strict=True)]
    )
    x, y = frame.to_km(dense[:, 0], dense[:, 1])
    ax.plot(np.append(x, x[0]), np.append(y, y[0]), "r-", lw=1.2)


def region_figure(event: Any, domain: Any, out: Path) -> Path:
    """PNG of an event's region on a domain (``gensemble events show --out``): real
    coastlines and borders, and the domain's relief only where it is real."""
    from gensemble.core.atomic import atomic_path
    from gensemble.evaluation.figures import pyplot

    plt = pyplot()
    grid = domain.grid()
    lon, lat = grid.lonlat()
    frame = MapFrame.of(grid, lon, lat)
    static = dict(domain.static_fields())
    fig, ax = plt.subplots(figsize=(6, 5))
    if "orog" in static:
        im = ax.pcolormesh(frame.x_km, frame.y_km, static["orog"], cmap="terrain", shading="auto")
        fig.colorbar(im, ax=ax, shrink=0.7, label="orography (m)")
    draw_region(ax, frame, static, event.region)
    ax.set_title(f"{event.title}\n{event.start} .. {event.end} UTC on {domain.name}", fontsize=9)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(out) as tmp:
        fig.savefig(tmp, dpi=100, bbox_inches="tight", format="png")
    plt.close(fig)
    return out


def figures(res: Verification, data: Any, static: dict, region) -> list:  # noqa: ANN001
    """(title, base64 PNG) of every figure of the report."""
    from gensemble.evaluation.figures import pyplot

    plt = pyplot()
    frame = MapFrame.of(data.grid, data.lon, data.lat)
    out = []
    fig, ax = plt.subplots(figsize=(5, 4.5))
    if "orog" in static:
        im = ax.pcolormesh(frame.x_km, frame.y_km, static["orog"], cmap="terrain", shading="auto")
        fig.colorbar(im, ax=ax, shrink=0.7, label="orography (m)")
    draw_region(ax, frame, static, region)
    ax.set_title(f"{res.event}: region (red) on the domain", fontsize=9)
    out.append(("Region", _png(fig)))
    for label, maps in res.maps.items():
        names = list(maps)
        fig, axes = plt.subplots(1, len(names), figsize=(3.3 * len(names), 3.4), squeeze=False)
        rows, cols = np.where(np.isfinite(maps["truth"]))
        pad = 3
        sl = (
            slice(max(rows.min() - pad, 0), rows.max() + 1 + pad),
            slice(max(cols.min() - pad, 0), cols.max() + 1 + pad),
        )
        sub = frame.sub(sl)
        for ax, name in zip(axes[0], names, strict=True):
            im = ax.pcolormesh(
                sub.x_km, sub.y_km, maps[name][sl], vmin=0, vmax=1, cmap="Blues", shading="auto"
            )
            draw_region(ax, sub, {k: v[sl] for k, v in static.items()}, region)
            what = "frequency observed" if name == "truth" else "mean probability"
            ax.set_title(f"{name}: {what}", fontsize=8)
        fig.colorbar(
            im, ax=axes[0].tolist(), shrink=0.8, label=f"P({res.thresholds.get(label, label)})"
        )
        fig.suptitle(
            f"{res.thresholds.get(label, label)}: mean over the {res.n_cases} cases of the window",
            fontsize=9,
        )
        out.append((f"Probability of exceedance, {res.thresholds.get(label, label)}", _png(fig)))
    for label, rel in res.reliability.items():
        fig, (a1, a2) = plt.subplots(1, 2, figsize=(9, 3.5))
        a1.plot([0, 1], [0, 1], "k:", lw=0.8)
        sharp = a1.inset_axes([0.62, 0.08, 0.35, 0.3])  # sharpness: cases per level
        for name, (mean_p, freq, count) in rel.items():
            seen = count > 0
            a1.plot(mean_p[seen], freq[seen], "o-", label=name)
            sharp.plot(mean_p[seen], count[seen], ".-", lw=0.8)
        sharp.set_yscale("log")
        sharp.set_title("forecasts per level", fontsize=7)
        sharp.tick_params(labelsize=6)
        a1.set(
            xlabel="forecast probability",
            ylabel="observed frequency",
            title=f"reliability, {res.thresholds.get(label, label)}",
        )
        a1.legend(fontsize=7)
        for name, counts in res.ranks[label].items():
            freq = counts / max(counts.sum(), 1)
            a2.plot(
                np.linspace(0, 1, len(freq)), freq * len(freq), drawstyle="steps-mid", label=name
            )
        a2.axhline(1, color="k", lw=0.8, ls=":")
        a2.set(
            xlabel="normalised rank",
            ylabel="frequency x (N + 1)",
            title=f"rank histogram, {label.rsplit('_gt', 1)[0]}",
        )
        out.append(
            (f"Reliability and rank histograms, {res.thresholds.get(label, label)}", _png(fig))
        )
    return out


def _num(v: float) -> str:
    return "" if not np.isfinite(v) else f"{v:.4g}"


def _table(rows: list[ScoreRow] | list[ScoreDiff], value: str, flags: dict) -> dict[str, Any]:
    """Scores down, ensembles across, for the template."""
    scores = list(dict.fromkeys(r.score for r in rows))
    names = list(dict.fromkeys(r.ensemble for r in rows))
    cell = {(r.score, r.ensemble): r for r in rows}
    body = []
    for sc in scores:
        first = next(r for r in rows if r.score == sc)
        info = cell.get((sc, "raw"), first)
        cells = []
        for n in names:
            r = cell.get((sc, n))
            if r is None:
                cells.append({"text": "", "significant": False})
            elif (n, sc) in flags:
                cells.append({"text": f"n/a: {flags[(n, sc)]}", "significant": False})
            else:
                text = _num(getattr(r, value))
                if np.isfinite(r.lo):
                    text += f" [{_num(r.lo)}, {_num(r.hi)}]"
                cells.append({"text": text, "significant": getattr(r, "significant", False)})
        body.append(
            {
                "score": sc,
                "units": getattr(info, "units", ""),
                "better": direction(sc),
                "cases": getattr(info, "cases", ""),
                "blocks": getattr(info, "blocks", ""),
                "observations": getattr(info, "observations", ""),
                "stations": getattr(info, "stations", None),
                "cells": cells,
            }
        )
    return {"names": names, "rows": body}


def write_report(
    path: Path,
    res: Verification,
    event: Any,
    figs: list[tuple[str, str]],
    meta: dict[str, Any],
    prov: Provenance,
) -> Path:
    """The HTML page (written atomically)."""
    import jinja2

    from gensemble.core.atomic import atomic_path

    env = jinja2.Environment(
        loader=jinja2.PackageLoader("gensemble.events", "templates"),
        autoescape=jinja2.select_autoescape(["html", "j2"]),
        undefined=jinja2.StrictUndefined,
    )
    page = env.get_template("event_report.html.j2").render(
        event=event,
        res=res,
        prov=prov,
        meta=meta,
        scores=_table(res.table, "value", res.flags),
        diffs=_table(res.diffs, "diff", {}),
        figures=figs,
        stations=any(r.stations is not None for r in res.table),
    )
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp:
        Path(tmp).write_text(page, encoding="utf-8")
    return path

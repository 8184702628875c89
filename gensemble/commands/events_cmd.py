"""``gensemble events list|show`` and the event verification behind ``evaluate --event``."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import typer

from gensemble.core.errors import UserError

LOG = logging.getLogger(__name__)

events_app = typer.Typer(help="The catalogue of high-impact events.", no_args_is_help=True)


@events_app.command("list")
def list_events() -> None:
    """Every registered event (built-in and partners'), checked against the variables."""
    from rich.console import Console
    from rich.table import Table

    from gensemble.core.registry import get_registry
    from gensemble.data.variables import known_variables

    registry = get_registry()
    units = {n: v.units for n, v in known_variables().items()}
    table = Table(title="events")
    for col in ("name", "title", "window (UTC)", "domains", "thresholds", "package", "check"):
        table.add_column(col)
    for name in registry.names("event"):
        ev = registry.get("event", name)
        bad = ev.problems(units)
        table.add_row(
            name,
            ev.title,
            f"{ev.start} .. {ev.end}",
            ", ".join(ev.domains),
            ", ".join(t.label for t in ev.thresholds),
            registry.info("event", name).distribution,
            "ok" if not bad else "; ".join(bad),
        )
    Console().print(table)


@events_app.command("show")
def show_event(
    name: str = typer.Argument(...),
    domain: str = typer.Option(None, "--domain", help="draw the region on this domain"),
    opt: list[str] = typer.Option([], "--opt", help="domain option KEY=VALUE"),
    out: Path = typer.Option(None, "--out", help="PNG of the region on the domain"),
) -> None:
    """An event's definition, sources, and its region drawn on a domain."""
    from gensemble.commands.data_cmd import domain_from_cli
    from gensemble.events.selection import get_event

    ev = get_event(name)
    info = {
        "name": ev.name,
        "title": ev.title,
        "window": [ev.start, ev.end],
        "domains": list(ev.domains),
        "region": [list(p) for p in ev.region],
        "thresholds": [t.label + f" {t.units}" for t in ev.thresholds],
        "observed": ev.observed,
        "sources": list(ev.sources),
    }
    dom_name = domain or ev.domains[0]
    dom = domain_from_cli(dom_name, opt)
    lon, lat = dom.grid().lonlat()
    points = int(ev.mask(lon, lat).sum())
    info["points_on_domain"] = {dom_name: points}
    typer.echo(json.dumps(info, indent=1, ensure_ascii=False))
    if points == 0:
        raise UserError(f"event {name}: its region has no point of domain {dom_name}'s grid")
    if out is not None:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        from gensemble.data.synth import synthetic_orography
        from gensemble.events.report import _outline

        static = dict(dom.static_fields()) or {"orog": synthetic_orography(dom.grid(), dom.name)}
        fig, ax = plt.subplots(figsize=(6, 5))
        ax.pcolormesh(lon, lat, static["orog"], cmap="terrain", shading="auto")
        _outline(ax, lon, lat, static, ev.region)
        ax.set_title(f"{ev.title}\n{ev.start} .. {ev.end} on {dom_name}", fontsize=9)
        out.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(out, dpi=100, bbox_inches="tight")
        typer.echo(f"wrote {out}")


def evaluate_event(
    loaded: Any,
    path: Path,
    event_name: str,
    data: Path,
    obs: Path | None,
    enrich: int,
    calibration: str | None,
    opts: dict[str, Any],
) -> tuple[Path, Any]:
    """``gensemble evaluate RUN --event NAME --data STORE``: the report's path and the
    :class:`~gensemble.events.verify.Verification`."""
    import numpy as np

    from gensemble.data.store import Store, check_store_matches
    from gensemble.enrichment.invert import InversionConfig
    from gensemble.enrichment.perturb import PerturbConfig
    from gensemble.enrichment.pipeline import Enricher
    from gensemble.events.report import figures, write_report
    from gensemble.events.selection import get_event, select_event
    from gensemble.events.truth import read_stations
    from gensemble.events.verify import VerifyConfig, build_ensembles, verify

    event = get_event(event_name)
    if not Path(data).exists():
        raise UserError(f"--data {data} does not exist")
    store = Store(Path(data))
    check_store_matches(store, loaded.variables, tuple(loaded.meta.shape), f"the model {path}")
    sel = select_event(store, event, loaded.variables)
    stations = None
    if obs is not None:
        stations = read_stations(obs, store.grid, sel.mask, sel.valid, loaded.variables)
    cfg = VerifyConfig(
        enrich=enrich,
        rotations=opts.get("rotations", 2),
        bootstrap=opts.get("bootstrap", 200),
        seed=opts.get("seed", 0),
        steps=opts.get("steps", 100),
    )
    if calibration:
        from gensemble.enrichment.calibrate import perturb_from_record
        from gensemble.enrichment.calibration_job import read_calibration

        pcfg = perturb_from_record(read_calibration(calibration, opts.get("uri")), calibration)
    else:
        pcfg = PerturbConfig(seed=cfg.seed)
    icfg = InversionConfig(steps=cfg.steps, seed=cfg.seed)
    enricher = Enricher(loaded, opts.get("device", "cpu"))
    ens, truth, group, valid = build_ensembles(sel, enricher, cfg, pcfg, icfg, stations is None)
    res = verify(sel, ens, truth, group, valid, stations, cfg)
    static = {k: np.asarray(v) for k, v in store.static().items()}
    figs = figures(res, sel.lon, sel.lat, static, event.region)
    meta = {
        "checkpoint": path.name,
        "store": Path(data).name,
        "cases": len(np.unique(sel.valid)),
        "members": sel.members.shape[1],
        "bootstrap": cfg.bootstrap,
    }
    report = Path(opts.get("report") or path.parent.parent / "eval" / f"event_{event.name}.html")
    write_report(report, res, event, figs, meta)
    return report, res


def register(app: typer.Typer) -> None:
    app.add_typer(events_app, name="events")

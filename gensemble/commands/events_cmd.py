"""``gensemble events list|show`` and the event verification behind ``evaluate --event``."""

from __future__ import annotations

import json
import logging
from pathlib import Path

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
        from gensemble.events.report import region_figure

        region_figure(ev, dom, out)
        typer.echo(f"wrote {out}")


def register(app: typer.Typer) -> None:
    app.add_typer(events_app, name="events")

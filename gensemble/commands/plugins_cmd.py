"""``gensemble plugins``: every installed plugin, who provides it, or why it failed."""

from __future__ import annotations

import json
import logging

import typer
from rich.console import Console
from rich.table import Table

from gensemble.core.errors import UserError
from gensemble.core.kinds import KINDS
from gensemble.core.registry import get_registry, unknown_name_message

LOG = logging.getLogger(__name__)


def plugins(
    kind: str = typer.Option(None, help=f"only this kind: {', '.join(KINDS)}"),
    as_json: bool = typer.Option(False, "--json", help="machine-readable output"),
) -> None:
    """List every plugin of every kind with its distribution and version, or its error."""
    if kind is not None and kind not in KINDS:
        raise UserError(unknown_name_message("plugin kind", kind, list(KINDS)))
    reg = get_registry()
    rows = [e for e in reg.entries if kind is None or e.kind == kind]
    if as_json:
        out = [
            {
                "kind": e.kind,
                "name": e.name,
                "distribution": e.distribution,
                "version": e.version,
                "description": e.description,
                "error": e.error,
            }
            for e in rows
        ]
        typer.echo(json.dumps(out, indent=2))
        return
    table = Table(title="gensemble plugins")
    for col in ("kind", "name", "distribution", "version", "description"):
        table.add_column(col)
    order = {k: i for i, k in enumerate(KINDS)}
    for e in sorted(rows, key=lambda e: (order.get(e.kind, 3), e.name)):
        desc = f"[red]ERROR: {e.error}[/red]" if e.error else e.description
        table.add_row(e.kind, e.name, e.distribution, e.version, desc)
    Console(width=160).print(table)


def register(app: typer.Typer) -> None:
    app.command("plugins")(plugins)

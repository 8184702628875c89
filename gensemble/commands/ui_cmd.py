"""``gensemble ui``: the MLflow UI on the project's tracking store, on 127.0.0.1."""

from __future__ import annotations

import logging

import typer

from gensemble.core.ui_server import start_ui

LOG = logging.getLogger(__name__)


def ui(
    uri: str = typer.Option(None, help="tracking URI (default: MLFLOW_TRACKING_URI or sqlite)"),
    port: int = typer.Option(5000, help="port on 127.0.0.1"),
) -> None:
    """Start the MLflow UI bound to 127.0.0.1."""
    raise typer.Exit(start_ui(uri, port))


def register(app: typer.Typer) -> None:
    app.command("ui")(ui)

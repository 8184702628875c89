"""``gensemble register``: a run's generator as a new version in the model registry."""

from __future__ import annotations

import logging

import typer

from gensemble.commands._common import URI_HELP

LOG = logging.getLogger(__name__)


def register_model(
    run_id: str = typer.Argument(..., help="MLflow run id"),
    name: str = typer.Option(None, help="registered model name (default DOMAIN-ARCH)"),
    which: str = typer.Option("last", help="last or best checkpoint"),
    uri: str = typer.Option(None, help=URI_HELP),
) -> None:
    """Register a run's generator as a new model version (models:/NAME/VERSION)."""
    from gensemble.commands._flags import flag_names
    from gensemble.inference.model_registry import register_checkpoint

    with flag_names(which="--which"):
        model_uri = register_checkpoint(run_id, name, which, uri)
    typer.echo(f"registered {model_uri}")


def register(app: typer.Typer) -> None:
    app.command("register")(register_model)

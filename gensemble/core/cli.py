"""The ``gensemble`` command: home of every sub-command.

User mistakes (:class:`UserError`) end as one line on stderr and exit code 2.
"""

from __future__ import annotations

import sys
import warnings

import typer

from gensemble.core.errors import UserError

app = typer.Typer(
    name="gensemble",
    help="Train and evaluate generative emulators of weather ensembles.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


def _register_commands() -> None:
    import importlib

    for name in (
        "plugins_cmd",
        "config_cmd",
        "ui_cmd",
        "runs_cmd",
        "data_cmd",
        "train_cmd",
        "evaluate_cmd",
        "transfer_cmd",
        "lineage_cmd",
        "enrich_cmd",
        "import_cmd",
        "sync_cmd",
        "events_cmd",
    ):
        importlib.import_module(f"gensemble.commands.{name}").register(app)


_register_commands()


def _one_line_warnings() -> None:
    """gensemble's own warnings (e.g. an undefined metric and why) as one line each."""
    default = warnings.formatwarning

    def fmt(message, category, filename, lineno, line=None):  # noqa: ANN001, ANN202
        if category.__module__.startswith("gensemble"):
            return f"warning: {message}\n"
        return default(message, category, filename, lineno, line)

    warnings.formatwarning = fmt


def main(argv: list[str] | None = None) -> None:
    """Entry point: run the app, turning user errors into one line and exit code 2."""
    _one_line_warnings()
    try:
        app(args=argv, prog_name="gensemble")
    except UserError as exc:
        print(f"error: {exc}", file=sys.stderr, flush=True)
        sys.exit(2)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        sys.exit(130)

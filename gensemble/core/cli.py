"""The ``gensemble`` command: home of every sub-command, and the error policy.

A :class:`UserError` ends as one line on stderr and exit code 2.  Any other exception is
a bug in gensemble: its traceback is shown, with a line saying how to report it, and the
exit code is 1.  ``--verbose``/``--quiet`` set how much the one log handler shows.
"""

from __future__ import annotations

import importlib
import logging
import sys
import traceback

import typer

from gensemble import __version__
from gensemble.core import console_log
from gensemble.core.errors import UserError

LOG = logging.getLogger(__name__)

app = typer.Typer(
    name="gensemble",
    help="Train and evaluate generative emulators of weather ensembles.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)

#: where an internal error is reported
REPORT = "the gensemble issue tracker"


@app.callback()
def _options(
    verbose: bool = typer.Option(False, "--verbose", "-v", help="show debug messages"),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="show errors only"),
) -> None:
    """Train and evaluate generative emulators of weather ensembles."""
    console_log.setup(1 if verbose else -1 if quiet else 0)


def _register_commands() -> None:
    for name in (
        "plugins_cmd",
        "config_cmd",
        "ui_cmd",
        "runs_cmd",
        "data_cmd",
        "train_cmd",
        "generate_cmd",
        "slurm_cmd",
        "evaluate_cmd",
        "transfer_cmd",
        "lineage_cmd",
        "compare_cmd",
        "register_cmd",
        "enrich_cmd",
        "calibrate_cmd",
        "import_cmd",
        "sync_cmd",
        "events_cmd",
        "study_cmd",
        "verify_cmd",
    ):
        importlib.import_module(f"gensemble.commands.{name}").register(app)


_register_commands()


def main(argv: list[str] | None = None) -> None:
    """Entry point: run the app; user errors become one line and exit code 2, anything
    else is reported as a bug with its traceback and exit code 1."""
    from gensemble.commands._flags import CLI_FLAGS, flag_names

    console_log.setup(0)
    try:
        with flag_names(**CLI_FLAGS):
            app(args=argv, prog_name="gensemble")
    except UserError as exc:
        LOG.error("%s", exc)
        sys.exit(2)
    except KeyboardInterrupt:
        LOG.error("interrupted")
        sys.exit(130)
    except Exception:  # noqa: BLE001 - the bug report, by design
        traceback.print_exc()
        LOG.error(
            "internal error in gensemble %s (a bug, not a mistake in your input): please "
            "report it on %s with the command and the traceback above",
            __version__,
            REPORT,
        )
        sys.exit(1)

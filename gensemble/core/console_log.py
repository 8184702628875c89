"""The command line's one log handler: records printed on stderr through rich.

Every module logs through ``logging.getLogger(__name__)``; the CLI installs this handler
once (:func:`setup`) at the level ``--verbose``/``--quiet`` ask for.  Python warnings
(e.g. a metric undefined on degenerate input) are routed through it too, so everything a
run reports comes out one way: one line per record, ``warning:``/``error:`` prefixed,
never wrapped (a line stays greppable in a SLURM log), coloured on a terminal.
"""

from __future__ import annotations

import logging
import warnings

from rich.console import Console
from rich.text import Text

LOG = logging.getLogger(__name__)

#: the package's root logger
ROOT = "gensemble"

_STYLES = {logging.WARNING: "yellow", logging.ERROR: "bold red", logging.DEBUG: "dim"}


class RichConsoleHandler(logging.Handler):
    """One record, one line: ``warning: ...`` / ``error: ...`` / plain for info."""

    def __init__(self, console: Console | None = None) -> None:
        super().__init__()
        self.console = console or Console(stderr=True, soft_wrap=True, highlight=False)

    def emit(self, record: logging.LogRecord) -> None:
        try:
            msg = (
                " ".join(self.format(record).split())
                if record.levelno >= logging.WARNING
                else (self.format(record))
            )
            prefix = {logging.WARNING: "warning: ", logging.ERROR: "error: "}.get(
                record.levelno, "error: " if record.levelno > logging.ERROR else ""
            )
            style = _STYLES.get(min(record.levelno, logging.ERROR), "")
            self.console.print(Text(prefix + msg, style=style), soft_wrap=True)
        except Exception:  # noqa: BLE001 - logging must never raise
            self.handleError(record)


def _warning_message(message, category, filename, lineno, file=None, line=None) -> None:  # noqa: ANN001
    """Python warnings as log records: gensemble's own as their message alone."""
    logger = logging.getLogger(
        category.__module__ if category.__module__.startswith(ROOT) else "py.warnings"
    )
    if category.__module__.startswith(ROOT):
        logger.warning(str(message))
    else:
        logger.warning(warnings.formatwarning(message, category, filename, lineno, line).strip())


def setup(verbosity: int = 0) -> None:
    """Install the handler on the root logger: ``verbosity`` -1 shows errors only, 0 (the
    default) warnings and progress notes, 1 debug records too.  Idempotent."""
    level = {-1: logging.ERROR, 0: logging.INFO, 1: logging.DEBUG}[max(-1, min(1, verbosity))]
    root = logging.getLogger()
    for h in list(root.handlers):
        if isinstance(h, RichConsoleHandler):
            root.removeHandler(h)
    root.addHandler(RichConsoleHandler())
    root.setLevel(logging.WARNING)  # other libraries: warnings and worse
    logging.getLogger(ROOT).setLevel(level)
    logging.getLogger("py.warnings").setLevel(logging.WARNING if verbosity >= 0 else logging.ERROR)
    warnings.showwarning = _warning_message

"""The error policy: what is the user's to fix, and what is a bug.

Library code raises a :class:`UserError` (or one of its kinds below) for anything the
user can fix - a bad config key, an unknown plugin, a corrupted file, NaNs in data, a
checkpoint of another architecture, a server that cannot be reached - in the library's
own words.  Where a message is about one argument of a library call, ``option`` names
that parameter, and the command line maps it to its flag (``commands/_flags.py``); the
message itself never names a command-line flag, so it reads right from Python too.

The CLI prints a :class:`UserError` as one line and exits 2.  Every other exception is a
bug: the CLI shows its traceback and exits 1.
"""

from __future__ import annotations

import logging

LOG = logging.getLogger(__name__)


class UserError(Exception):
    """A mistake by the user, reported as one line and exit code 2.

    ``option`` is the library parameter (or setting) the message is about, if any; a
    command that knows its flag adds it to the message."""

    def __init__(self, message: str, option: str | None = None) -> None:
        super().__init__(" ".join(str(message).split()))
        self.option = option


class ConfigError(UserError):
    """An experiment file or setting that is not valid."""


class DataError(UserError):
    """An input file that is missing, unreadable, corrupted or holds invalid values."""


class PluginError(UserError):
    """An unknown plugin, or one that lacks what a task needs."""


class CheckpointError(UserError):
    """A checkpoint that cannot be used here (another architecture, format or shape)."""


class NotFoundError(UserError):
    """A run, model or file that the tracking server or the disk does not have."""


class ServerUnreachable(UserError):
    """A tracking or model server that could not be reached (network, DNS, TLS, or
    refused credentials): said as such, never as "not found"."""


def one_line(exc: BaseException) -> str:
    """Collapse an exception message onto one line (for wrapping library errors)."""
    text = " ".join(str(exc).split())
    return text or type(exc).__name__

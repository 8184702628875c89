"""User-facing errors.

A :class:`UserError` is a mistake the user can fix (bad config key, unknown plugin,
corrupted file, NaNs in data, incompatible checkpoint).  The CLI prints its message
as a single line on stderr and exits with status 2, never with a traceback.
"""

from __future__ import annotations


class UserError(Exception):
    """A mistake by the user, reported as one line and exit code 2."""

    def __init__(self, message: str) -> None:
        super().__init__(" ".join(str(message).split()))


def one_line(exc: BaseException) -> str:
    """Collapse an exception message onto one line (for wrapping library errors)."""
    text = " ".join(str(exc).split())
    return text or type(exc).__name__

"""Command-line flag names for library errors about one argument.

Library code says which parameter an error is about (``UserError.option``) in its own
words; a command wraps its call in :func:`flag_names` with the mapping from those
parameter names to its flags, so the one-line error tells the user which flag to change.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager

from gensemble.core.errors import UserError

LOG = logging.getLogger(__name__)


@contextmanager
def flag_names(**flags: str) -> Iterator[None]:
    """Re-raise a :class:`UserError` about a mapped parameter with its flag named."""
    try:
        yield
    except UserError as exc:
        flag = flags.get(exc.option or "")
        if flag is None:
            raise
        raise type(exc)(f"{flag}: {exc}") from None  # named once: no option left


#: the flags the commands give the library's parameters, where every command that takes
#: the parameter names it alike (a command with another name wraps its call itself)
CLI_FLAGS = {
    "overrides": "--set",
    "obs": "--obs",
    "w_avg": "--w-avg",
    "format": "--format",
    "overwrite": "--overwrite",
    "noise": "--noise",
    "space": "--latent-space",
    "out": "--out",
    "store": "--data",
    "n": "-n",
    "variables": "--variables",
    "domain_options": "--opt",
    "data": "--data",
    "event_metrics": "--event-metrics",
}

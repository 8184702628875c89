"""What several commands share: the tracking URI help, comma-separated lists, and the
settings models' refusals as one-line errors naming the flag."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager

from gensemble.commands._flags import flag_names
from gensemble.core.errors import UserError

LOG = logging.getLogger(__name__)

URI_HELP = "tracking URI (default: MLFLOW_TRACKING_URI or sqlite:///mlflow.db)"


def floats(text: str | None) -> float | list[float] | None:
    if text is None:
        return None
    try:
        values = [float(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise UserError(f"{text!r} is not a number or a comma-separated list of them") from None
    return values[0] if len(values) == 1 else values


def ints(text: str | None) -> list[int] | None:
    if text is None:
        return None
    try:
        return [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise UserError(f"{text!r} is not a comma-separated list of integers") from None


@contextmanager
def settings_errors(**flags: str) -> Iterator[None]:
    """Settings built from the flags that their models refuse (pydantic) become one-line
    errors, and library errors about one argument name its flag; any other exception is
    a bug and keeps its traceback."""
    from pydantic import ValidationError

    try:
        with flag_names(**flags):
            yield
    except ValidationError as exc:
        first = exc.errors()[0]
        raise UserError(f"{'.'.join(map(str, first['loc']))}: {first['msg']}") from None

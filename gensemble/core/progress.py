"""Rich progress bars for long work (shown on stderr, quiet when not a terminal in CI)."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

LOG = logging.getLogger(__name__)


def progress() -> Progress:
    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=Console(stderr=True),
        transient=False,
    )


@contextmanager
def work_bar(label: str) -> Iterator[tuple[Callable[[int], None], Callable[[int], None]]]:
    """A bar for work whose size is known once it starts: yields ``(on_start(total),
    on_step(k))``, the callbacks library jobs take."""
    with progress() as bar:
        task = bar.add_task(label, total=None)
        yield (lambda total: bar.update(task, total=total)), (lambda k: bar.update(task, advance=k))

"""``gensemble verify ARCHIVE --data STORE``: score a season archive against the truth."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import typer

LOG = logging.getLogger(__name__)

#: the scores the table shows (the JSON holds every one)
SHOWN = ("crps", "brier_q90", "spread_skill", "crps_max")


def verify(
    archive: Path = typer.Argument(..., help="archive made by gensemble enrich --out X.zarr"),
    data: Path = typer.Option(
        ...,
        "--data",
        help="the store the archive was made from, with its truth (data prepare --truth)",
    ),  # fmt: skip
    bootstrap: int = typer.Option(200, min=0, help="bootstrap replicates (0: no intervals)"),
    seed: int = typer.Option(0),
    member_chunk: int = typer.Option(
        0, "--member-chunk", min=0, help="members read at once (0: the archive's chunk)"
    ),
    fss_scale: int = typer.Option(5, "--fss-scale", min=1, help="FSS window (grid points)"),
    block_hours: float = typer.Option(
        24.0, "--block-hours", min=1, help="bootstrap blocks: windows of valid times (h)"
    ),
    event: str = typer.Option(None, "--event", help="only the cases valid during this event"),
    out: Path = typer.Option(None, "--out", help="JSON of every score (default: beside it)"),
    log: bool = typer.Option(True, help="log the scores to the run of the archive's generator"),
    uri: str = typer.Option(None, help="tracking URI (default: the generator's experiment's)"),
) -> None:
    """Score the raw and enlarged ensembles of every finished case of ARCHIVE against the
    store's truth, case by case in flat memory, with paired bootstrap intervals."""
    from gensemble.core.atomic import atomic_path
    from gensemble.core.progress import progress
    from gensemble.enrichment.archive_verify import (
        VerifyArchiveJob,
        log_verification,
        verify_archive,
    )

    job = VerifyArchiveJob(archive, data, bootstrap, seed, member_chunk, fss_scale, block_hours,
                           event)  # fmt: skip
    with progress() as bar:
        task = bar.add_task("cases", total=None)
        res = verify_archive(job, lambda i, total: bar.update(task, completed=i, total=total))
    _print(res)
    path = out or Path(archive).with_suffix(".verification.json")
    with atomic_path(path) as tmp:
        Path(tmp).write_text(json.dumps(res.to_json(), indent=1))
    typer.echo(f"wrote {path}")
    if log:
        typer.echo(log_verification(res, path, uri))


def _print(res) -> None:  # noqa: ANN001 - an ArchiveVerification
    from rich.console import Console
    from rich.table import Table

    from gensemble.study.scores import SCORE_BY_NAME

    s = res.scores
    console = Console(width=160)
    skipped = ", ".join(f"{c} {why}" for why, c in res.skipped.items() if c) or "none"
    typer.echo(f"{res.cases} cases in {s.blocks} blocks of {res.scores.reps} replicates; "
               f"left out: {skipped}; thresholds from {res.thresholds_from}; "
               f"{res.member_chunk} members read at once")  # fmt: skip
    for var in res.variables:
        table = Table(title=f"{var}: score [95 % interval]; difference from {res.reference}")
        table.add_column("ensemble")
        for name in SHOWN:
            table.add_column(SCORE_BY_NAME[name].label, justify="right")
        for ens in res.ensembles:
            cells = []
            for name in SHOWN:
                e = s.scores[(ens, var, name)]
                cell = f"{e.value:.4g}"
                d = s.diffs.get((ens, res.reference, var, name))
                if d is not None:
                    mark = "*" if d.significant else ""
                    cell += f" ({d.value:+.3g} [{d.lo:+.3g}, {d.hi:+.3g}]{mark})"
                elif s.reps:
                    cell += f" [{e.lo:.4g}, {e.hi:.4g}]"
                cells.append(cell)
            table.add_row(f"{ens} ({res.ensembles[ens]})", *cells)
        console.print(table)
    typer.echo("differences are of badness (lower is better); * : the interval excludes 0")
    for note in res.notes:
        typer.echo(f"note: {note}")


def register(app: typer.Typer) -> None:
    app.command("verify")(verify)

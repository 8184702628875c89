"""``gensemble data prepare``: raw files → regridded training store for a domain.

One pass over the sources: read a batch, regrid it onto the domain grid (weights cached on
disk), check NaNs/out-of-range values, update streaming statistics, write it.  The store is
marked complete only at the end, so an interrupted prepare is never mistaken for data.
"""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

import numpy as np

from gensemble.api.plugins import DomainPlugin
from gensemble.core.errors import UserError
from gensemble.core.progress import progress
from gensemble.data.readers import RawSource, open_source
from gensemble.data.regrid import Regridder, make_regridder
from gensemble.data.stats import StreamingStats
from gensemble.data.store import QualityReport, Store, StoreWriter
from gensemble.data.variables import forward_transform

LOG = logging.getLogger(__name__)


def require_coverage(rg: Regridder, path: Path, domain: DomainPlugin) -> None:
    """Refuse a source that covers no point of the domain, naming both."""
    if rg.n_outside == rg.outside.size:
        lon0, lon1, lat0, lat1 = domain.grid().extent_lonlat()
        raise UserError(
            f"{path} does not cover domain {domain.name} "
            f"(domain spans {lon0:.2f}..{lon1:.2f}E, {lat0:.2f}..{lat1:.2f}N)"
        )


def _regridder_for(src: RawSource, domain: DomainPlugin, method: str) -> Regridder | None:
    grid = domain.grid()
    if src.grid is None:
        shape = getattr(src, "shape", None)
        if tuple(shape or ()) != grid.shape:
            raise UserError(
                f"{src.path}: samples of shape {shape} are not on the {domain.name} "
                f"grid {grid.shape}"
            )
        return None
    if isinstance(src.grid, type(grid)) and src.grid.key() == grid.key():
        return None  # already on the domain grid
    rg = make_regridder(src.grid, grid, method)  # type: ignore[arg-type]
    require_coverage(rg, src.path, domain)
    if rg.n_outside:
        LOG.warning(
            "%s covers %.1f%% of %s; %d points will be NaN",
            src.path, 100 * rg.covered_fraction, domain.name, rg.n_outside,
        )  # fmt: skip
    return rg


def _open_all(paths: list[Path], fmt: str, names: list[str], domain: DomainPlugin) -> list:
    opened = [open_source(Path(p), fmt) for p in paths]
    for src in opened:
        missing = [n for n in names if n not in src.variables]
        if missing:
            raise UserError(
                f"{src.path}: lacks {', '.join(missing)} needed by domain "
                f"{domain.name} (file has {', '.join(src.variables)})"
            )
    return opened


def _write_truth(
    writer: StoreWriter, truths: list, regridders: list, names: list[str], variables: list
) -> QualityReport:
    """The truth files' fields, one per valid time (a valid time twice is refused: which
    of the two verifies would be arbitrary)."""
    total = sum(s.n_samples for s in truths)
    writer.create_truth(total)
    quality, start, seen = QualityReport(), 0, set()
    for src, rg in zip(truths, regridders, strict=True):
        for batch in src.batches(names):
            times = np.asarray(batch.time).astype("datetime64[s]")
            for t in times.astype("int64").tolist():
                if t in seen:
                    raise UserError(
                        f"{src.path}: the truth holds valid time {np.datetime64(t, 's')} twice "
                        "(one truth field per valid time; keep one member of an analysis)"
                    )
                seen.add(t)
            block = (rg(batch.fields) if rg is not None else batch.fields).astype(np.float32)
            quality.check(block, start, variables)
            writer.write_truth(start, block, times)
            start += block.shape[0]
    return quality


def prepare_store(
    domain: DomainPlugin,
    sources: list[Path],
    out: Path,
    fmt: str = "auto",
    method: str = "bilinear",
    compression: str = "none",
    overwrite: bool = False,
    truth: list[Path] | None = None,
) -> Store:
    """``truth``: files of the verifying truth (an analysis, gridded observations), one
    field per valid time, regridded like the members and stored beside them."""
    if out.exists() and not overwrite:
        raise UserError(f"{out} exists and replacing it was not asked for", "overwrite")
    variables = domain.variables()
    names = [v.name for v in variables]
    opened = _open_all(sources, fmt, names, domain)
    truths = _open_all(truth or [], fmt, names, domain)
    regridders = [_regridder_for(s, domain, method) for s in opened]
    truth_regridders = [_regridder_for(s, domain, method) for s in truths]
    total = sum(s.n_samples for s in opened)
    if out.exists():
        shutil.rmtree(out)
    grid = domain.grid()
    writer = StoreWriter(
        out,
        total,
        grid,
        variables,
        domain.name,
        domain.options.model_dump(mode="json"),
        compression,
    )
    stats = StreamingStats(len(variables), grid.shape)
    quality = QualityReport()
    start = 0
    with progress() as bar:
        task = bar.add_task(f"prepare {domain.name}", total=total)
        for src, rg in zip(opened, regridders, strict=True):
            for batch in src.batches(names):
                block = rg(batch.fields) if rg is not None else batch.fields
                block = block.astype(np.float32, copy=False)
                quality.check(block, start, variables)
                stats.update(forward_transform(block, variables))
                writer.write(start, block, batch.time, batch.lead_time_h, batch.member)
                start += block.shape[0]
                bar.advance(task, block.shape[0])
    static = domain.static_fields()
    if not static:
        for src, rg in zip(opened, regridders, strict=True):
            if "orog" in src.variables and "orog" not in names:
                field = next(src.batches(["orog"])).fields[0, 0]
                static = {"orog": rg(field) if rg is not None else field}
                break
    writer.write_static(static)
    truth_quality = (
        _write_truth(writer, truths, truth_regridders, names, variables) if truths else None
    )
    writer.finish(
        stats.global_(),
        stats.pixel(),
        quality,
        [str(s.path) for s in opened],
        synthetic=any(s.synthetic for s in opened),
        truth_sources=[str(s.path) for s in truths],
        truth_quality=truth_quality,
    )
    if not quality.clean:
        LOG.warning(
            "%s: %s; training refuses this store unless training.allow_masked is set",
            out, quality.summary(),
        )  # fmt: skip
    return Store(out)

"""Where a study's forecasts and truths come from: a synthetic system or a real store.

Both give the same things: the forecast dates in time order, each test or calibration
case's members and truth (physical units, the model's variable order), a training store
holding the members of the train dates only, and - for a system - an oracle ensemble
drawn from the true law.  The truth is never among the members: on a system it is its
own draw; in a store the member ``truth_member`` of each forecast is set aside.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from gensemble.core.errors import DataError, UserError
from gensemble.data.stats import StreamingStats
from gensemble.data.store import QualityReport, Store, StoreWriter
from gensemble.data.variables import forward_transform
from gensemble.study.config import StoreSource, SystemSource

LOG = logging.getLogger(__name__)


@dataclass
class Case:
    """One forecast (a reference time and lead) to enlarge and score."""

    reference: np.datetime64
    valid: np.datetime64
    members: np.ndarray  # (M, C, H, W) physical, the truth excluded
    truth: np.ndarray  # (C, H, W)


def _domain(name: str, options: dict[str, Any]) -> Any:
    from gensemble.core.registry import get_registry

    return get_registry().get("domain", name)(options)


def write_subset_store(
    out: Path,
    blocks: Iterator[Sample],
    n: int,
    domain: Any,
    synthetic: bool,
    source: str,
    truth: tuple[int, Iterator[tuple[np.ndarray, np.ndarray]]] | None = None,
) -> Path:
    """A prepared store of these ``n`` samples only - the train dates' members - written
    block by block with its own statistics, so the generator and its normaliser never see
    other dates; ``truth`` (count, blocks of (fields, valid times)): those dates' truth,
    for generative post-processing."""
    variables = domain.variables()
    writer = StoreWriter(out, n, domain.grid(), variables, domain.name,
                         domain.options.model_dump(mode="json"))  # fmt: skip
    stats, quality = StreamingStats(len(variables), domain.grid().shape), QualityReport()
    start = 0
    for block in blocks:
        fields = np.ascontiguousarray(block.fields, dtype=np.float32)
        quality.check(fields, start, variables)
        stats.update(forward_transform(fields, variables))
        writer.write(start, fields, block.time, block.lead, block.member)
        start += len(fields)
    writer.write_static(domain.static_fields() or {})
    truth_quality = None
    if truth is not None and truth[0] > 0:
        writer.create_truth(truth[0])
        truth_quality, start = QualityReport(), 0
        for fields, valid in truth[1]:
            fields = np.ascontiguousarray(fields, dtype=np.float32)
            truth_quality.check(fields, start, variables)
            writer.write_truth(start, fields, valid)
            start += len(fields)
    writer.finish(stats.global_(), stats.pixel(), quality, [source], synthetic=synthetic,
                  truth_sources=[source] if truth_quality else None,
                  truth_quality=truth_quality)  # fmt: skip
    return out


@dataclass
class Sample:
    """A block of store samples: fields (n, C, H, W) with their coordinates."""

    fields: np.ndarray
    time: np.ndarray
    lead: np.ndarray
    member: np.ndarray


class SystemData:
    """A synthetic system's dates, members, truths and oracle."""

    kind = "system"

    def __init__(self, spec: SystemSource) -> None:
        from gensemble.data.synth_system import get_system, sample_system

        self.spec = spec
        self.law = get_system(spec.name)
        self.domain = _domain(spec.domain, {"ny": spec.size, "nx": spec.width or spec.size})
        self.grid = self.domain.grid()
        self.variables = [v.name for v in self.domain.variables()]
        self.sample = sample_system(self.grid, self.law, spec.dates, spec.members, spec.seed)
        self.block_hours = 24.0

    def references(self) -> np.ndarray:
        return self.sample.reference

    def valid_times(self, t: int) -> np.ndarray:
        return self.sample.valid[t : t + 1]

    def _stack(self, fields: dict[str, np.ndarray], variables: list[str]) -> np.ndarray:
        return np.stack([fields[v] for v in variables], axis=-3)

    def case(self, t: int, variables: list[str]) -> Case:
        s = self.sample
        members = self._stack({v: s.members[v][t] for v in variables}, variables)
        truth = self._stack({v: s.truth[v][t] for v in variables}, variables)
        return Case(s.reference[t], s.valid[t], members, truth)

    def climate_sample(self, n: int, first: int, variables: list[str]) -> np.ndarray:
        """n fields (n, C, H, W), one member from each of n fresh dates - dates no split
        holds - independent draws of the system's climatology (the noise floor)."""
        from gensemble.data.synth_system import draw, state

        out = []
        for i in range(n):
            t = 1_000_000 + first + i  # beyond any study's dates
            theta = state(self.grid, self.spec.seed, t)
            rng = np.random.default_rng([self.spec.seed, t, 9])
            out.append(self._stack(draw(self.grid, theta, self.law, 1, rng), variables)[0])
        return np.stack(out)

    def oracle(self, t: int, n: int, variables: list[str]) -> np.ndarray:
        from gensemble.data.synth_system import oracle

        return self._stack(oracle(self.grid, self.law, self.spec.seed, t, n), variables)

    def train_store(self, dates: list[int], out: Path) -> Path:
        s, m = self.sample, self.spec.members
        blocks = (
            Sample(
                self.case(t, self.variables).members,
                np.repeat(s.valid[t], m),
                np.full(m, 24.0),
                np.arange(m),
            )  # fmt: skip
            for t in dates
        )
        truth = ((self.case(t, self.variables).truth[None], s.valid[t : t + 1]) for t in dates)
        return write_subset_store(out, blocks, m * len(dates), self.domain, True,
                                  f"system {self.spec.name} seed {self.spec.seed}",
                                  (len(dates), truth))  # fmt: skip

    def describe(self) -> dict[str, Any]:
        from gensemble.data.synth_system import describe

        return describe(self.spec.name, self.law, self.spec.seed) | {
            "domain": self.spec.domain,
            "size": self.spec.size,
            "dates": self.spec.dates,
            "members": self.spec.members,
        }


class StoreData:
    """A real store: each forecast (reference time, lead) with one member held out."""

    kind = "store"

    def __init__(self, spec: StoreSource, inputs: int) -> None:
        if not Path(spec.path).exists():
            raise DataError(f"store {spec.path} does not exist", "store.path")
        self.spec, self.store = spec, Store(Path(spec.path))
        self.domain = _domain(self.store.domain, self.store.domain_options)
        self.grid = self.store.grid
        self.variables = self.store.variable_names
        self.block_hours = spec.block_hours
        times = self.store.times()
        lead = np.nan_to_num(self.store.lead_times().astype(float))
        keep = np.ones(len(times), bool) if spec.lead is None else np.isclose(lead, spec.lead)
        if not keep.any():
            raise DataError(f"{spec.path} holds no forecast at lead {spec.lead:g} h", "lead")
        self.ref = times - (lead * 3600).astype("timedelta64[s]")
        self.keep, self.lead, self.times = keep, lead, times
        self._refs = np.unique(self.ref[keep])
        counts = [self._indices(r).size for r in self._refs]
        short = [str(r) for r, c in zip(self._refs, counts, strict=True) if c < inputs + 1]
        if short:
            raise DataError(
                f"{spec.path}: forecasts {', '.join(short[:3])} have fewer than {inputs + 1} "
                f"members ({inputs} inputs and one held out as truth)",
                "store.path",
            )

    def _indices(self, ref: np.datetime64) -> np.ndarray:
        return np.flatnonzero(self.keep & (self.ref == ref))

    def references(self) -> np.ndarray:
        return self._refs

    def valid_times(self, t: int) -> np.ndarray:
        return self.times[self._indices(self._refs[t])]

    def cases(self, t: int, variables: list[str]) -> list[Case]:
        """Every lead of forecast t (one case per lead), its member truth_member held out."""
        idx = self._indices(self._refs[t])
        order = [self.store.variable_names.index(v) for v in variables]
        out = []
        for lead in np.unique(self.lead[idx]):
            sel = idx[np.isclose(self.lead[idx], lead)]
            fields = self.store.read(sel)[:, order]
            held = self.spec.truth_member % len(sel)
            rest = np.delete(np.arange(len(sel)), held)
            out.append(Case(self._refs[t], self.times[sel[0]], fields[rest], fields[held]))
        return out

    def train_store(self, dates: list[int], out: Path) -> Path:
        idx = np.concatenate([self._indices(self._refs[t]) for t in dates])
        members = self.store.members()
        blocks = (
            Sample(self.store.read(i), self.times[i], self.lead[i], members[i])
            for i in np.array_split(idx, max(1, len(idx) // 256))
        )
        rows = self.store.truth_rows_of(np.unique(self.times[idx]))
        rows = rows[rows >= 0]
        truth = (
            (self.store.read_truth(r), self.store.truth_times()[r])
            for r in np.array_split(rows, max(1, len(rows) // 64))
        )
        return write_subset_store(out, blocks, len(idx), self.domain, self.store.synthetic,
                                  str(self.spec.path), (len(rows), truth))  # fmt: skip

    def describe(self) -> dict[str, Any]:
        return {"store": str(self.spec.path), "truth": "held-out member",
                "truth_member": self.spec.truth_member, "domain": self.store.domain}  # fmt: skip


def open_source(cfg: Any) -> SystemData | StoreData:
    """The study's source of forecasts (a :class:`~gensemble.study.config.StudyConfig`)."""
    if cfg.system is not None:
        return SystemData(cfg.system)
    return StoreData(cfg.store, cfg.inputs)


def cases_of(source: SystemData | StoreData, t: int, variables: list[str]) -> list[Case]:
    if isinstance(source, SystemData):
        return [source.case(t, variables)]
    return source.cases(t, variables)


def check_variables(
    source: SystemData | StoreData, variables: list[str], shape: tuple[int, ...]
) -> None:
    """Refuse a generator that makes other variables or another grid than the source."""
    if tuple(shape[-2:]) != tuple(source.grid.shape):
        raise UserError(
            f"the generator makes {shape[-2]}x{shape[-1]} fields; the study's forecasts are "
            f"{source.grid.shape[0]}x{source.grid.shape[1]}"
        )
    missing = [v for v in variables if v not in source.variables]
    if missing:
        raise UserError(
            f"the generator makes {', '.join(missing)}, which the study's forecasts lack "
            f"(they hold {', '.join(source.variables)})"
        )


def describe_json(source: SystemData | StoreData) -> str:
    return json.dumps(source.describe(), default=str)

"""Event verification of StyleGAN forecasts: raw, enriched, hybrid and climate ensembles
scored on an event against observations or a held-out member, with bootstrap intervals.

* raw: the M members of each forecast in the event (M - 1 when one is held out);
* enriched: N members generated from them (inversion + perturbation, ``gensemble enrich``);
* hybrid: the raw members plus N - M of the enriched ones;
* climate: N unconditional draws of the generator (what it knows without the forecast).

Every score comes with a 95 % expanded percentile interval from resampling blocks of
cases (all cases valid within one window, whichever forecast or held-out member they come
from; see :mod:`.resampling`); differences from raw are resampled in pairs of cases, and a
difference is called significant only when its interval excludes 0 and the cases form
at least ``resampling.MIN_BLOCKS`` blocks.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from gensemble.evaluation import ensemble_scores as es
from gensemble.events import resampling as rs
from gensemble.events.groups import Group, held_out
from gensemble.events.selection import EventData
from gensemble.events.truth import Stations

LOG = logging.getLogger(__name__)


@dataclass
class VerifyConfig:
    enrich: int = 0  # N (0: raw and climate only)
    rotations: int = 2  # held-out members used as truth when there are no observations
    bootstrap: int = 200
    block_h: float = 6.0  # consecutive hours of one forecast resampled together
    scales: tuple[int, ...] = (1, 5, 11)
    seed: int = 0
    steps: int = 100  # inversion steps
    calibration: Any = None  # a/b per level (PerturbConfig) or None for the defaults


#: which way a score improves, by its name's first part
HIGHER_IS_BETTER = ("roc_area", "fss")
#: scores that are good when they match the truth's (no direction)
MATCH_TRUTH = ("objects", "q99", "q99.9")


def direction(score: str) -> str:
    """``lower``, ``higher`` or ``closer to the truth's`` for a score's name."""
    head = score.split("/", 1)[0]
    if head.startswith(HIGHER_IS_BETTER):
        return "higher"
    if head in MATCH_TRUTH:
        return "closer to the truth's"
    return "lower"


@dataclass
class ScoreRow:
    """One score of one ensemble, with its 95 % interval (NaN: none), its units, and
    how much data it rests on (cases, independent blocks, observations, stations)."""

    ensemble: str
    score: str
    value: float
    lo: float = float("nan")
    hi: float = float("nan")
    units: str = ""
    cases: int = 0
    blocks: int = 0
    observations: int = 0
    stations: int | None = None  # None: scored on the grid

    @property
    def better(self) -> str:
        return direction(self.score)


@dataclass
class ScoreDiff:
    """An ensemble's score minus the raw ensemble's, paired over cases."""

    ensemble: str
    score: str
    diff: float
    lo: float
    hi: float
    significant: bool


@dataclass
class Verification:
    """Scores, intervals and maps of one event evaluation."""

    event: str
    truth: str
    n_cases: int
    ensembles: dict[str, int]  # name -> members
    table: list[ScoreRow] = field(default_factory=list)
    diffs: list[ScoreDiff] = field(default_factory=list)
    maps: dict[str, dict[str, np.ndarray]] = field(default_factory=dict)  # thr -> ens -> PoE
    reliability: dict[str, dict[str, tuple]] = field(default_factory=dict)
    ranks: dict[str, dict[str, np.ndarray]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    #: (ensemble, score) -> why the value is not a score (e.g. it never exceeds the
    #: threshold, so its ROC area is undefined and its FSS 0 by construction)
    flags: dict[tuple[str, str], str] = field(default_factory=dict)
    #: threshold label -> "rr_24h > 100 mm", for titles and axes
    thresholds: dict[str, str] = field(default_factory=dict)


def accumulate(x: np.ndarray, valid: np.ndarray, group: np.ndarray, hours: float, step_h: float):  # noqa: ANN201
    """Sums of rates x (K, ...) over ``hours`` ending at each case, within a group (one
    forecast); (kept cases, sums), or None when no case has the whole period."""
    if hours == 1:
        return np.arange(len(valid)), x
    n = int(round(hours / step_h))
    span = np.timedelta64(int(hours * 3600), "s")
    keep, out = [], []
    for k in range(len(valid)):
        same = np.flatnonzero((group == group[k]) & (valid <= valid[k]) & (valid > valid[k] - span))
        if len(same) == n:
            keep.append(k)
            out.append(x[same].sum(axis=0) * step_h)
    return (np.asarray(keep), np.stack(out)) if keep else None


def _at(x: np.ndarray, stations: Stations | None, mask: np.ndarray) -> np.ndarray:
    """Values at the scored points: (..., H, W) -> (..., P)."""
    if stations is not None:
        return x[..., stations.rows, stations.cols]
    return x[..., mask]


def verify(
    data: EventData,
    groups: Iterable[Group],
    stations: Stations | None,
    cfg: VerifyConfig,
) -> Verification:
    """Scores of every ensemble at every threshold of the event, with intervals, summed
    group by group (:mod:`.groups`: one forecast in memory at a time).  With stations,
    each scores with the observations it has (a missing hour is left out of that hour,
    and of the sums over periods that contain it)."""
    from gensemble.events.threshold_sums import ThresholdSums

    truth = "observations" if stations is not None else "held-out member"
    res = Verification(data.event.name, truth, 0, {})
    plan: list[ThresholdSums | str] = []  # each threshold, in order: its sums or a note
    for t in data.event.thresholds:
        if t.variable not in data.variables:
            plan.append(f"{t.label}: the model does not make {t.variable}")
            continue
        res.thresholds[t.label] = f"{t.quantity} > {t.value:g} {t.units}"
        if stations is not None and t.variable not in stations.values:
            plan.append(f"{t.label}: no observations of {t.variable}")
        else:
            plan.append(ThresholdSums(t, data.variables.index(t.variable), cfg.seed))
    sums = [s for s in plan if isinstance(s, ThresholdSums)]
    # the first threshold of each quantity collects its tail quantiles for all of them
    first = {}
    for s in sums:
        first.setdefault(s.threshold.quantity, s)
    quantiles: dict[tuple[str, str], Any] = {}  # (ensemble, quantity) -> TailQuantiles
    rotations = held_out(cfg, data.members_per_case, stations is None)
    cases = len(data.valid) * len(rotations)  # the most cases any quantity is summed over
    box = (slice(None), *region_box(data.mask))
    for g in groups:
        res.n_cases += len(g.valid)
        res.ensembles = {k: v.shape[1] for k, v in g.ensembles.items()}
        for s in sums:
            _add_group(g, s, data, stations, cfg, box, first[s.threshold.quantity] is s,
                       quantiles, cases)  # fmt: skip
        g = None  # scored: dropped before the next group is made  # noqa: F841
    rng = np.random.default_rng(cfg.seed)
    for s in plan:
        if isinstance(s, str):
            res.notes.append(s)
        else:
            _finish_threshold(res, s, data, stations, cfg, rng, quantiles)
    return res


def _add_group(g, s, data, stations, cfg, box, collect, quantiles, cases) -> None:  # noqa: ANN001
    """One group's sums at one threshold (its arrays are dropped on return); ``collect``:
    this threshold gathers its quantity's tail quantiles."""
    from gensemble.events.threshold_sums import TailQuantiles

    t, c = s.threshold, s.channel
    obs_all = stations.values[t.variable][g.cases] if stations is not None else g.truth[:, c]
    label = np.full(len(g.valid), g.label, dtype=object)
    acc = accumulate(obs_all, g.valid, label, t.accumulation_h, data.step_h)
    if acc is None:
        return
    s.covered = True
    keep, obs = acc
    vals = {
        name: accumulate(e[:, :, c], g.valid, label, t.accumulation_h, data.step_h)[1]
        for name, e in g.ensembles.items()
    }
    s.valid.append(g.valid[keep])
    s.group.append(label[keep])
    obs_pts = obs if stations is not None else _at(obs, None, data.mask)
    s.add_points({n: _at(v, stations, data.mask) for n, v in vals.items()}, obs_pts)
    if stations is not None:
        s.add_stations(np.isfinite(obs_pts))
        return
    s.add_grid(vals, obs, data.mask, box, cfg.scales)
    if collect:
        for n, e in [*vals.items(), ("truth", obs[:, None])]:
            if (n, t.quantity) not in quantiles:
                bound = cases * e.shape[1] * int(data.mask.sum())
                quantiles[(n, t.quantity)] = TailQuantiles(bound, 0.99, cfg.seed)
            quantiles[(n, t.quantity)].add(e[..., data.mask])


def _finish_threshold(res, s, data, stations, cfg, rng, quantiles) -> None:  # noqa: ANN001
    """The rows of one threshold from its sums (in the order a whole-event pass gives)."""
    t = s.threshold
    if not s.covered:
        res.notes.append(
            f"{t.label}: the forecasts cover less than {t.accumulation_h:g} h in the window"
        )
        return
    seen_any = np.concatenate(s.seen_any)
    if not seen_any.any():
        res.notes.append(f"{t.label}: no station has a complete {t.accumulation_h:g} h value")
        return
    valid, group = np.concatenate(s.valid), np.concatenate(s.group)
    blocks = rs.blocks_of(group, valid, max(cfg.block_h, t.accumulation_h))
    n_blocks = len(np.unique(blocks[seen_any]))
    if n_blocks < rs.MIN_BLOCKS:
        res.notes.append(
            f"{t.label}: {len(valid)} cases in {n_blocks} independent block(s) of "
            f"{max(cfg.block_h, t.accumulation_h):g} h: too few for an interval to be "
            f"trusted, so no difference is called significant (needs {rs.MIN_BLOCKS})"
        )
    base = ScoreRow(
        "",
        "",
        float("nan"),
        units=t.units,
        cases=int(seen_any.sum()),
        blocks=n_blocks,
        observations=int(np.concatenate(s.seen_count).sum()),
        stations=None if stations is None else int(s.station_seen.sum()),
    )
    _flag_degenerate(res, t, s.exceeds)
    _score_threshold(res, s, cfg, rng, blocks, base)
    if stations is None:  # neighbourhood and object scores need the truth on the grid
        _grid_scores(res, s, data, cfg, base, quantiles)


def _flag_degenerate(res: Verification, t, exceeds: dict[str, bool]) -> None:  # noqa: ANN001
    """An ensemble that never exceeds the threshold at the scored points has no ROC area
    and an FSS of 0 by construction: say so rather than show them as scores."""
    for name, ever in exceeds.items():
        if not ever:
            why = f"never exceeds {t.value:g} {t.units}"
            res.flags[(name, f"roc_area/{t.label}")] = why
            res.notes.append(
                f"{name} {why} ({t.label}) at the scored points: its ROC area is undefined "
                "and its FSS 0 by construction; its Brier score is the observed frequency"
            )


def _score_threshold(res, s, cfg, rng, blocks, base) -> None:  # noqa: ANN001
    from dataclasses import replace

    t = s.threshold
    stats = {n: s.sufficient(n) for n in s.stats}
    point, intervals = rs.bootstrap_scores(stats, blocks, t.label, cfg.bootstrap, rng)
    seen = {(r.ensemble, r.score) for r in res.table}
    enough = base.blocks >= rs.MIN_BLOCKS
    for n, scores in point.items():
        for key, value in scores.items():
            if (n, key) in seen:  # the CRPS of a quantity already scored at another threshold
                continue
            lo, hi = intervals.get((n, key), rs.NO_INTERVAL)
            units = base.units if key.startswith("crps") else ""
            res.table.append(
                replace(base, ensemble=n, score=key, value=value, lo=lo, hi=hi, units=units)
            )
            if n != "raw" and "raw" in point:
                dlo, dhi = intervals.get((n, "raw", key), rs.NO_INTERVAL)
                # no interval (zero width, undefined) and too few blocks say nothing
                significant = bool(enough and np.isfinite(dlo) and (dlo > 0 or dhi < 0))
                res.diffs.append(
                    ScoreDiff(n, key, value - point["raw"][key], dlo, dhi, significant)
                )
    res.ranks[t.label] = dict(s.ranks)
    res.reliability[t.label] = {n: es.reliability_curve(r) for n, r in s.reliability.items()}


def region_box(mask: np.ndarray) -> tuple[slice, slice]:
    """The rows and columns of the smallest box holding the region's points."""
    rows, cols = np.flatnonzero(mask.any(1)), np.flatnonzero(mask.any(0))
    return slice(rows[0], rows[-1] + 1), slice(cols[0], cols[-1] + 1)


def _grid_scores(res, s, data, cfg, base, quantiles) -> None:  # noqa: ANN001
    """Probability maps, FSS within the region's box (scales in km), tail quantiles (once
    per quantity) and rain objects of each ensemble and of the truth."""
    from dataclasses import replace

    t = s.threshold
    seen = {(r.ensemble, r.score) for r in res.table}
    cases = s.truth_cases
    res.maps[t.label] = {n: np.where(data.mask, g.prob / cases, np.nan) for n, g in s.grid.items()}
    grid_row = replace(base, observations=int(data.mask.sum()) * base.cases)
    for n in [*(n for n in s.grid if n != "truth"), "truth"]:
        g, rows = s.grid[n], []
        if n != "truth":
            for sc in cfg.scales:
                name = f"fss_{sc * data.dx_km:.3g}km/{t.label}"
                rows.append((name, es.fss_value(g.fss[sc]), ""))
                if (n, f"roc_area/{t.label}") in res.flags:
                    res.flags[(n, name)] = res.flags[(n, f"roc_area/{t.label}")]
        rows.append((f"objects/{t.label}", g.objects / g.fields, "count"))
        if (n, f"q99/{t.quantity}") not in seen:
            sample = quantiles[(n, t.quantity)]
            rows += [(f"q{q:g}/{t.quantity}", sample.quantile(q / 100), t.units)
                     for q in (99, 99.9)]  # fmt: skip
            seen.add((n, f"q99/{t.quantity}"))
            if sample.sampled:
                res.notes.append(f"q99/{t.quantity} of {n}: from a uniform sample of "
                                 f"{sample.cap} of its {sample.total} values")  # fmt: skip
        for score, value, units in rows:
            res.table.append(replace(grid_row, ensemble=n, score=score, value=value, units=units))

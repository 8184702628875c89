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
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from gensemble.evaluation import ensemble_scores as es
from gensemble.events import resampling as rs
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


def build_ensembles(
    data: EventData,
    loaded: Any,
    device: Any,
    enricher: Any,
    cfg: VerifyConfig,
    pcfg: Any,
    icfg: Any,
    pseudo: bool,
):  # noqa: ANN201
    """Per truth case: the ensembles (name -> (K', N, C, H, W)), the grid truth
    (K', C, H, W) when a held-out member is the truth (``pseudo``), the group (forecast
    and held-out member) and valid time of each case.  Raw and climate need only the
    model's ``sample``; ``enricher`` (None when ``cfg.enrich`` is 0) makes the rest."""
    k_cases, m = data.members.shape[:2]
    holdouts: list[int | None] = list(range(min(max(cfg.rotations, 1), m))) if pseudo else [None]
    ens: dict[str, list[np.ndarray]] = {}
    truth, group, valid = [], [], []
    gen = torch.Generator().manual_seed(cfg.seed)
    for r, held in enumerate(holdouts):
        for k in range(k_cases):
            members = data.members[k]
            if held is not None:
                truth.append(members[held])
                members = np.delete(members, held, axis=0)
            ens.setdefault("raw", []).append(members)
            if cfg.enrich > 0:
                torch.manual_seed(cfg.seed + k)
                out = enricher.enrich(members, cfg.enrich, icfg, pcfg)
                ens.setdefault("enriched", []).append(out.fields)
                extra = max(cfg.enrich - members.shape[0], 1)
                ens.setdefault("hybrid", []).append(
                    np.concatenate([members, out.fields[:extra]]).astype(np.float32)
                )
            # the generator's unconditional climate, as many members
            n = max(cfg.enrich, members.shape[0])
            climate = loaded.generate_physical(n, gen, device=device)
            ens.setdefault("climate", []).append(climate.numpy())
            group.append(f"{data.reference[k]}#{r}")
            valid.append(data.valid[k])
    stacked = {name: np.stack(v) for name, v in ens.items()}
    return stacked, (np.stack(truth) if truth else None), np.array(group), np.array(valid)


def _at(x: np.ndarray, stations: Stations | None, mask: np.ndarray) -> np.ndarray:
    """Values at the scored points: (..., H, W) -> (..., P)."""
    if stations is not None:
        return x[..., stations.rows, stations.cols]
    return x[..., mask]


def verify(
    data: EventData,
    ensembles: dict[str, np.ndarray],
    truth_grid: np.ndarray | None,
    group: np.ndarray,
    valid: np.ndarray,
    stations: Stations | None,
    cfg: VerifyConfig,
) -> Verification:
    """Scores of every ensemble at every threshold of the event, with intervals.  With
    stations, each scores with the observations it has (a missing hour is left out of
    that hour, and of the sums over periods that contain it)."""
    rng = np.random.default_rng(cfg.seed)
    res = Verification(
        data.event.name,
        "observations" if stations is not None else "held-out member",
        len(valid),
        {k: v.shape[1] for k, v in ensembles.items()},
    )
    for t in data.event.thresholds:
        if t.variable not in data.variables:
            res.notes.append(f"{t.label}: the model does not make {t.variable}")
            continue
        c = data.variables.index(t.variable)
        res.thresholds[t.label] = f"{t.quantity} > {t.value:g} {t.units}"
        if stations is not None:
            if t.variable not in stations.values:
                res.notes.append(f"{t.label}: no observations of {t.variable}")
                continue
            obs_all = stations.values[t.variable]
        else:
            obs_all = truth_grid[:, c]
        acc = accumulate(obs_all, valid, group, t.accumulation_h, data.step_h)
        if acc is None:
            res.notes.append(
                f"{t.label}: the forecasts cover less than {t.accumulation_h:g} h in the window"
            )
            continue
        keep, obs = acc
        vals = {
            name: accumulate(e[:, :, c], valid, group, t.accumulation_h, data.step_h)[1]
            for name, e in ensembles.items()
        }
        obs_pts = obs if stations is not None else _at(obs, None, data.mask)
        seen = np.isfinite(obs_pts)
        if not seen.any():
            res.notes.append(f"{t.label}: no station has a complete {t.accumulation_h:g} h value")
            continue
        pts = {n: _at(v, stations, data.mask) for n, v in vals.items()}
        blocks = rs.blocks_of(group[keep], valid[keep], max(cfg.block_h, t.accumulation_h))
        n_blocks = len(np.unique(blocks[seen.any(axis=1)]))
        if n_blocks < rs.MIN_BLOCKS:
            res.notes.append(
                f"{t.label}: {len(keep)} cases in {n_blocks} independent block(s) of "
                f"{max(cfg.block_h, t.accumulation_h):g} h: too few for an interval to be "
                f"trusted, so no difference is called significant (needs {rs.MIN_BLOCKS})"
            )
        base = ScoreRow(
            "",
            "",
            float("nan"),
            units=t.units,
            cases=int(seen.any(axis=1).sum()),
            blocks=n_blocks,
            observations=int(seen.sum()),
            stations=None if stations is None else int(seen.any(axis=0).sum()),
        )
        _flag_degenerate(res, t, pts)
        _score_threshold(res, t, pts, obs_pts, vals, obs, data, stations, cfg, rng, blocks, base)
    return res


def _flag_degenerate(res: Verification, t, pts: dict[str, np.ndarray]) -> None:  # noqa: ANN001
    """An ensemble that never exceeds the threshold at the scored points has no ROC area
    and an FSS of 0 by construction: say so rather than show them as scores."""
    for name, e in pts.items():
        if not (e > t.value).any():
            why = f"never exceeds {t.value:g} {t.units}"
            res.flags[(name, f"roc_area/{t.label}")] = why
            res.notes.append(
                f"{name} {why} ({t.label}) at the scored points: its ROC area is undefined "
                "and its FSS 0 by construction; its Brier score is the observed frequency"
            )


def _score_threshold(
    res, t, pts, obs_pts, grid_vals, grid_obs, data, stations, cfg, rng, blocks, base
) -> None:  # noqa: ANN001
    from dataclasses import replace

    stats = {n: rs.sufficient(e, obs_pts, t.value) for n, e in pts.items()}
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
    res.ranks[t.label] = {n: es.rank_histogram(e, obs_pts, cfg.seed) for n, e in pts.items()}
    res.reliability[t.label] = {
        n: es.reliability(*es.exceedance(e, obs_pts, t.value), members=e.shape[1])
        for n, e in pts.items()
    }
    if stations is None:  # neighbourhood and object scores need the truth on the grid
        _grid_scores(res, t, grid_vals, grid_obs, data, cfg, seen, base)


def region_box(mask: np.ndarray) -> tuple[slice, slice]:
    """The rows and columns of the smallest box holding the region's points."""
    rows, cols = np.flatnonzero(mask.any(1)), np.flatnonzero(mask.any(0))
    return slice(rows[0], rows[-1] + 1), slice(cols[0], cols[-1] + 1)


def _grid_scores(res, t, grid_vals, grid_obs, data, cfg, seen, base) -> None:  # noqa: ANN001
    """Probability maps, FSS within the region's box (scales in km), tail quantiles (once
    per quantity) and rain objects of each ensemble and of the truth."""
    from dataclasses import replace

    occ = (grid_obs > t.value).astype(float)
    res.maps[t.label] = {"truth": np.where(data.mask, occ.mean(axis=0), np.nan)}
    box = (slice(None), *region_box(data.mask))
    grid_row = replace(base, observations=int(data.mask.sum()) * base.cases)
    for n, e in [*grid_vals.items(), ("truth", grid_obs[:, None])]:
        rows = []
        if n != "truth":
            prob = (e > t.value).mean(axis=1)
            res.maps[t.label][n] = np.where(data.mask, prob.mean(axis=0), np.nan)
            for s in cfg.scales:
                sums = es.fss_sums((prob * data.mask)[box], (occ * data.mask)[box], s)
                name = f"fss_{s * data.dx_km:.3g}km/{t.label}"
                rows.append((name, es.fss_value(sums), ""))
                if (n, f"roc_area/{t.label}") in res.flags:
                    res.flags[(n, name)] = res.flags[(n, f"roc_area/{t.label}")]
        rows.append((f"objects/{t.label}", es.mean_objects(e * data.mask, t.value), "count"))
        if (n, f"q99/{t.quantity}") not in seen:
            region = e[..., data.mask]
            rows += [
                (f"q{q:g}/{t.quantity}", float(np.quantile(region, q / 100)), t.units)
                for q in (99, 99.9)
            ]
            seen.add((n, f"q99/{t.quantity}"))
        for score, value, units in rows:
            res.table.append(replace(grid_row, ensemble=n, score=score, value=value, units=units))

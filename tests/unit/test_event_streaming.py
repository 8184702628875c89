"""Event verification one forecast at a time: groups are dropped once scored, and the
scores equal their whole-event definitions; tail quantiles from the top values only."""

from __future__ import annotations

import gc
import weakref

import numpy as np
import pytest

from gensemble.evaluation import ensemble_scores as es
from gensemble.events.groups import Group
from gensemble.events.selection import EventData, get_event
from gensemble.events.threshold_sums import TailQuantiles
from gensemble.events.verify import VerifyConfig, verify

H, W, HOURS = 12, 16, 26


def event_groups(forecasts: int, seed: int = 0) -> tuple[EventData, list[Group]]:
    """``forecasts`` forecasts an hour apart, each HOURS hourly valid times of rain and
    t2m: 5 raw and 8 enriched members and a truth."""
    rng = np.random.default_rng(seed)
    t0 = np.datetime64("2020-10-02T00:00", "s")
    hour = np.timedelta64(1, "h")
    groups, valid, reference = [], [], []
    for f in range(forecasts):
        v = t0 + (f + 1 + np.arange(HOURS)) * hour
        ens = {name: rng.gamma(0.4, 12.0, (HOURS, m, 2, H, W)).astype(np.float32)
               for name, m in (("raw", 5), ("enriched", 8))}  # fmt: skip
        truth = rng.gamma(0.4, 12.0, (HOURS, 2, H, W)).astype(np.float32)
        cases = np.arange(f * HOURS, (f + 1) * HOURS)
        groups.append(Group(ens, truth, cases, f"{t0 + f * hour}#0", v))
        valid.append(v)
        reference.append(np.full(HOURS, t0 + f * hour))
    mask = np.zeros((H, W), dtype=bool)
    mask[2:9, 3:14] = True
    lon, lat = np.meshgrid(np.linspace(6.5, 8, W), np.linspace(43.7, 44.5, H))
    data = EventData(get_event("alex"), ["rr", "t2m"], np.concatenate(valid),
                     np.concatenate(reference), np.zeros((forecasts * HOURS, 5), dtype=int),
                     mask, lon, lat, 1.0, 2.0)  # fmt: skip
    return data, groups


def test_groups_are_dropped_once_scored_and_scores_keep_their_definitions() -> None:
    data, made = event_groups(4)
    everything = {k: np.concatenate([g.ensembles[k] for g in made]) for k in ("raw", "enriched")}
    truth = np.concatenate([g.truth for g in made])
    refs = [weakref.ref(g) for g in made]
    alive_at = []

    def stream():  # noqa: ANN202 - hands groups over, keeping none
        for i in range(len(made)):
            gc.collect()
            alive_at.append(sum(r() is not None for r in refs[:i]))
            g, made[i] = made[i], None
            yield g
            del g

    res = verify(data, stream(), None, VerifyConfig(bootstrap=20, seed=3))
    assert alive_at == [0, 0, 0, 0]  # a group is dropped before the next one is made
    assert res.n_cases == 4 * HOURS and res.ensembles == {"raw": 5, "enriched": 8}
    assert any("does not make gust10" in n for n in res.notes)
    row = {(r.ensemble, r.score): r.value for r in res.table}
    mask = data.mask
    for name, ens in everything.items():
        x, y = ens[:, :, 0][..., mask], truth[:, 0][..., mask]
        np.testing.assert_allclose(row[(name, "crps/rr")], es.case_crps(x, y).mean(), rtol=1e-9)
        assert row[(name, "q99/rr")] == float(np.quantile(x, 0.99))
        assert row[(name, "q99.9/rr")] == float(np.quantile(x, 0.999))
        np.testing.assert_array_equal(res.ranks["rr_gt20"][name], es.rank_histogram(x, y, 3))
        prob = (ens[:, :, 0] > 20).mean(axis=1).mean(axis=0)
        np.testing.assert_allclose(res.maps["rr_gt20"][name][mask], prob[mask], rtol=1e-12)
    assert row[("truth", "q99/rr")] == float(np.quantile(truth[:, 0][..., mask], 0.99))
    # 24 h sums need 24 consecutive hours of one forecast: 3 per forecast
    cases = {r.score: r.cases for r in res.table if r.ensemble == "raw"}
    assert cases["crps/rr"] == 4 * HOURS and cases["crps/rr_24h"] == 4 * 3


def test_tail_quantiles_are_exact_from_the_top_values_only() -> None:
    rng = np.random.default_rng(1)
    chunks = [rng.gamma(0.5, 3.0, int(n)).astype(np.float32) for n in rng.integers(1, 5000, 40)]
    everything = np.concatenate(chunks)
    tail = TailQuantiles(everything.size, 0.99)
    for c in chunks:
        tail.add(c)
    assert tail.values.size <= 2 * tail.k < everything.size // 20
    for q in (0.99, 0.995, 0.999, 1.0):
        assert tail.quantile(q) == float(np.quantile(everything, q)), q
    with pytest.raises(ValueError):
        tail.quantile(0.5)
    # a bound whose top 1 % passes the cap: a uniform sample of the cap instead
    sampled = TailQuantiles(everything.size * 100, 0.99, seed=0, cap=20_000)
    for c in chunks:
        sampled.add(c)
    assert sampled.sampled and sampled.values.size == 20_000
    np.testing.assert_allclose(sampled.quantile(0.99), np.quantile(everything, 0.99), rtol=0.1)

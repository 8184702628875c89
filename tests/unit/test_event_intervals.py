"""Event-verification intervals that mean what they say, proven by simulation: cases whose
truth and members come from one law, with short or long memory in time, and the
bootstrap's intervals checked against the spread of the scores over repeated worlds."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats as st

from gensemble.events import resampling as rs

HOURS, BLOCK_H, POINTS = 288, 12, 3
SMALL, LARGE = 8, 16  # raw and a larger ensemble of the same law


SPREAD = 0.4  # the law's sd is exp(SPREAD mu_t): every score depends on the state


def _world(rng: np.random.Generator, rho: float, hours: int = HOURS) -> tuple[np.ndarray, ...]:
    """mu_t an AR(1) in hourly steps (stationary N(0, 1)); members and truth drawn from
    N(mu_t, exp(SPREAD mu_t)^2), so scores of nearby hours are correlated when rho > 0."""
    mu = np.empty(hours)
    mu[0] = rng.normal()
    for t in range(1, hours):
        mu[t] = rho * mu[t - 1] + np.sqrt(1 - rho**2) * rng.normal()
    sd = np.exp(SPREAD * mu)
    truth = mu[:, None] + sd[:, None] * rng.normal(size=(hours, POINTS))
    small = mu[:, None, None] + sd[:, None, None] * rng.normal(size=(hours, SMALL, POINTS))
    large = mu[:, None, None] + sd[:, None, None] * rng.normal(size=(hours, LARGE, POINTS))
    return truth, small, large


def _expected_brier(n: int) -> float:
    """E[(p_hat - o)^2] at threshold 0: p (1 - p)(1 + 1/n) with p = Phi(mu / sd(mu))
    averaged over mu ~ N(0, 1) (Gauss-Hermite)."""
    x, w = np.polynomial.hermite_e.hermegauss(80)
    p = st.norm.cdf(x / np.exp(SPREAD * x))
    return float((w * p * (1 - p)).sum() / w.sum() * (1 + 1 / n))


TRUE = {
    # fair CRPS of N(mu, sd^2) against its own draws: sd / sqrt(pi), whatever n
    ("small", "crps/x"): np.exp(SPREAD**2 / 2) / np.sqrt(np.pi),
    ("small", "brier/x"): _expected_brier(SMALL),
    ("large", "small", "crps/x"): 0.0,
    ("large", "small", "brier/x"): _expected_brier(LARGE) - _expected_brier(SMALL),
}


#: blocks only 4x the memory (36 h for 9 h): neighbouring blocks stay correlated (about
#: 0.07 for block means), which no block bootstrap sees; measured coverage 0.88-0.94 with
#: the expanded intervals.  Held to a weaker floor here and said in the README: blocks
#: should be 8x the memory of the scores, which brings every score into the band.
SHORT_BLOCKS = "long memory, blocks 4x the memory"


@pytest.mark.parametrize(
    "memory, rho, block_h, hours",
    [
        ("short memory", 0.0, 12, 288),
        ("long memory, blocks 8x the memory", 0.8, 72, 1152),
        (SHORT_BLOCKS, 0.8, 36, 576),
    ],
)
def test_intervals_cover_at_the_nominal_rate_with_the_right_width(
    memory: str, rho: float, block_h: int, hours: int
) -> None:
    """Coverage of the true value within [0.90, 0.98] and half-width / 1.96 within
    [0.8, 1.25] of the scores' real spread over 120 worlds, for single scores and paired
    differences, with short memory and with long memory (hourly AR(1), rho 0.8: 9 h of
    memory); the intervals are expanded for the number of blocks (16 to 24 here)."""
    rng = np.random.default_rng(7)
    valid = np.datetime64("2020-10-01T00") + np.arange(hours) * np.timedelta64(1, "h")
    blocks = rs.blocks_of(np.zeros(hours), valid, block_h)
    assert len(np.unique(blocks)) == hours // block_h
    sims = 120
    values = {k: [] for k in TRUE}
    half = {k: [] for k in TRUE}
    hits = dict.fromkeys(TRUE, 0)
    for _ in range(sims):
        truth, small, large = _world(rng, rho, hours)
        suff = {
            "small": rs.sufficient(small, truth, 0.0),
            "large": rs.sufficient(large, truth, 0.0),
        }
        point, ci = rs.bootstrap_scores(suff, blocks, "x", 150, rng, reference="small")
        for key, true in TRUE.items():
            value = point[key[0]][key[-1]] - (point[key[1]][key[-1]] if len(key) == 3 else 0)
            lo, hi = ci[key]
            values[key].append(value)
            half[key].append((hi - lo) / 2)
            hits[key] += lo <= true <= hi
    for key in TRUE:
        coverage = hits[key] / sims
        sd_ratio = np.mean(half[key]) / 1.96 / np.std(values[key])
        if memory == SHORT_BLOCKS:
            assert 0.85 <= coverage <= 0.98 and 0.8 <= sd_ratio <= 1.25, (key, coverage, sd_ratio)
        else:
            assert 0.90 <= coverage <= 0.98, (key, coverage)
            assert 0.8 <= sd_ratio <= 1.25, (key, sd_ratio)


def test_expanded_percentiles_for_few_blocks() -> None:
    """Hesterberg's expanded percentile interval: 97.2 % percentiles for 16 blocks,
    nearer 95 % as blocks grow, plain 95 % when the count is unknown."""
    assert rs.expanded_level(16) == pytest.approx(0.972, abs=0.001)
    assert 0.95 < rs.expanded_level(200) < rs.expanded_level(48) < rs.expanded_level(16)
    assert rs.expanded_level(None) == 0.95


def test_intervals_stay_in_the_scores_range_for_a_rare_event() -> None:
    """A rare event with 4 blocks: no Brier interval below 0, no ROC interval above 1."""
    rng = np.random.default_rng(3)
    valid = np.datetime64("2020-10-01T00") + np.arange(48) * np.timedelta64(1, "h")
    blocks = rs.blocks_of(np.zeros(48), valid, 12)
    for _ in range(40):
        truth, small, _ = (a[:48] for a in _world(rng, 0.5))
        s = rs.sufficient(small, truth, 2.2)  # exceeded ~1.4 % of the time
        _, ci = rs.bootstrap_scores({"raw": s}, blocks, "x", 200, rng)
        lo, hi = ci[("raw", "brier/x")]
        assert np.isnan(lo) or lo >= 0
        lo, hi = ci[("raw", "roc_area/x")]
        assert np.isnan(hi) or 0 <= lo <= hi <= 1


def test_no_interval_from_one_block_and_no_roc_without_exceedances() -> None:
    rng = np.random.default_rng(0)
    truth, small, _ = _world(rng, 0.0)
    s = rs.sufficient(small[:6], truth[:6], 0.0)
    _, ci = rs.bootstrap_scores({"raw": s}, np.zeros(6, int), "x", 50, rng)
    assert all(np.isnan(v).all() for v in ci.values())  # one block: nothing resampled
    never = rs.sufficient(small, truth, 50.0)  # nothing exceeds: undefined, not 0.5
    assert np.isnan(rs.roc_of(never, np.arange(HOURS)))


def test_overlapping_forecasts_and_rotations_share_blocks() -> None:
    t = np.datetime64("2020-10-02T00") + np.arange(24) * np.timedelta64(1, "h")
    valid = np.concatenate([t, t + np.timedelta64(12, "h"), t])  # two runs and a rotation
    group = np.array(["run00"] * 24 + ["run12"] * 24 + ["run00-m2"] * 24)
    blocks = rs.blocks_of(group, valid, 6)
    same_time = blocks[:24] == blocks[48:]
    assert same_time.all() and (blocks[12:24] == blocks[24:36]).all()
    assert len(np.unique(blocks)) == 6


def test_stations_reach_every_forecast_valid_at_their_time(tmp_path) -> None:  # noqa: ANN001
    """Two runs cover the same hours: each observation reaches both (it used to reach the
    last run only, and every station was then dropped)."""
    import pandas as pd

    from gensemble.core.registry import get_registry
    from gensemble.events.truth import read_stations

    grid = get_registry().get("domain", "se_france")({"ny": 16, "nx": 24}).grid()
    lon, lat = grid.lonlat()
    t = np.datetime64("2020-10-02T00") + np.arange(6) * np.timedelta64(1, "h")
    valid = np.concatenate([t, t + np.timedelta64(3, "h")])  # runs overlapping 3 hours
    rows = [
        {
            "station": s,
            "lat": float(lat[r, c]),
            "lon": float(lon[r, c]),
            "time": str(h),
            "variable": "rr",
            "value": float(i),
        }  # fmt: skip
        for s, (r, c) in {"A": (3, 4), "B": (10, 20)}.items()
        for i, h in enumerate(np.unique(valid))
    ]
    path = tmp_path / "obs.csv"
    pd.DataFrame(rows).to_csv(path, index=False)
    st_ = read_stations(path, grid, np.ones(grid.shape, bool), valid, ["rr"])
    values = st_.values["rr"]
    assert np.isfinite(values).all()  # every case of both runs has both stations
    np.testing.assert_array_equal(values[3:6], values[6:9])  # the shared hours agree


@pytest.mark.parametrize("members", [10, 20, 50])
def test_reliability_bins_are_the_ensembles_probability_levels(members: int) -> None:
    """p = 0.3, 0.6, 0.7 land in their own bins (linspace edges put them one below), the
    points sit at the mean forecast probability, and the counts are returned."""
    from gensemble.evaluation import ensemble_scores as sc

    levels = np.array([0.3, 0.6, 0.7])
    k = np.rint(levels * members).astype(int)
    p = np.repeat(k / members, 4)
    o = np.tile([1.0, 0.0, 0.0, 1.0], 3)
    mean_p, freq, count = sc.reliability(p, o, members=members)
    assert len(count) == members + 1 and count[k].tolist() == [4, 4, 4]
    np.testing.assert_allclose(mean_p[k], k / members)
    np.testing.assert_allclose(freq[k], 0.5)
    assert np.isnan(freq[0]) and count.sum() == p.size


def test_degenerate_inputs_follow_one_policy() -> None:
    """One member: no fair CRPS (NaN, as the resampled score); a missing observation is
    neither a non-event nor rank 0."""
    from gensemble.evaluation import ensemble_scores as sc

    rng = np.random.default_rng(0)
    ens, obs = rng.normal(size=(3, 1, 5)), rng.normal(size=(3, 5))
    assert np.isnan(sc.fair_crps(ens, obs)).all()
    s = rs.sufficient(ens, obs, 0.0)
    assert np.isnan(rs.crps_of(s, np.arange(3)))
    obs[0, 0] = np.nan
    _, o = sc.exceedance(ens, obs, 0.0)
    assert np.isnan(o[0, 0]) and np.isfinite(o[1:]).all()
    ranks = sc.rank_histogram(rng.normal(size=(3, 4, 5)), obs, 0)
    assert ranks.sum() == obs.size - 1

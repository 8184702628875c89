"""Events: the catalogue, selection in window and region, and the scores on constructed
cases with known answers (perfect, biased and under-dispersive ensembles)."""

from __future__ import annotations

import numpy as np
import pytest

from gensemble.api.events import Event, Threshold, box
from gensemble.core.registry import get_registry
from gensemble.data.variables import known_variables
from gensemble.evaluation import ensemble_scores as sc
from gensemble.events import resampling as rs
from gensemble.events.verify import accumulate


def test_catalogue_entries_validate_and_lie_in_their_domains() -> None:
    registry = get_registry()
    names = registry.names("event")
    assert {"alex", "gard_2020", "hans"} <= set(names)
    units = {n: v.units for n, v in known_variables().items()}
    for name in names:
        ev = registry.get("event", name)
        assert ev.problems(units) == [], name
        assert ev.sources and ev.observed
        for dom_name in ev.domains:
            lon, lat = registry.get("domain", dom_name)().grid().lonlat()
            assert ev.mask(lon, lat).sum() > 20, (name, dom_name)
    alex = registry.get("event", "alex")
    assert alex.window()[0] == np.datetime64("2020-10-02T00:00:00")
    # two South-East France events in the prototype's training period (Jun 2020 - Nov 2021)
    inside = [
        registry.get("event", n)
        for n in names
        if "se_france" in registry.get("event", n).domains
        and np.datetime64("2020-06")
        <= registry.get("event", n).window()[0]
        < np.datetime64("2021-12")
    ]
    assert len(inside) >= 2


def test_problems_are_named() -> None:
    ev = Event(
        "x", "x", ("se_france",), "2020-01-02", "2020-01-01", box(0, 1, 0, 1),
        (Threshold("rr", 10, "K"), Threshold("nope", 1, "m")), (),
    )  # fmt: skip
    bad = " | ".join(ev.problems({"rr": "mm/h"}))
    assert "before it starts" in bad and "'K'" in bad and "nope" in bad and "sources" in bad
    ok = Threshold("rr", 100, "mm", 24)
    assert ok.label == "rr_24h_gt100"
    assert (
        Event(
            "y", "y", ("d",), "2020-01-01", "2020-01-02", box(0, 1, 0, 1), (ok,), ("s",)
        ).problems({"rr": "mm/h"})
        == []
    )


def test_accumulation_sums_whole_periods_of_one_forecast() -> None:
    valid = np.datetime64("2020-01-01T00") + np.arange(1, 7) * np.timedelta64(1, "h")
    group = np.array(["a"] * 6)
    x = np.arange(6, dtype=float)[:, None]
    keep, acc = accumulate(x, valid, group, 3, 1.0)
    assert keep.tolist() == [2, 3, 4, 5] and acc[:, 0].tolist() == [3, 6, 9, 12]
    assert accumulate(x, valid, group, 12, 1.0) is None


@pytest.fixture(scope="module")
def cases():  # noqa: ANN201
    rng = np.random.default_rng(0)
    k, n, p = 60, 20, 40
    centre = rng.normal(size=(k, 1, p))
    truth = centre[:, 0] + rng.normal(size=(k, p))
    perfect = centre + rng.normal(size=(k, n, p))
    biased = perfect + 1.5
    narrow = centre + 0.3 * rng.normal(size=(k, n, p))
    return truth, perfect, biased, narrow, rng


def test_scores_go_the_right_way(cases) -> None:  # noqa: ANN001
    truth, perfect, biased, narrow, rng = cases
    crps = {n: sc.fair_crps(e, truth).mean() for n, e in
            (("perfect", perfect), ("biased", biased), ("narrow", narrow))}  # fmt: skip
    assert crps["perfect"] < crps["narrow"] and crps["perfect"] < crps["biased"]
    t = 1.0
    bs = {n: sc.brier(*sc.exceedance(e, truth, t)).mean() for n, e in
          (("perfect", perfect), ("biased", biased))}  # fmt: skip
    assert bs["perfect"] < bs["biased"]
    flat = sc.rank_histogram(perfect, truth, 1)
    u = sc.rank_histogram(narrow, truth, 2)
    skew = sc.rank_histogram(biased, truth, 3)
    n_bins = perfect.shape[1] + 1
    expected = truth.size / n_bins
    assert np.abs(flat / expected - 1).max() < 0.35  # flat within sampling noise
    assert u[0] + u[-1] > 5 * (flat[0] + flat[-1]) / 2  # U-shaped: truth outside the ensemble
    assert skew[:3].sum() > 3 * flat[:3].sum()  # truth below a too-high ensemble


def test_crps_matches_the_pairwise_definition(cases) -> None:  # noqa: ANN001
    truth, perfect, *_ = cases
    e, y = perfect[:3, :7, :5], truth[:3, :5]
    n = e.shape[1]
    pair = np.abs(e[:, :, None] - e[:, None]).sum(axis=(1, 2))
    brute = (np.abs(e - y[:, None]).mean(axis=1) - pair / (2 * n * (n - 1))).mean(axis=-1)
    np.testing.assert_allclose(sc.fair_crps(e, y), brute, rtol=1e-12)


def test_roc_area_and_fss_known_values() -> None:
    p = np.array([0.1, 0.4, 0.35, 0.8])
    o = np.array([0, 0, 1, 1])
    assert sc.roc_area(p, o) == pytest.approx(0.75)
    assert np.isnan(sc.roc_area(p, np.zeros(4)))
    occ = np.zeros((1, 10, 10))
    occ[0, 4:6, 4:6] = 1
    assert _fss(occ, occ, 1) == pytest.approx(1.0)
    shifted = np.roll(occ, 2, axis=2)
    assert _fss(shifted, occ, 1) == pytest.approx(0.0)
    assert _fss(shifted, occ, 5) > 0.5  # neighbourhoods forgive the displacement
    assert sc.mean_objects(occ, 0.5) == 1.0
    assert np.isnan(sc.fss_value(sc.fss_sums(occ * 0, occ * 0, 3)))  # nothing anywhere


def test_scores_match_properscoring_and_pysteps(cases) -> None:  # noqa: ANN001
    import properscoring as ps
    from pysteps.verification import ensscores, probscores, spatialscores

    truth, perfect, biased, *_ = cases
    e, y = biased[:4, :9], truth[:4]
    plain = ps.crps_ensemble(y, np.moveaxis(e, 1, -1)).mean(axis=-1)
    np.testing.assert_allclose(sc.fair_crps(e, y, fair=False), plain, rtol=1e-10)
    # ROC area: pysteps' trapezoids at every probability level the ensemble can give
    p, o = sc.exceedance(perfect, truth, 0.5)
    roc = probscores.ROC_curve_init(0.5, n_prob_thrs=perfect.shape[1] + 1)
    roc["prob_thrs"] = np.arange(perfect.shape[1] + 1) / perfect.shape[1] - 1e-9
    probscores.ROC_curve_accum(roc, p, truth)
    assert sc.roc_area(p, o) == pytest.approx(probscores.ROC_curve_compute(roc, True)[2], 1e-12)
    # rank histogram (continuous values: no ties to split)
    rh = ensscores.rankhist_init(perfect.shape[1])
    ensscores.rankhist_accum(rh, np.moveaxis(perfect, 1, 0), truth)
    ours = sc.rank_histogram(perfect, truth, 0)
    np.testing.assert_array_equal(ours, rh["n"])
    # FSS of a one-member (binary) forecast is pysteps' FSS
    rng = np.random.default_rng(3)
    f, ob = rng.gamma(0.5, 4, (2, 24, 30))
    for scale in (1, 3, 7):
        ref = spatialscores.fss(f, ob, 2.0, scale)
        got = _fss((f > 2.0)[None].astype(float), (ob > 2.0)[None], scale)
        assert got == pytest.approx(ref, rel=1e-10)


def _fss(forecast: np.ndarray, observed: np.ndarray, scale: int) -> float:
    return sc.fss_value(sc.fss_sums(forecast, observed, scale))


def test_sufficient_statistics_give_the_direct_scores(cases) -> None:  # noqa: ANN001
    truth, perfect, biased, *_ = cases
    e = biased[:, :8]
    s = rs.sufficient(e, truth, 1.0)
    all_cases = np.arange(len(truth))
    assert rs.crps_of(s, all_cases) == pytest.approx(sc.fair_crps(e, truth).mean(), 1e-12)
    p, o = sc.exceedance(e, truth, 1.0)
    assert rs.brier_of(s, all_cases) == pytest.approx(sc.brier(p, o).mean(), 1e-12)
    assert rs.roc_of(s, all_cases) == pytest.approx(sc.roc_area(p, o), 1e-12)
    # a station missing some hours: each score over the observations there are
    holes = truth.copy()
    holes[::3, :5] = np.nan
    s = rs.sufficient(e, holes, 1.0)
    seen = np.isfinite(holes)
    direct = sc.case_crps(e, holes)[seen].mean()
    assert rs.crps_of(s, all_cases) == pytest.approx(direct, 1e-12)
    p, o = sc.exceedance(e, holes, 1.0)
    assert rs.brier_of(s, all_cases) == pytest.approx(((p - o) ** 2)[seen].mean(), 1e-12)
    assert rs.roc_of(s, all_cases) == pytest.approx(sc.roc_area(p[seen], o[seen]), 1e-12)


def test_one_implementation_serves_plugins_events_and_enrichment(cases) -> None:  # noqa: ANN001
    """The CRPS metric plugin, the event score and the enrichment's calibration score
    are the same numbers: they call one function."""
    import torch

    from gensemble.api.metric_context import EvalContext
    from gensemble.core.registry import get_registry

    truth, perfect, *_ = cases
    k, n, p = perfect.shape
    ens = torch.from_numpy(perfect.reshape(k, n, 1, 1, p))
    real = torch.from_numpy(truth.reshape(k, 1, 1, p))
    res = get_registry().get("metric", "crps")().compute(real, ens, EvalContext(["x"]))
    assert res.scalars["crps_fair/x"] == pytest.approx(sc.fair_crps(perfect, truth).mean(), 1e-12)
    # one ensemble against several held-back members (calibration's layout)
    shared = torch.from_numpy(perfect[0])  # (N, P)
    held = torch.from_numpy(truth[:5])  # (5, P)
    per_member = np.mean([sc.fair_crps(perfect[:1], truth[i : i + 1]) for i in range(5)])
    assert sc.shared_fair_crps(shared, held) == pytest.approx(per_member, 1e-12)


def test_blocks_keep_consecutive_hours_together_across_forecasts() -> None:
    valid = np.datetime64("2020-10-02T01") + np.arange(12) * np.timedelta64(1, "h")
    valid = np.concatenate([valid, valid])
    group = np.array(["a"] * 12 + ["b"] * 12)
    blocks = rs.blocks_of(group, valid, 6)
    assert len(np.unique(blocks)) == 2  # two windows; both forecasts verify the same hours
    assert len(np.unique(blocks[:6])) == 1 and blocks[5] != blocks[6]
    assert (blocks[:12] == blocks[12:]).all()


def test_bootstrap_intervals_cover_the_truth_at_about_the_nominal_rate() -> None:
    """Members and truth iid N(0, 1): the fair CRPS is 1/sqrt(pi); with threshold 0 the
    Brier score of a 10-member ensemble is 1/4 + 1/40."""
    rng = np.random.default_rng(1)
    k, n, p, trials = 30, 10, 4, 80
    truth_value = {"crps/x": 1 / np.sqrt(np.pi), "brier/x": 0.25 + 0.25 / n}
    hits = dict.fromkeys(truth_value, 0)
    for _ in range(trials):
        ens, obs = rng.normal(size=(k, n, p)), rng.normal(size=(k, p))
        s = rs.sufficient(ens, obs, 0.0)
        _, ci = rs.bootstrap_scores({"raw": s}, np.arange(k), "x", 200, rng)
        for key, true in truth_value.items():
            lo, hi = ci[("raw", key)]
            hits[key] += lo <= true <= hi
    for key in hits:
        assert 0.85 <= hits[key] / trials <= 1.0, (key, hits[key])  # nominal 0.95


def test_each_events_region_contains_its_named_stations() -> None:
    """The record stations an event names lie in its region (Storm Hans reaches Geilo and
    Maristova west of 8.5°E, and the Swedish counties under red warnings); an entry whose
    region misses one is refused."""
    registry = get_registry()
    for name in registry.names("event"):
        ev = registry.get("event", name)
        lat = np.array([s[1] for s in ev.stations])
        lon = np.array([s[2] for s in ev.stations])
        assert ev.mask(lon, lat).all(), name
    hans = registry.get("event", "hans")
    names = {s[0] for s in hans.stations}
    assert {"Geilo", "Maristova"} <= names and min(p[0] for p in hans.region) <= 7.5
    assert "Glomma" not in hans.observed.split(";")[-1]  # the >=100-year floods were elsewhere
    rule = (Threshold("rr", 1.0, "mm/h"),)
    bad = Event("x", "x", ("se_france",), "2020-01-01", "2020-01-02", box(0, 1, 40, 41), rule,
                ("s",), stations=(("far", 50.0, 5.0),))  # fmt: skip
    assert any("far" in p for p in bad.problems(None))


def test_coastlines_are_real_and_offline() -> None:
    """GSHHS shorelines from the packaged data: the Côte d'Azur coast passes Nice, and
    the Norway-Sweden border is among the borders of the Nordic domain."""
    from gensemble.events.geography import MapFrame, polylines

    coast = np.concatenate(list(polylines("gshhs", (7.0, 7.5), (43.5, 43.8))))
    near = coast[(np.abs(coast[:, 0] - 7.27) < 0.05)]
    assert near.size and np.abs(near[:, 1] - 43.69).min() < 0.03  # Nice's seafront
    borders = list(polylines("countries", (11.0, 13.0), (59.0, 62.0)))
    assert borders
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    grid = registry_domain("nordic").grid()
    lon, lat = grid.lonlat()
    fig, ax = plt.subplots()
    MapFrame.of(grid, lon, lat).draw(ax)
    labels = [t.get_text() for t in ax.get_xticklabels()]
    assert labels and all(lab.endswith(("°E", "°W")) for lab in labels)
    assert ax.get_aspect() == 1.0  # Lambert km: true shapes
    plt.close(fig)


def registry_domain(name: str):  # noqa: ANN201
    return get_registry().get("domain", name)()


def test_cf_timeseries_layouts_read_alike(tmp_path) -> None:  # noqa: ANN001
    """The three CF discrete-sampling-geometry layouts of the same observations
    (orthogonal, incomplete multidimensional, contiguous ragged) give one table, with
    units converted to the model's (m of rain per hour -> mm/h) and missing values kept
    as NaN."""
    import xarray as xr

    from gensemble.events.truth import _read_dsg

    t = np.datetime64("2020-10-02T00") + np.arange(3) * np.timedelta64(1, "h")
    names = np.array(["A", "B"])
    lat, lon = np.array([44.0, 44.1]), np.array([7.2, 7.3])
    rain = np.array([[1.0, 2.0, np.nan], [0.5, 0.0, 3.0]])  # mm/h, station x time
    stn = {
        "station_name": (("station",), names, {"cf_role": "timeseries_id"}),
        "lat": (("station",), lat, {"standard_name": "latitude"}),
        "lon": (("station",), lon, {"standard_name": "longitude"}),
    }
    rr_attrs = {"standard_name": "lwe_precipitation_rate", "units": "m"}
    orthogonal = xr.Dataset(
        {"precip": (("time", "station"), rain.T / 1000, rr_attrs), **stn},
        coords={"time": ("time", t, {"standard_name": "time"})},
    )
    incomplete = xr.Dataset(
        {
            "precip": (("station", "obs"), rain / 1000, rr_attrs),
            "time": (("station", "obs"), np.stack([t, t]), {"standard_name": "time"}),
            **stn,
        }
    )
    ragged = xr.Dataset(
        {
            "precip": (("obs",), rain.ravel() / 1000, rr_attrs),
            "time": (("obs",), np.concatenate([t, t]), {"standard_name": "time"}),
            "row_size": (("station",), np.array([3, 3]), {"sample_dimension": "obs"}),
            **stn,
        }
    )
    tables = []
    for name, ds in (("o", orthogonal), ("i", incomplete), ("r", ragged)):
        ds.attrs["featureType"] = "timeSeries"
        ds.to_netcdf(tmp_path / f"{name}.nc")
        df = _read_dsg(tmp_path / f"{name}.nc", ["rr", "u10"])
        tables.append(df.sort_values(["station", "time"]).reset_index(drop=True))
    for df in tables:
        assert list(df["station"]) == ["A"] * 3 + ["B"] * 3 and set(df["variable"]) == {"rr"}
        np.testing.assert_allclose(df["value"], rain.ravel(), equal_nan=True)
        np.testing.assert_allclose(df["lat"], np.repeat(lat, 3))

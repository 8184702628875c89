"""A store's forecasts and truth, and the conditional model's training batches: drawn from
(seed, step) alone, seeds distinct from the target, ranks slicing one global batch, a
validation split that never separates the forecasts of one reference time."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from gensemble.api.conditional import ConditionSpec
from gensemble.core.errors import UserError
from gensemble.core.registry import get_registry
from gensemble.data.forecasts import ForecastIndex, truth_rows
from gensemble.data.store import Store
from gensemble.data.system_files import write_system
from gensemble.enrichment.conditional import choose_seeds
from gensemble.training.forecast_batches import ForecastBatchSampler, ForecastDataset


@pytest.fixture(scope="module")
def system(tmp_path_factory: pytest.TempPathFactory) -> Path:
    dom = get_registry().get("domain", "se_france")({"ny": 16, "nx": 16})
    return write_system("mesoscale", dom, 6, 4, 3, tmp_path_factory.mktemp("sys")).folder


def test_the_system_store_carries_the_truth_of_every_date(system: Path) -> None:
    store = Store(system / "members.zarr")
    assert store.has_truth and len(store.truth_times()) == 6
    index = ForecastIndex.of(store)
    assert len(index) == 6 and index.sizes.tolist() == [4] * 6
    assert (index.truth >= 0).all()
    assert store.summary()["truth"] == "6 fields; 6 of 6 forecasts have a truth field"
    # the stored truth is the system's truth file, not a member
    import xarray as xr

    with xr.open_dataset(system / "truth.nc") as ds:
        t2m = ds["t2m"].values[:, 0]
    c = store.variable_names.index("t2m")
    np.testing.assert_allclose(store.read_truth(index.truth)[:, c], t2m, rtol=1e-6)
    members = store.read(index.members[0])[:, c]
    assert not np.isclose(members, t2m[0]).all(axis=(1, 2)).any()


def test_truth_rows_match_valid_times() -> None:
    times = np.array(["2021-01-02", "2021-01-01"], dtype="datetime64[s]")
    valid = np.array(["2021-01-01", "2021-01-03", "2021-01-02"], dtype="datetime64[s]")
    assert truth_rows(times, valid).tolist() == [1, -1, 0]
    assert truth_rows(np.array([], "datetime64[s]"), valid).tolist() == [-1, -1, -1]


def test_a_truth_with_one_valid_time_twice_is_refused(system: Path, tmp_path: Path) -> None:
    from gensemble.data.prepare import prepare_store

    dom = get_registry().get("domain", "se_france")({"ny": 16, "nx": 16})
    with pytest.raises(UserError, match="holds valid time .* twice"):
        prepare_store(dom, [system / "members.nc"], tmp_path / "s.zarr",
                      truth=[system / "members.nc"])  # fmt: skip


def test_batches_are_reproducible_rank_sliced_and_never_seed_the_target(system: Path) -> None:
    index = ForecastIndex.of(Store(system / "members.zarr"))
    spec = ConditionSpec(seeds=2, truth_fraction=0.5)
    whole = ForecastBatchSampler(index, spec, 8, seed=4)
    rows = whole.rows_for(3)
    assert rows == ForecastBatchSampler(index, spec, 8, seed=4).rows_for(3)
    halves = [ForecastBatchSampler(index, spec, 8, r, 2, seed=4).rows_for(3) for r in (0, 1)]
    assert halves[0] + halves[1] == rows
    # resumed at step 3: the same batch as the uninterrupted run's fourth
    assert next(iter(ForecastBatchSampler(index, spec, 8, seed=4, start_step=3))) == rows
    by_sample = {int(i): f for f, m in enumerate(index.members) for i in m}
    kinds = set()
    for step in range(20):
        for r in whole.rows_for(step):
            assert len(set(r.seeds)) == 2 and len({by_sample[i] for i in r.seeds}) == 1
            if r.truth:
                assert r.target == index.truth[by_sample[r.seeds[0]]]
            else:
                assert r.target not in r.seeds and by_sample[r.target] == by_sample[r.seeds[0]]
            kinds.add(r.truth)
    assert kinds == {True, False}
    batch = ForecastDataset(system / "members.zarr", Store(system / "members.zarr").normalizer())
    got = batch.__getitems__(rows)
    assert tuple(got.seeds.shape) == (8, 2, 4, 16, 16) and tuple(got.target.shape) == (8, 4, 16, 16)
    assert got.truth.tolist() == [r.truth for r in rows]


def test_post_processing_without_a_truth_is_refused(tmp_path: Path, system: Path) -> None:
    index = ForecastIndex.of(Store(system / "members.zarr"))
    bare = ForecastIndex(index.valid, index.lead, index.members, np.full(len(index), -1))
    with pytest.raises(UserError, match="truth"):
        ForecastBatchSampler(bare, ConditionSpec(2, 1.0), 4)
    with pytest.raises(UserError, match="no training forecast has a truth"):
        ForecastBatchSampler(bare, ConditionSpec(2, 0.5), 4)
    with pytest.raises(UserError, match="enough members"):
        ForecastBatchSampler(index, ConditionSpec(4, 0.0), 4)  # 4 seeds + 1 target > 4


def test_the_split_keeps_a_reference_time_on_one_side() -> None:
    lead = np.array([24.0, 30, 36, 42, 48, 54])  # two reference times, three leads each
    valid = np.datetime64("2021-01-01", "s") + (lead * 3600).astype("timedelta64[s]")
    valid[3:] += np.timedelta64(1, "D")
    lead[3:] = lead[:3]
    index = ForecastIndex(valid, lead, [np.array([i]) for i in range(6)], np.full(6, -1))
    train, val = index.split_by_reference(0.5, seed=0)
    assert len(train) == 3 and len(val) == 3
    assert len(np.unique(train.reference)) == 1 and len(np.unique(val.reference)) == 1


def test_seed_members_are_a_seeded_draw() -> None:
    assert choose_seeds(8, 2, 0).tolist() == choose_seeds(8, 2, 0).tolist()
    picks = {tuple(choose_seeds(8, 2, s)) for s in range(20)}
    assert len(picks) > 5 and all(a < b for a, b in picks)
    with pytest.raises(UserError, match="conditions on 3 seed members; the forecast has 2"):
        choose_seeds(2, 3, 0)

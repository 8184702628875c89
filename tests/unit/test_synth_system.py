"""Synthetic systems with a known law: reproducible from the seed, truth apart from the
members, an oracle that beats a small ensemble, an under-dispersive variant that the rank
histogram sees, a heavy rain tail, and the files the CLI writes."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import xarray as xr

from gensemble.core.registry import get_registry
from gensemble.data.synth_system import SystemLaw, get_system, oracle, sample_system, state
from gensemble.evaluation import ensemble_scores as es
from tests.conftest import assert_user_error, run_cli


@pytest.fixture(scope="module")
def grid():  # noqa: ANN201
    return get_registry().get("domain", "se_france")({"ny": 24, "nx": 24}).grid()


def test_reproducible_and_truth_apart(grid) -> None:  # noqa: ANN001
    law = get_system("mesoscale")
    a = sample_system(grid, law, 3, 4, seed=5)
    b = sample_system(grid, law, 3, 4, seed=5)
    c = sample_system(grid, law, 3, 4, seed=6)
    for v in a.members:
        np.testing.assert_array_equal(a.members[v], b.members[v])
        np.testing.assert_array_equal(a.truth[v], b.truth[v])
        assert not np.array_equal(a.members[v], c.members[v])
        # the truth is a draw of its own, never one of the members
        assert not any(np.array_equal(a.truth[v][0], m) for m in a.members[v][0])
    # the state of a date depends on (seed, date) only: the same for 3 or 5 dates
    more = sample_system(grid, law, 5, 4, seed=5)
    np.testing.assert_array_equal(more.members["rr"][:3], a.members["rr"])
    assert state(grid, 5, 1).intensity == state(grid, 5, 1).intensity


def _mean_crps(ens: np.ndarray, truth: np.ndarray) -> float:
    """Plain CRPS of ens (K, N, P) against truth (K, P)."""
    return float(es.fair_crps(ens, truth, fair=False).mean())


def test_oracle_beats_a_small_ensemble_and_underdispersion_shows(grid) -> None:  # noqa: ANN001
    """The law is known, so a large ensemble drawn from it (the oracle) must beat 4 raw
    members on the standard CRPS of t2m and u10; with the under-dispersive system
    (truth from a 1.3x wider law) the truth falls outside the members more often."""
    dates, seed = 24, 3
    law = get_system("mesoscale")
    sample = sample_system(grid, law, dates, 4, seed)
    for v in ("t2m", "u10"):
        raw = sample.members[v].reshape(dates, 4, -1)
        truth = sample.truth[v].reshape(dates, -1)
        big = np.stack([oracle(grid, law, seed, t, 48)[v].reshape(48, -1) for t in range(dates)])
        assert _mean_crps(big, truth) < _mean_crps(raw, truth), v
    outside = {}
    for name in ("mesoscale", "mesoscale_underdispersive"):
        s = sample_system(grid, get_system(name), dates, 8, seed)
        ranks = es.rank_histogram(s.members["t2m"].reshape(dates, 8, -1),
                                  s.truth["t2m"].reshape(dates, -1), 0)  # fmt: skip
        outside[name] = (ranks[0] + ranks[-1]) / ranks.sum()
    assert outside["mesoscale"] < 0.35  # 2/9 = 0.22 when exchangeable
    assert outside["mesoscale_underdispersive"] > outside["mesoscale"] + 0.05


def test_rain_has_a_heavy_tail(grid) -> None:  # noqa: ANN001
    rr = sample_system(grid, SystemLaw(), 12, 4, seed=1).members["rr"]
    wet = rr[rr > 0.1]
    assert 0.1 < wet.size / rr.size < 0.9
    assert np.quantile(rr, 0.99) > 3 * np.quantile(wet, 0.5)


def test_cli_writes_members_truth_store_and_description(tmp_path: Path) -> None:
    out = tmp_path / "sys"
    proc = run_cli("data", "synth", "--system", "mesoscale_underdispersive", "--size", "16",
                   "-n", "12", "--members", "4", "--out", out, "--seed", "2")  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    info = json.loads((out / "system.json").read_text())
    assert info["law"]["truth_spread"] == 1.3 and info["seed"] == 2 and info["dates"] == 3
    with xr.open_dataset(out / "members.nc") as m, xr.open_dataset(out / "truth.nc") as t:
        assert m["rr"].shape == (3, 4, 16, 16) and t["rr"].shape == (3, 1, 16, 16)
        assert t.attrs["gensemble_truth"] == 1 and m.attrs["gensemble_synthetic"] == 1
    from gensemble.data.store import Store

    store = Store(out / "members.zarr")
    assert store.synthetic and store.n_samples == 12
    assert_user_error(
        run_cli("data", "synth", "--system", "nope", "--out", tmp_path / "x"), "unknown", "nope"
    )
    no_rain = ("--domain", "nordic", "--opt", "variables=[u10,v10,t2m]")
    assert_user_error(run_cli("data", "synth", "--system", "mesoscale", *no_rain,
                              "--out", tmp_path / "y"), "mesoscale makes")  # fmt: skip

"""The study: splits that leak are refused, the controls behave as theory says on a
system whose law is known, scores from sums equal the shared score functions, the
bootstrap is paired, and a study is reproducible from its seed."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from gensemble.core.errors import ConfigError, UserError
from gensemble.enrichment.calibrate import CalibrationConfig, calibrate
from gensemble.evaluation import ensemble_scores as es
from gensemble.study.bootstrap import CaseTable, bootstrap
from gensemble.study.config import Method, Splits, StudyConfig, SystemSource, load_study
from gensemble.study.ensembles import FieldCalibration, resample_fields
from gensemble.study.scores import SCORE_BY_NAME, Climate, case_sums
from gensemble.study.sources import SystemData
from gensemble.study.splits import split_dates
from tests.conftest import ROOT

CKPT = ROOT / "tests" / "fixtures" / "checkpoints" / "stylegan2-format2.safetensors"
REFS = np.datetime64("2021-01-01T00", "s") + np.arange(10) * np.timedelta64(1, "D")


def test_counts_split_in_time_order_and_too_many_are_refused() -> None:
    s = split_dates(Splits(train=5, calibrate=2, test=3), REFS)
    assert s.train == [0, 1, 2, 3, 4] and s.calibrate == [5, 6] and s.test == [7, 8, 9]
    with pytest.raises(UserError, match="ask for 11 forecast dates"):
        split_dates(Splits(train=6, calibrate=2, test=3), REFS)


def test_leaking_splits_are_refused() -> None:
    days = [str(r)[:10] for r in REFS]
    leak = Splits(train=days[:5], calibrate=days[5:7], test=[days[4], *days[7:]])
    with pytest.raises(UserError, match="leak: forecast 2021-01-05.* train and test"):
        split_dates(leak, REFS)
    # disjoint dates whose forecasts verify the same valid time leak too
    spans = [np.array([r, r + np.timedelta64(2, "D")]) for r in REFS]
    ok = Splits(train=days[:5], calibrate=days[5:7], test=days[7:])
    with pytest.raises(UserError, match="both verify valid time 2021-01-06"):
        split_dates(ok, REFS, spans)
    assert split_dates(ok, REFS).test == [7, 8, 9]
    with pytest.raises(UserError, match="not a forecast"):
        split_dates(Splits(train=["2020-01-01"], calibrate=days[5:7], test=days[7:]), REFS)


def test_config_errors_name_the_key(tmp_path) -> None:  # noqa: ANN001
    with pytest.raises(ConfigError, match="bogus"):
        load_study(None, ["bogus=1"])
    (tmp_path / "s.yaml").write_text("name: nosource\n")
    with pytest.raises(ConfigError, match="exactly one source"):
        load_study(tmp_path / "s.yaml")
    with pytest.raises(ConfigError, match="n .* must exceed"):
        load_study(None, ["n=8"])


def test_field_resampling_has_the_members_mean_and_covariance() -> None:
    g = torch.Generator().manual_seed(0)
    x = torch.randn(6, 2, 3, 3, generator=g)
    mean_only = resample_fields(x, 12, a=1.0, b=0.0, seed=1)
    assert torch.allclose(mean_only, x.mean(0).expand_as(mean_only), atol=1e-6)
    draws = resample_fields(x, 40_000, a=1.0, b=1.0, seed=2).reshape(40_000, -1).double()
    flat = x.reshape(6, -1).double()
    assert torch.allclose(draws.mean(0), flat.mean(0), atol=0.03)
    assert torch.allclose(torch.cov(draws.T), torch.cov(flat.T), atol=0.05)
    # the draws stay in the members' span (rank M - 1 around the mean)
    assert torch.linalg.matrix_rank(draws[:50] - flat.mean(0), rtol=1e-5) <= 5


def test_case_sums_give_the_shared_scores() -> None:
    rng = np.random.default_rng(0)
    ens, truth = rng.normal(size=(10, 8, 8)), rng.normal(size=(8, 8))
    thr, base = {"q90": 1.2, "q99": 2.3}, {"q90": 0.1, "q99": 0.01}
    s = case_sums(ens, truth, thr, base, fss_scale=3, seed=0)
    flat, y = ens.reshape(1, 10, -1), truth.reshape(1, -1)
    crps = SCORE_BY_NAME["crps"].of(s, 10)
    assert np.isclose(crps, es.case_crps(flat, y, fair=False).mean())
    fair = SCORE_BY_NAME["crps_fair"].of(s, 10)
    assert np.isclose(fair, es.case_crps(flat, y, fair=True).mean())
    spread, skill = es.spread_skill(torch.from_numpy(ens), torch.from_numpy(truth[None]))
    assert np.isclose(SCORE_BY_NAME["spread_skill"].of(s, 10), spread / skill)
    p, o = es.exceedance(flat, y, 1.2)
    assert np.isclose(SCORE_BY_NAME["brier_q90"].of(s, 10), ((p - o) ** 2).mean())
    assert np.isclose(
        SCORE_BY_NAME["bss_q90"].of(s, 10), 1 - ((p - o) ** 2).mean() / ((0.1 - o) ** 2).mean()
    )
    assert s["rank"].sum() == 64 and len(s["rank"]) == 11


def _system_table(m: int, n: int, dates: int, ab: tuple[float, float] | None) -> CaseTable:
    """raw-m, oracle-n and (with ab) the resampling control on a small system."""
    src = SystemData(SystemSource(size=16, dates=dates, members=m, seed=5))
    variables = src.variables
    train = np.concatenate([src.case(t, variables).members for t in range(8)])
    clim = Climate.of(train, variables)
    mean = train.mean(axis=(0, 2, 3))[:, None, None]
    sd = train.std(axis=(0, 2, 3))[:, None, None]
    table = CaseTable()
    for i, t in enumerate(range(8, dates)):
        case = src.case(t, variables)
        ens = {f"raw-{m}": case.members, f"oracle-{n}": src.oracle(t, n, variables)}
        if ab is not None:
            z = torch.from_numpy((case.members - mean) / sd)
            ens["resample"] = resample_fields(z, n, *ab, seed=i).numpy() * sd + mean
        for name, fields in ens.items():
            for c, v in enumerate(variables):
                sums = case_sums(fields[:, c], case.truth[c], clim.thresholds[v],
                                 clim.base_rate[v], 3, i)  # fmt: skip
                table.add(name, v, fields.shape[0], sums)
        table.blocks.append(i)
    return table


def test_oracle_beats_raw_and_resampling_closes_part_of_the_gap() -> None:
    m, n = 2, 48
    src = SystemData(SystemSource(size=16, dates=32, members=m, seed=5))
    cal = [src.case(t, src.variables) for t in range(8)]
    train = np.concatenate([c.members for c in cal])
    mean = train.mean(axis=(0, 2, 3))[:, None, None]
    sd = train.std(axis=(0, 2, 3))[:, None, None]

    def normalise(x: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(((x - mean) / sd).astype(np.float32))

    ccfg = CalibrationConfig(objective="truth", n=n, evals=16)
    fit = FieldCalibration(normalise, [c.members for c in cal], ccfg, [c.truth for c in cal])
    record = calibrate(fit)
    assert record["value_after"] <= record["value_before"]
    table = _system_table(m, n, 32, (record["a"], record["b"]))
    res = bootstrap(table, 300, np.random.default_rng(0), f"raw-{m}", [], f"oracle-{n}")
    for v in src.variables:
        for score in ("crps", "brier_q90"):
            d = res.diffs[(f"oracle-{n}", f"raw-{m}", v, score)]
            assert d.value < 0 and d.hi < 0, (v, score, d)
    for v in ("u10", "v10", "t2m"):  # Gaussian resampling of rain is no help (see README)
        gap = res.gap[("resample", v, "crps")]
        assert gap.lo > 0 and gap.hi < 1, (v, gap)


def test_bootstrap_is_paired_and_seeded() -> None:
    table = CaseTable()
    rng = np.random.default_rng(1)
    for k in range(12):
        ens = rng.normal(size=(6, 4, 4)) + rng.normal() * 3  # a shared case effect
        truth = rng.normal(size=(4, 4))
        thr, base = {"q90": 1.0, "q99": 2.0}, {"q90": 0.1, "q99": 0.01}
        table.add("a", "x", 6, case_sums(ens, truth, thr, base, 2, k))
        table.add("b", "x", 6, case_sums(ens + 0.01, truth, thr, base, 2, k))
        table.blocks.append(k)
    one = bootstrap(table, 200, np.random.default_rng(3), "a", [], None)
    two = bootstrap(table, 200, np.random.default_rng(3), "a", [], None)
    d = one.diffs[("b", "a", "x", "crps")]
    assert d.to_json() == two.diffs[("b", "a", "x", "crps")].to_json()
    single = one.scores[("a", "x", "crps")]
    # the case effect cancels in the paired difference: far narrower than either score
    assert (d.hi - d.lo) < 0.1 * (single.hi - single.lo)


@pytest.fixture(scope="module")
def small_study(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """Run a small study twice from one seed, and once from another."""
    from gensemble.study.job import run_study
    from gensemble.study.outputs import to_json

    base = {
        "system": {"size": 16, "width": 24, "dates": 14, "members": 5, "seed": 2},
        "splits": {"train": 6, "calibrate": 2, "test": 6},
        "inputs": 4,
        "n": 12,
        "methods": [{"name": "enriched"}, {"name": "tc", "objective": "truth", "hybrid": False}],
        "model": {"ref": str(CKPT)},
        "inversion": {"steps": 8},
        "calibration": {"n": 8, "evals": 4},
        "bootstrap": 50,
        "quality_samples": 32,
    }
    out = {}
    for label, seed in (("a", 0), ("b", 0), ("c", 1)):
        cfg = StudyConfig.model_validate(
            base | {"seed": seed, "output": str(tmp_path_factory.mktemp(label))}
        )
        out[label] = to_json(run_study(cfg, lambda s: None))
    return out


def test_study_is_reproducible_from_its_seed(small_study: dict) -> None:
    a, b, c = small_study["a"], small_study["b"], small_study["c"]
    assert json.dumps(a["scores"]) == json.dumps(b["scores"])
    assert a["calibration"] == b["calibration"]
    assert json.dumps(a["scores"]) != json.dumps(c["scores"])


def test_study_record_holds_every_ensemble_and_control(small_study: dict) -> None:
    a = small_study["a"]
    names = set(a["ensembles"])
    assert {"raw-1", "raw-2", "raw-4", "enriched", "enriched:hybrid", "tc"} <= names
    assert {"resample", "climate", "oracle-4", "oracle-12"} <= names
    assert a["ensembles"]["enriched:hybrid"] == 12 and a["ensembles"]["raw-4"] == 4
    assert "enriched - resample" in a["differences"] and "tc - raw-4" in a["differences"]
    assert a["oracle"] == "oracle-12" and a["gap_closed"]["enriched"]["rr"]["crps"]
    assert [f["name"] for f in a["calibration"]] == ["enriched", "tc", "resample"]
    assert a["split"]["test"][0].startswith("2021-01-09")
    assert any("generator was trained outside" in n for n in a["notes"])
    assert a["quality"]["metrics"]["swd/mean"]["real_vs_real"] > 0


def test_a_generator_of_another_grid_is_refused(tmp_path) -> None:  # noqa: ANN001
    from gensemble.study.job import run_study

    cfg = StudyConfig.model_validate(
        {
            "system": {"size": 16, "dates": 6, "members": 3},
            "splits": {"train": 2, "calibrate": 2, "test": 2},
            "inputs": 2,
            "n": 4,
            "model": {"ref": str(CKPT)},
            "output": str(tmp_path),
        }
    )
    with pytest.raises(UserError, match="makes 16x24 fields; the study's forecasts are 16x16"):
        run_study(cfg, lambda s: None)


def test_the_generator_is_reused_only_for_the_same_settings(tmp_path, monkeypatch) -> None:  # noqa: ANN001
    from gensemble.study import job

    calls = []

    def fake_train(spec, store, domain, folder, tracking, seed):  # noqa: ANN001, ANN202
        calls.append(seed)
        return CKPT, f"run{len(calls)}"

    monkeypatch.setattr(job, "train_generator", fake_train)
    base = {"system": {"size": 8, "dates": 6, "members": 2},
            "splits": {"train": 2, "calibrate": 2, "test": 2}, "inputs": 2, "n": 4,
            "output": str(tmp_path)}  # fmt: skip
    for seed in (0, 0, 1):
        cfg = StudyConfig.model_validate(base | {"seed": seed})
        src = SystemData(cfg.system)
        refs = src.references()
        split = split_dates(cfg.splits, refs)
        gens = job._Generators(cfg, src, refs, split, tmp_path, lambda s: None, [])
        ckpt, run = gens.get(cfg.model, "generator")
        assert ckpt == CKPT
    assert calls == [0, 1] and run == "run2"  # the second call reused the first generator
    # a conditional method's generator is its own, kept apart from the main one, and
    # another truth fraction is another generator
    cfg = StudyConfig.model_validate(base | {"seed": 1})
    gens = job._Generators(cfg, src, refs, split, tmp_path, lambda s: None, [])
    for tf in (0.0, 0.0, 1.0):
        method = Method(name="c", kind="conditional", truth_fraction=tf)
        spec = job._conditional_spec(cfg, method)
        assert spec.architecture["options"]["truth_fraction"] == tf
        gens.get(spec, f"generator-{method.name}")
    assert calls == [0, 1, 1, 1] and (tmp_path / "generator-c.json").exists()


def test_inversions_are_shared_while_calibrating_and_not_kept_after() -> None:
    from gensemble.study.job import SharedInversions

    class Counting:
        calls = 0

        def invert(self, members, cfg, on_step=None):  # noqa: ANN001, ANN201
            Counting.calls += 1
            return object()

    shared = SharedInversions(Counting())
    cfg = CalibrationConfig()  # any pydantic settings: the key is their JSON
    x = np.zeros((2, 3), dtype=np.float32)
    assert shared.invert(x, cfg) is shared.invert(x, cfg) and Counting.calls == 1
    shared.forget()
    shared.invert(x, cfg)
    shared.invert(x, cfg)
    assert Counting.calls == 3 and not shared._done  # test cases: inverted, never kept

"""Enrichment on a tiny StyleGAN2 (the format-2 checkpoint fixture, se_france 16x24):
inversion, perturbation, calibration, and the file written by `gensemble enrich`."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import xarray as xr

from gensemble.core.errors import UserError
from gensemble.enrichment.calibrate import Calibration, CalibrationConfig, calibrate
from gensemble.enrichment.invert import InversionConfig, invert
from gensemble.enrichment.io import ForecastCase, read_file, write_forecast
from gensemble.enrichment.latents import Whitener, ensemble_covariance
from gensemble.enrichment.perturb import PerturbConfig, assign, perturb, resolve_rows
from gensemble.enrichment.pipeline import Enricher
from gensemble.inference.loaded import LoadedModel
from tests.conftest import ROOT

CKPT = ROOT / "tests" / "fixtures" / "checkpoints" / "stylegan2-format2.safetensors"


@pytest.fixture(scope="module")
def enricher() -> Enricher:
    return Enricher(LoadedModel(CKPT), prior_draws=2000)


def known_members(e: Enricher, m: int = 4, seed: int = 3) -> tuple[torch.Tensor, torch.Tensor]:
    z = torch.randn(m, e.model.z_dim, generator=torch.Generator().manual_seed(seed))
    ws = e.model.map_z(z)
    with torch.no_grad():
        return ws, e.model.synthesize(ws, "zero")


def test_round_trip_error_falls_with_steps(enricher: Enricher) -> None:
    """Members made by the generator are exactly representable: with the projector's
    schedule the error must keep falling, and after 200 steps be far below the fields'
    variance - 2 % on average and 5 % for the hardest member, where two independent
    members differ by ~200 % (twice the variance) and the start, the mean w, by ~100 %."""
    _, target = known_members(enricher)
    errors = []
    for steps in (50, 100, 200):
        cfg = InversionConfig(steps=steps, tol=0)
        res = invert(enricher.model, target, enricher.loaded.variables, enricher.prior, cfg)
        errors.append(res.loss)
    assert float(errors[0].mean()) > float(errors[1].mean()) > float(errors[2].mean())
    var = float(target.var())
    assert float(errors[2].mean()) < 0.02 * var and float(errors[2].max()) < 0.05 * var


def test_batched_inversion_equals_one_by_one(enricher: Enricher) -> None:
    _, target = known_members(enricher, m=3)
    v = enricher.loaded.variables
    cfg = InversionConfig(steps=20, noise_factor=0.0, tol=0)
    together = invert(enricher.model, target, v, enricher.prior, cfg)
    alone = invert(enricher.model, target, v, enricher.prior, cfg.model_copy(update={"batch": 1}))
    torch.testing.assert_close(together.ws, alone.ws, atol=1e-5, rtol=1e-4)


def test_identity_and_collapse(enricher: Enricher) -> None:
    ws, _ = known_members(enricher, m=3)
    inv = invert(
        enricher.model,
        enricher.synthesize(ws, _const(ws), torch.arange(3)),
        enricher.loaded.variables,
        enricher.prior,
        InversionConfig(steps=5),
    )
    same, source = enricher.generate_normalised(inv, 6, PerturbConfig(a=0.0, b=0.0))
    expected = enricher.synthesize(inv.ws[source], inv, source)
    torch.testing.assert_close(same, expected, atol=0, rtol=0)
    torch.testing.assert_close(same[0], enricher.model.synthesize(inv.ws[:1], "zero")[0])
    collapsed, _ = enricher.generate_normalised(inv, 6, PerturbConfig(a=1.0, b=0.0))
    mean_field = enricher.model.synthesize(inv.ws.mean(0, keepdim=True), "zero")[0]
    for member in collapsed:
        torch.testing.assert_close(member, mean_field, atol=1e-5, rtol=1e-5)


def _const(ws: torch.Tensor):  # noqa: ANN202
    from gensemble.enrichment.invert import InversionResult

    return InversionResult(ws, None, torch.zeros(ws.shape[0]), 0)


def test_spread_grows_with_b(enricher: Enricher) -> None:
    ws, _ = known_members(enricher, m=4)
    inv = _const(ws)
    spreads = []
    for b in (0.0, 0.25, 0.5, 1.0, 2.0):
        fields, _ = enricher.generate_normalised(inv, 40, PerturbConfig(b=b, seed=1))
        spreads.append(float(fields.std(0).mean()))
    assert all(x < y for x, y in zip(spreads, spreads[1:], strict=False)), spreads


@pytest.mark.parametrize("sampling", ["ensemble", "per_row"])
def test_perturbations_have_the_ensemble_covariance_per_row(
    enricher: Enricher, sampling: str
) -> None:
    """The reference computes the covariance from a reshape that mixes members and rows;
    drawn perturbations must have each row's own covariance across the members, whether
    drawn in ensemble space or row by row."""
    gen = torch.Generator().manual_seed(0)
    m, s, d = 6, 5, 8
    ws = torch.randn(m, s, d, generator=gen, dtype=torch.float64)
    ws = ws * torch.linspace(0.2, 3.0, s)[None, :, None]  # rows of very different spread
    ws[:, 2] = ws[:, 2] @ torch.randn(d, d, generator=gen, dtype=torch.float64)
    cfg = PerturbConfig(a=0.0, b=1.0, floor=0.0, seed=4, sampling=sampling)
    plan = resolve_rows(cfg, [(4, 4)] * s)
    out, k = perturb(ws, 40_000, plan, enricher.prior, cfg)
    p = out - ws[k]
    for r in range(s):
        want = torch.cov(ws[:, r].t())
        got = torch.cov(p[:, r].t())
        assert torch.linalg.norm(got - want) / torch.linalg.norm(want) < 0.05, r
    cov = ensemble_covariance(ws)
    assert cov.variances.shape == (s, m - 1)
    torch.testing.assert_close(cov.matrix(2), torch.cov(ws[:, 2].t()))


def test_ensemble_space_draws_move_rows_together_and_stay_in_the_members_span(
    enricher: Enricher,
) -> None:
    """Real inverted members' rows deviate together (one deviation shared by every row
    here): ensemble-space draws keep that (cosine between rows about 1, as the members'),
    per-row draws lose it (about 0); and an ensemble-space perturbation of a row lies in
    the span of that row's member deviations.  Prior rows take one z per output member."""
    gen = torch.Generator().manual_seed(1)
    m, s, d = 5, 4, enricher.prior.mean.shape[0]
    shared = torch.randn(m, 1, d, generator=gen, dtype=torch.float64)
    ws = shared + 0.05 * torch.randn(m, s, d, generator=gen, dtype=torch.float64)

    def row_cosine(p: torch.Tensor) -> float:
        a, b = p[:, 0], p[:, 1]
        return float(torch.nn.functional.cosine_similarity(a, b, dim=1).mean())

    dev = ws - ws.mean(0)
    draws = {}
    for sampling in ("ensemble", "per_row"):
        cfg = PerturbConfig(a=0.0, b=1.0, floor=0.0, seed=2, sampling=sampling)
        out, k = perturb(ws, 2000, resolve_rows(cfg, [(4, 4)] * s), enricher.prior, cfg)
        draws[sampling] = out - ws[k]
    assert row_cosine(dev) > 0.95 and row_cosine(draws["ensemble"]) > 0.95
    assert abs(row_cosine(draws["per_row"])) < 0.1
    for r in range(s):  # residual after projecting on the members' deviations of row r
        basis = torch.linalg.qr(dev[:, r].t())[0]  # (D, M)
        p = draws["ensemble"][:, r]
        residual = p - (p @ basis) @ basis.t()
        assert float(residual.norm() / p.norm()) < 1e-10
    cfg = PerturbConfig(a=0.0, b=1.0, seed=2, prior_levels=[0])
    out, k = perturb(ws, 50, resolve_rows(cfg, [(4, 4)] * s), enricher.prior, cfg)
    p = (out - ws[k]).float()
    assert torch.allclose(p[:, 0], p[:, 1]) and torch.allclose(p[:, 0], p[:, -1])


def test_old_calibration_records_keep_per_row_sampling() -> None:
    from gensemble.enrichment.calibrate import FORMAT, perturb_from_record

    old = {"format": FORMAT, "perturb": {"a": 0.1, "b": 0.4}}
    assert perturb_from_record(old, "old.json").sampling == "per_row"
    assert PerturbConfig().sampling == "ensemble"


def test_whitened_prior_has_identity_covariance(enricher: Enricher) -> None:
    w = Whitener.fit(enricher.prior.samples)
    z = w.whiten(enricher.prior.samples)
    torch.testing.assert_close(
        torch.cov(z.t()), torch.eye(z.shape[1], dtype=z.dtype), atol=1e-6, rtol=1e-6
    )
    torch.testing.assert_close(w.colour(z), enricher.prior.samples.double())
    degenerate = torch.randn(500, 4, dtype=torch.float64)
    degenerate[:, 3] = degenerate[:, 2]  # singular covariance: the floor keeps it finite
    assert torch.isfinite(Whitener.fit(degenerate, floor=1e-3).whiten(degenerate)).all()


def test_uneven_n_over_m_uses_every_input() -> None:
    k = assign(10, 4)
    counts = torch.bincount(k, minlength=4)
    assert counts.min() >= 2 and counts.max() <= 3 and int(counts.sum()) == 10
    with pytest.raises(UserError, match="at least 4"):
        assign(3, 4)


def test_rows_by_level_and_prior_rows(enricher: Enricher) -> None:
    levels = enricher.model.style_levels()
    plan = resolve_rows(PerturbConfig(a=0.3, b=1.0, levels=[0], prior_levels=[2]), levels)
    coarse = [i for i, hw in enumerate(levels) if hw == min(levels)]
    assert plan.b.nonzero().flatten().tolist() == coarse and plan.a[coarse[0]] == 0.3
    assert plan.prior_rows.sum() > 0
    with pytest.raises(UserError, match="out of range"):
        resolve_rows(PerturbConfig(rows=[99]), levels)


def test_same_seed_same_members(enricher: Enricher) -> None:
    _, target = known_members(enricher, m=3)
    members = enricher.physical(target)
    inv_cfg = InversionConfig(steps=10)
    runs = [enricher.enrich(members, 7, inv_cfg, PerturbConfig(seed=s)) for s in (5, 5, 6)]
    np.testing.assert_array_equal(runs[0].fields, runs[1].fields)
    assert not np.array_equal(runs[0].fields, runs[2].fields)
    hybrid = enricher.enrich(members, 7, inv_cfg, PerturbConfig(seed=5), hybrid=True)
    assert hybrid.generated.tolist() == [0, 0, 0, 1, 1, 1, 1]
    np.testing.assert_array_equal(hybrid.fields[:3], members)


def test_optimised_noise_is_reused_for_generated_members(enricher: Enricher) -> None:
    _, target = known_members(enricher, m=2)
    inv = enricher.invert(
        enricher.physical(target), InversionConfig(steps=10, noise="optimize"), None
    )
    assert inv.noise is not None and inv.noise[0].shape[0] == 2
    fields, source = enricher.generate_normalised(inv, 4, PerturbConfig(a=0.0, b=0.0))
    direct = enricher.model.synthesize(inv.ws[1:2], [n[1:2] for n in inv.noise])
    torch.testing.assert_close(fields[source.tolist().index(1)], direct[0])


@pytest.mark.parametrize("noise", ["optimize", "random"])
def test_batched_inversion_is_one_member_at_a_time(enricher: Enricher, noise: str) -> None:
    """Each member has its own random streams, noise penalty and early stop: inverting
    three members together gives the codes (and maps) of inverting them one by one."""
    _, target = known_members(enricher, m=3)
    members = enricher.physical(target)
    cfg = dict(steps=30, noise=noise, seed=4, tol=0.05, patience=3, noise_ramp=0.2)
    together = enricher.invert(members, InversionConfig(batch=3, **cfg), None)
    alone = enricher.invert(members, InversionConfig(batch=1, **cfg), None)
    torch.testing.assert_close(together.ws, alone.ws, atol=1e-4, rtol=1e-4)
    torch.testing.assert_close(together.loss, alone.loss, atol=1e-5, rtol=1e-4)
    if noise == "optimize":
        torch.testing.assert_close(together.noise[0], alone.noise[0], atol=1e-4, rtol=1e-4)


def test_noise_modes_fixed_random_and_const(enricher: Enricher) -> None:
    """Clones of one member (b = 0: the same code) differ only through their noise:
    identical with zero (const) or fixed maps, different with fresh random maps per
    generated member.  Fixed maps are one seeded draw, the same for every member, and
    random inversions are reproducible from their seed."""
    _, target = known_members(enricher, m=2)
    members = enricher.physical(target)
    clones = {}
    for mode in ("const", "fixed", "random"):
        inv = enricher.invert(members, InversionConfig(steps=6, noise=mode, seed=3), None)
        assert inv.noise_mode == mode
        fields, source = enricher.generate_normalised(inv, 4, PerturbConfig(a=0.0, b=0.0))
        same = (source == source[0]).nonzero().flatten()
        clones[mode] = fields[same]
        if mode == "fixed":
            assert inv.noise is not None
            torch.testing.assert_close(inv.noise[0][0], inv.noise[0][1])
            assert float(inv.noise[0].std()) > 0.5  # a real N(0, 1) draw, not zeros
        if mode == "random":
            again = enricher.invert(members, InversionConfig(steps=6, noise=mode, seed=3), None)
            torch.testing.assert_close(again.ws, inv.ws)
    for mode in ("const", "fixed"):
        torch.testing.assert_close(clones[mode][0], clones[mode][1])
    assert not torch.allclose(clones["random"][0], clones["random"][1])


def test_cf_file_round_trip(enricher: Enricher, tmp_path) -> None:  # noqa: ANN001
    _, target = known_members(enricher, m=3)
    members = enricher.physical(target)
    out = enricher.enrich(members, 6, InversionConfig(steps=5), PerturbConfig())
    case = ForecastCase(np.datetime64("2020-10-02T12:00"), 12.0, members, np.arange(3))
    path = write_forecast(
        tmp_path / "f.nc",
        enricher.loaded.grid,
        "se_france",
        enricher.loaded.variables,
        [case],
        [out],
        {"seed": 0},
    )
    with xr.open_dataset(path) as ds:
        assert ds["rr"].attrs["units"] == "mm/h" and ds["rr"].attrs["grid_mapping"] == "crs"
        assert "grid_mapping_name" in ds["crs"].attrs
        assert ds.generated.values.tolist() == [1] * 6
        assert ds["forecast_reference_time"].values[0] == np.datetime64("2020-10-02T00:00", "ns")
        assert ds["reconstruction_rmse"].shape == (1, 3, 4)
        np.testing.assert_allclose(ds["t2m"].values[0], out.fields[:, 3], rtol=1e-6)
    again = read_file(path, enricher.loaded.variables, enricher.loaded.grid)
    np.testing.assert_allclose(again[0].members, out.fields, rtol=1e-5, atol=1e-5)


def test_calibration_lowers_its_objective_on_held_back_members(enricher: Enricher) -> None:
    forecasts = []
    for seed in (1, 2):
        _, target = known_members(enricher, m=8, seed=seed)
        forecasts.append(enricher.physical(target))
    cfg = CalibrationConfig(objective="crps", n=16, evals=25)
    calib = Calibration(enricher, forecasts, cfg, InversionConfig(steps=30), PerturbConfig(b=2.5))
    record = calibrate(calib)
    assert record["value_after"] < record["value_before"]
    assert len(record["a"]) == enricher.model.num_styles() and record["objective"] == "crps"
    ref = Calibration(
        enricher,
        forecasts[:1],
        CalibrationConfig(objective="reference", n=8, evals=10),
        InversionConfig(steps=10),
        PerturbConfig(),
    )
    assert calibrate(ref)["value_after"] <= calibrate(ref)["value_before"]


def test_architecture_without_latent_access_is_refused() -> None:
    loaded = LoadedModel(CKPT)

    class Plain(torch.nn.Module):
        architecture = "plain"

    loaded.model = Plain()
    with pytest.raises(UserError, match="'plain' does not support latent access"):
        Enricher(loaded)


def test_calibration_learns_only_the_chosen_levels(enricher: Enricher) -> None:
    _, target = known_members(enricher, m=4, seed=9)
    cfg = CalibrationConfig(objective="crps", n=8, evals=8, per_level=True)
    calib = Calibration(
        enricher,
        [enricher.physical(target)],
        cfg,
        InversionConfig(steps=5),
        PerturbConfig(levels=[0]),
    )
    record = calibrate(calib)
    levels = enricher.model.style_levels()
    coarse = [i for i, hw in enumerate(levels) if hw == min(levels)]
    assert all(record["b"][i] == 0 for i in range(len(levels)) if i not in coarse)


def test_inversion_through_a_compiled_generator() -> None:
    e = Enricher(LoadedModel(CKPT), prior_draws=500)
    _, target = known_members(e, m=2)
    plain = invert(e.model, target, e.loaded.variables, e.prior, InversionConfig(steps=5))
    assert e.loaded.model.compile_networks("aot_eager", training=False)
    compiled = invert(e.model, target, e.loaded.variables, e.prior, InversionConfig(steps=5))
    torch.testing.assert_close(compiled.ws, plain.ws, atol=1e-5, rtol=1e-4)


def test_holdout_scores_each_valid_time_against_its_own_case() -> None:
    """Two valid times whose weather differs by 100 units: every held-back member is
    scored against its own case's ensembles, not against the pooled members of both
    (which would make the raw CRPS about 25 instead of about 0.6)."""
    from gensemble.enrichment.io import ForecastCase
    from gensemble.enrichment.job import EnrichJobResult, holdout_scores
    from gensemble.enrichment.pipeline import EnrichedForecast

    rng = np.random.default_rng(0)
    cases, outputs, held = [], [], []
    for k, centre in enumerate((0.0, 100.0)):

        def draw(n: int, centre: float = centre) -> np.ndarray:
            return (centre + rng.normal(size=(n, 1, 8, 8))).astype(np.float32)

        cases.append(ForecastCase(np.datetime64("2020-01-01T00") + k, 1.0, draw(6), np.arange(6)))
        gen = draw(12)
        outputs.append(
            EnrichedForecast(gen, np.zeros(12, int), np.ones(12), np.zeros((6, 1)), None)
        )
        held.append(draw(2))
    result = EnrichJobResult(ROOT / "x.nc", ["t2m"], cases, outputs, held, {})
    rows = holdout_scores(result)
    assert set(rows) == {"raw (6)", "enriched (12)", "hybrid"}
    for row in rows.values():
        assert row["crps/t2m"] < 1.0, rows  # one N(c, 1) law per case: CRPS about 0.56


def test_truth_objective_scores_against_each_forecasts_truth(enricher: Enricher) -> None:
    forecasts, truths = [], []
    for seed in (4, 5):
        _, target = known_members(enricher, m=5, seed=seed)
        fields = enricher.physical(target)
        forecasts.append(fields[:4])
        truths.append(fields[4])  # one more draw: the truth is never inverted
    cfg = CalibrationConfig(objective="truth", n=12, evals=8)
    with pytest.raises(UserError, match="needs the verifying truth"):
        Calibration(enricher, forecasts, cfg, InversionConfig(steps=5), PerturbConfig())
    calib = Calibration(
        enricher, forecasts, cfg, InversionConfig(steps=5), PerturbConfig(), truths=truths
    )
    # every member is inverted (as in deployment), and each is held to its truth alone
    assert [inv.ws.shape[0] for inv, _ in calib.cases] == [4, 4]
    assert [held.shape[0] for _, held in calib.cases] == [1, 1]
    record = calibrate(calib)
    assert record["value_after"] <= record["value_before"] and record["objective"] == "truth"
    assert CalibrationConfig().inflation == 1.2  # the published method's spread factor


def test_bf16_inversion_and_generation_stay_close_to_fp32() -> None:
    """bf16 autocast (what a GPU runs by default, here on the CPU): the codes and losses
    stay float32, the reconstruction error is within a few percent of fp32's, and auto
    on a CPU is fp32 exactly."""
    e = Enricher(LoadedModel(CKPT), prior_draws=500)
    _, target = known_members(e, m=3)
    run = {p: invert(e.model, target, e.loaded.variables, e.prior,
                     InversionConfig(steps=30, tol=0, precision=p))
           for p in ("fp32", "bf16", "auto")}  # fmt: skip
    torch.testing.assert_close(run["auto"].ws, run["fp32"].ws, atol=0, rtol=0)
    bf = run["bf16"]
    assert bf.ws.dtype == torch.float32 and bf.loss.dtype == torch.float32
    assert bf.precision == "bf16" and not torch.equal(bf.ws, run["fp32"].ws)
    members = e.physical(target)
    fp32_rmse, bf16_rmse = e.rmse(members, run["fp32"]), e.rmse(members, bf)
    assert np.all(bf16_rmse <= 1.1 * fp32_rmse + 1e-3), (bf16_rmse, fp32_rmse)
    fields, _ = e.generate(bf, 4, PerturbConfig(seed=1))
    assert fields.dtype == np.float32 and np.isfinite(fields).all()

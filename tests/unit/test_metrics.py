"""Every metric against an independent implementation or a case with a known answer."""

from __future__ import annotations

import numpy as np
import properscoring as ps
import pytest
import scipy.fft
import scipy.stats
import torch
import xarray as xr

from gensemble.api.metric_context import EvalContext
from gensemble.core.errors import UserError
from gensemble.core.registry import get_registry
from gensemble.plugins.metrics.spectrum import dct_spectrum, fft_spectrum


def metric(name: str, **options):
    return get_registry().get("metric", name)(options)


def ctx(*variables: str, dx_m: float = 2500.0) -> EvalContext:
    return EvalContext(list(variables), dx_m=dx_m, figures=False)


def gaussian_fields(n: int, h: int, w: int, length: float, seed: int = 0) -> torch.Tensor:
    """Stationary fields with Gaussian correlation exp(-r^2 / (2 l^2)) (l in points)."""
    rng = np.random.default_rng(seed)
    noise = rng.standard_normal((n, h, w))
    ky = np.fft.fftfreq(h)[:, None]
    kx = np.fft.fftfreq(w)[None, :]
    # spectrum of exp(-r^2/(2 l^2)) is a Gaussian; filter amplitude = sqrt of it
    amp = np.exp(-((2 * np.pi) ** 2) * (kx**2 + ky**2) * length**2 / 4)
    f = np.fft.ifft2(np.fft.fft2(noise) * amp).real
    f /= f.std(axis=(1, 2), keepdims=True).mean()
    return torch.from_numpy(f.astype(np.float32))


def power_law_fields(n: int, size: int, beta: float, seed: int = 0) -> torch.Tensor:
    rng = np.random.default_rng(seed)
    k = np.hypot(np.fft.fftfreq(size)[:, None], np.fft.fftfreq(size)[None, :])
    k[0, 0] = 1.0
    amp = k ** (-beta / 2)
    amp[0, 0] = 0.0
    noise = np.fft.fft2(rng.standard_normal((n, size, size)))
    return torch.from_numpy(np.fft.ifft2(noise * amp).real.astype(np.float32))


# -- pointwise W1 ----------------------------------------------------------------------------
@pytest.mark.parametrize("n_fake", [40, 57])
def test_w1_matches_scipy(n_fake: int) -> None:
    g = torch.Generator().manual_seed(1)
    real = torch.randn(40, 2, 12, 10, generator=g)
    fake = 1.5 * torch.randn(n_fake, 2, 12, 10, generator=g) + 0.3
    res = metric("w1", center=4, random_points=50).compute(real, fake, ctx("u10", "v10"))
    for c, var in enumerate(("u10", "v10")):
        ref = np.array(
            [
                [
                    scipy.stats.wasserstein_distance(real[:, c, i, j], fake[:, c, i, j])
                    for j in range(10)
                ]
                for i in range(12)
            ]
        )
        np.testing.assert_allclose(res.maps[f"w1_map/{var}"], ref, rtol=1e-5)
        assert res.scalars[f"w1_center/{var}"] == pytest.approx(ref[4:8, 3:7].mean(), rel=1e-5)
        assert res.scalars[f"w1_mean/{var}"] == pytest.approx(ref.mean(), rel=1e-5)
    same = metric("w1").compute(real, real.clone(), ctx("u10", "v10"))
    assert same.scalars["w1_mean/u10"] == 0.0


# -- SWD -------------------------------------------------------------------------------------
def test_swd_zero_for_identical_sets_and_grows_with_shift() -> None:
    real = gaussian_fields(48, 64, 64, 4.0).reshape(24, 2, 64, 64)
    opts = dict(patches_per_image=32, directions=32, repeats=2)
    same = metric("swd", **opts).compute(real, real.clone(), ctx("u10", "v10"))
    assert all(v == pytest.approx(0.0, abs=1e-6) for v in same.scalars.values())
    assert set(same.scalars) == {
        "swd/level0_64x64",
        "swd/level1_32x32",
        "swd/level2_16x16",
        "swd/mean",
    }
    means, coarse = [], []
    for shift in (0.25, 0.5, 1.0):
        res = metric("swd", **opts).compute(real, real + shift, ctx("u10", "v10"))
        # a constant shift leaves the band-pass levels untouched: only the residual sees it
        assert res.scalars["swd/level0_64x64"] == pytest.approx(0.0, abs=1e-2)
        means.append(res.scalars["swd/mean"])
        coarse.append(res.scalars["swd/level2_16x16"])
    assert means[0] < means[1] < means[2]
    # sorted projections all move by theta . s: the distance is linear in the shift
    assert coarse[2] / coarse[1] == pytest.approx(2.0, rel=1e-3)
    noisy = metric("swd", **opts).compute(real, real + 0.5 * torch.randn_like(real), ctx("a", "b"))
    assert noisy.scalars["swd/level0_64x64"] > 10 * abs(same.scalars["swd/level0_64x64"]) + 1


def test_swd_rectangular_domain() -> None:
    real = torch.randn(8, 1, 40, 70)
    res = metric("swd", patches_per_image=8, directions=8, repeats=1).compute(
        real, torch.randn(8, 1, 40, 70), ctx("t2m")
    )
    assert "swd/level1_20x35" in res.scalars and res.scalars["swd/mean"] > 0


# -- spectra ---------------------------------------------------------------------------------
def test_fft_spectrum_matches_pysteps_and_recovers_power_law() -> None:
    from pysteps.utils.spectral import rapsd

    x = power_law_fields(6, 128, beta=3.0)
    x = x + 2.0  # a mean, so that k = 0 is compared too
    ours = fft_spectrum(x[:, None])[0].numpy()
    ref = np.mean([rapsd(f.numpy().astype(np.float64), np.fft) for f in x], axis=0)
    np.testing.assert_allclose(ours, ref, rtol=1e-4)
    k = np.arange(len(ours))
    sel = (k >= 4) & (k <= 40)
    slope = np.polyfit(np.log(k[sel]), np.log(ours[sel]), 1)[0]
    assert slope == pytest.approx(-3.0, abs=0.15)


def test_dct_spectrum_matches_scipy_reference() -> None:
    x = power_law_fields(10, 48, beta=2.0).reshape(5, 2, 48, 48)[:, :, :, :40]
    ours = dct_spectrum(x).numpy()
    c = scipy.fft.dctn(x.numpy().astype(np.float64), axes=(-2, -1), norm="ortho")
    var = c.var(axis=0)
    i, j = np.meshgrid(np.arange(48) / 48, np.arange(40) / 40, indexing="ij")
    r = np.round(np.hypot(i, j) * 40).astype(int)
    for ch in range(2):
        ref = [var[ch][r == b].mean() for b in range(40)]
        np.testing.assert_allclose(ours[ch], ref, rtol=1e-4)


def test_log_spectral_distance() -> None:
    x = power_law_fields(8, 64, beta=3.0)[:, None]
    same = metric("spectrum").compute(x, x.clone(), ctx("t2m"))
    assert same.scalars["spectrum_dct_lsd/t2m"] == pytest.approx(0.0, abs=1e-9)
    # scaling a field by 10 multiplies its power by 100: log10 distance exactly 2
    scaled = metric("spectrum").compute(x, 10 * x, ctx("t2m"))
    assert scaled.scalars["spectrum_dct_lsd/t2m"] == pytest.approx(2.0, rel=1e-4)
    assert scaled.scalars["spectrum_fft_lsd/t2m"] == pytest.approx(2.0, rel=1e-4)


# -- correlation length ----------------------------------------------------------------------
def test_correlation_length_of_gaussian_correlated_fields() -> None:
    length_pts = 6.0
    x = gaussian_fields(400, 48, 48, length_pts, seed=3)[:, None]
    res = metric("corr_length").compute(x, x.clone(), ctx("t2m", dx_m=2500.0))
    lr = res.maps["corr_length_real/t2m"]
    # finite differences: E[(d eps)^2] = 2 (1 - rho(dx)) / dx^2, rho = exp(-dx^2 / (2 l^2))
    expected = 2.5 / np.sqrt(2 * (1 - np.exp(-1 / (2 * length_pts**2))))
    assert np.median(lr) == pytest.approx(expected, rel=0.05)
    assert expected == pytest.approx(length_pts * 2.5, rel=0.02)
    assert res.scalars["corr_length/t2m"] == 0.0
    smoother = gaussian_fields(400, 48, 48, 2 * length_pts, seed=4)[:, None]
    diff = metric("corr_length").compute(x, smoother, ctx("t2m"))
    assert diff.scalars["corr_length/t2m"] == pytest.approx(expected, rel=0.15)


# -- quantiles, histograms -------------------------------------------------------------------
def test_quantile_maps_match_numpy() -> None:
    g = torch.Generator().manual_seed(2)
    real, fake = torch.randn(101, 1, 6, 7, generator=g), torch.rand(80, 1, 6, 7, generator=g)
    res = metric("quantiles").compute(real, fake, ctx("rr"))
    for q in (0.01, 0.1, 0.9, 0.99):
        qr = np.quantile(real.numpy()[:, 0], q, axis=0)
        qf = np.quantile(fake.numpy()[:, 0], q, axis=0)
        np.testing.assert_allclose(res.maps[f"quantile_real/q{q:g}/rr"], qr, rtol=1e-5, atol=1e-6)
        assert res.scalars[f"quantiles/q{q:g}/rr"] == pytest.approx(
            np.abs(qr - qf).mean(), rel=1e-5
        )


def test_hist2d_against_numpy_and_known_distances() -> None:
    g = torch.Generator().manual_seed(0)
    real = torch.randn(50, 2, 16, 16, generator=g)
    m = metric("hist2d", bins=10)
    res = m.compute(real, real.clone(), ctx("u10", "v10"))
    assert res.scalars["hist2d_tv/u10-v10"] == 0.0
    h = res.maps["hist2d_real/u10-v10"]
    a, b = real[:, 0].numpy().ravel(), real[:, 1].numpy().ravel()
    ea = np.linspace(*np.quantile(a.astype(np.float64), [0.001, 0.999]), 11)
    eb = np.linspace(*np.quantile(b.astype(np.float64), [0.001, 0.999]), 11)
    ref, _, _ = np.histogram2d(np.clip(a, ea[0], ea[-1]), np.clip(b, eb[0], eb[-1]), [ea, eb])
    np.testing.assert_allclose(h, ref / ref.sum(), atol=1e-12)
    far = m.compute(real, real + 100.0, ctx("u10", "v10")).scalars["hist2d_tv/u10-v10"]
    assert far > 0.99  # all generated mass in one corner bin


# -- ensemble scores on the real ERA5 10-member ensemble ------------------------------------
@pytest.fixture
def era5(shared_data) -> tuple[torch.Tensor, torch.Tensor, list[str]]:
    """Member 0 as observation, members 1-9 as the ensemble: (K, C, H, W), (K, M, C, H, W)."""
    ds = xr.open_dataset(shared_data / "era5-levels-members.nc")
    arrays, names = [], []
    for v in ("z", "t"):
        for lev in (850, 500):
            arrays.append(ds[v].sel(isobaricInhPa=lev).values)  # number, time, lat, lon
            names.append(f"{v}{lev}")
    data = torch.from_numpy(np.stack(arrays, axis=2))  # number, time, C, lat, lon
    return data[0], data[1:].permute(1, 0, 2, 3, 4).contiguous(), names


def test_crps_against_properscoring_on_era5(era5) -> None:
    obs, ens, names = era5
    res = metric("crps").compute(obs, ens, ctx(*names))
    for c, var in enumerate(names):
        o = obs[:, c].numpy()
        e = np.moveaxis(ens[:, :, c].numpy(), 1, -1)
        ref = ps.crps_ensemble(o, e).mean()
        assert res.scalars[f"crps/{var}"] == pytest.approx(ref, rel=1e-6)
        m = e.shape[-1]
        pair = np.abs(e[..., :, None] - e[..., None, :]).sum((-1, -2))
        fair = (np.abs(e - o[..., None]).mean(-1) - pair / (2 * m * (m - 1))).mean()
        assert res.scalars[f"crps_fair/{var}"] == pytest.approx(fair, rel=1e-6)
    # one shared ensemble (the first time's members) against every observation
    shared = metric("crps").compute(obs, ens[0], ctx(*names))
    e0 = np.moveaxis(ens[0, :, 0].numpy(), 0, -1)
    ref = ps.crps_ensemble(obs[:, 0].numpy(), np.broadcast_to(e0, (4, *e0.shape))).mean()
    assert shared.scalars["crps/z850"] == pytest.approx(ref, rel=1e-6)


def test_spread_skill_on_era5(era5) -> None:
    obs, ens, names = era5
    res = metric("spread_skill").compute(obs, ens, ctx(*names))
    e, o = ens[:, :, 2].double().numpy(), obs[:, 2].double().numpy()
    m = e.shape[1]
    spread = np.sqrt((m + 1) / m) * np.sqrt(e.var(axis=1, ddof=1).mean())
    skill = np.sqrt(((e.mean(axis=1) - o) ** 2).mean())
    assert res.scalars["spread/t850"] == pytest.approx(spread, rel=1e-6)
    assert res.scalars["spread_skill_ratio/t850"] == pytest.approx(spread / skill, rel=1e-6)
    # ERA5's members are exchangeable with member 0: the ratio is near one
    assert 0.6 < res.scalars["spread_skill_ratio/t850"] < 1.6


def test_rank_histogram_on_era5_and_reliability(era5) -> None:
    obs, ens, names = era5
    res = metric("rank_histogram").compute(obs, ens, ctx(*names))
    e, o = ens[:, :, 3].numpy(), obs[:, 3].numpy()
    # GRIB packing makes ties; they are broken at random, so the rank of each case lies
    # between the count of members below and the count of members below or equal
    low = np.bincount((e < o[:, None]).sum(axis=1).ravel(), minlength=10)
    high = np.bincount((e <= o[:, None]).sum(axis=1).ravel(), minlength=10)
    cdf = np.cumsum(res.maps["rank_histogram/t500"])
    assert np.all(np.cumsum(high) / high.sum() <= cdf + 1e-12)
    assert np.all(cdf <= np.cumsum(low) / low.sum() + 1e-12)
    jitter = torch.from_numpy(np.random.default_rng(0).standard_normal(ens.shape) * 1e-3)
    untied = metric("rank_histogram").compute(obs.double(), ens.double() + jitter, ctx(*names))
    ej = (ens.double() + jitter)[:, :, 3].numpy()
    ref = np.bincount((ej < o[:, None]).sum(axis=1).ravel(), minlength=10)
    np.testing.assert_allclose(untied.maps["rank_histogram/t500"], ref / ref.sum())
    g = torch.Generator().manual_seed(0)
    members = torch.randn(2000, 20, 1, 1, 1, generator=g)
    truth = torch.randn(2000, 1, 1, 1, generator=g)
    good = metric("rank_histogram").compute(truth, members, ctx("x"))
    narrow = metric("rank_histogram").compute(truth, 0.3 * members, ctx("x"))
    assert 0.3 < good.scalars["rank_unreliability/x"] < 2.5
    assert narrow.scalars["rank_unreliability/x"] > 20
    h = narrow.maps["rank_histogram/x"]
    assert h[0] > 3 * h[10] and h[-1] > 3 * h[10]  # U shape of an under-dispersive ensemble


def test_brier_against_properscoring_on_era5(era5) -> None:
    obs, ens, names = era5
    thr = {"t850": [265.0, 280.0], "z500": [55000.0]}
    res = metric("brier", thresholds=thr).compute(obs, ens, ctx(*names))
    for var, ts in thr.items():
        c = names.index(var)
        o = obs[:, c].double().numpy()
        e = np.moveaxis(ens[:, :, c].double().numpy(), 1, -1)
        for t in ts:
            ref = ps.threshold_brier_score(o, e, t).mean()
            assert res.scalars[f"brier/{var}/gt{t:g}"] == pytest.approx(ref, rel=1e-9)
    curve = res.maps["reliability/t850/gt280"]
    assert np.nansum(curve[2]) == obs[:, 0].numel()
    with pytest.raises(UserError, match="rr"):
        metric("brier", thresholds={"rr": [1.0]}).compute(obs, ens, ctx(*names))


# -- high-impact events ----------------------------------------------------------------------
@pytest.mark.parametrize("scale", [1, 2, 5, 10])
def test_fss_against_pysteps(scale: int) -> None:
    from pysteps.verification.spatialscores import fss as pysteps_fss

    g = torch.Generator().manual_seed(scale)
    real = 3 * gaussian_fields(6, 40, 50, 3.0, seed=scale).abs()[:, None]
    fake = 3 * gaussian_fields(6, 40, 50, 3.0, seed=scale + 10).abs()[:, None]
    fake += 0.1 * torch.rand(fake.shape, generator=g)
    res = metric("fss", thresholds={"rr": [1.0]}, scales=[scale], pairs=1).compute(
        real, fake, ctx("rr")
    )
    ref = pysteps_fss(fake[0, 0].double().numpy(), real[0, 0].double().numpy(), 1.0, scale)
    assert res.scalars[f"fss/rr/gt1/s{scale}"] == pytest.approx(ref, rel=1e-9)


def test_exceedance_and_tail_quantiles() -> None:
    g = torch.Generator().manual_seed(0)
    real = torch.rand(20, 2, 8, 8, generator=g) * 20
    fake = real * 1.5
    res = metric("exceedance").compute(real, fake, ctx("rr", "t2m"))
    fr = (real[:, 0] > 10).double().mean().item()
    assert res.scalars["exceedance_real/rr/gt10"] == pytest.approx(fr)
    assert res.scalars["freq_bias/rr/gt10"] == pytest.approx(
        (fake[:, 0] > 10).double().mean().item() / fr
    )
    assert "exceedance_real/t2m/gt278.15" in res.scalars
    tq = metric("tail_quantiles").compute(real, fake, ctx("rr", "t2m"))
    assert tq.scalars["tail_q0.999_real/rr"] == pytest.approx(
        np.quantile(real[:, 0].numpy(), 0.999), rel=1e-6
    )
    assert tq.scalars["tail_q0.99_error/rr"] == pytest.approx(
        0.5 * np.quantile(real[:, 0].numpy(), 0.99), rel=1e-5
    )


def test_wind_speed_thresholds_are_derived() -> None:
    real = torch.zeros(4, 2, 5, 5)
    real[:, 0] = 3.0
    real[:, 1] = 4.0  # |wind| = 5 m/s
    res = metric("exceedance").compute(real, real.clone(), ctx("u10", "v10"))
    assert res.scalars["exceedance_real/ff10/gt2.78"] == 1.0
    assert res.scalars["exceedance_real/ff10/gt5.56"] == 0.0


def test_rain_objects_known_shapes() -> None:
    real = torch.zeros(2, 1, 20, 20)
    real[0, 0, 2:4, 2:5] = 4.0  # 6 points
    real[0, 0, 10:12, 10:12] = 2.0  # 4 points
    real[1, 0, 5, 5] = 3.0  # 1 point
    real[1, 0, 6, 6] = 3.0  # diagonal neighbour: joined with 8-connectivity
    res = metric("rain_objects").compute(real, real.clone(), ctx("rr", dx_m=2000.0))
    assert res.scalars["rain_objects_real/count"] == 1.5
    assert res.scalars["rain_objects_real/area_km2"] == pytest.approx((6 + 4 + 2) / 3 * 4.0)
    four = metric("rain_objects", connectivity=1).compute(real, real.clone(), ctx("rr"))
    assert four.scalars["rain_objects_real/count"] == 2.0
    assert metric("rain_objects").compute(real, real, ctx("t2m")).scalars == {}
    with pytest.raises(UserError, match="not in"):
        metric("rain_objects", variable="rr").compute(real, real, ctx("t2m"))

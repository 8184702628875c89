"""Power spectra and the log spectral distance.

* DCT spectrum (Brochet et al. 2023): orthonormal 2-D DCT of each field, variance of each
  coefficient over the sample set, radially binned (see ``radial_index_dct``).
* FFT spectrum (pysteps' ``rapsd``): |FFT|^2 / (H W) averaged over samples, radially
  averaged by integer wavenumber.
Log spectral distance per channel: sqrt(mean_k (log10 P_real - log10 P_fake)^2) over all
bins except the mean (k = 0).  Accumulated chunk by chunk, so any number of samples fits.

Fields that are constant in space have no spectrum: the distance is then undefined (NaN,
with the reason), never a perfect 0, and so is a distance where one side has no power at
a wavenumber where the other has some (an infinite log ratio).  Bins where neither side
has power carry no information and are skipped.
"""

from __future__ import annotations

import logging
import math

import numpy as np
import torch
from pydantic import Field

from gensemble.api import (
    EvalContext,
    MetricPlugin,
    MetricResult,
    PluginOptions,
    chunks,
    dct2,
    hookimpl,
    radial_average,
    radial_index_dct,
    radial_index_fft,
)
from gensemble.api import metric_figures as figures

LOG = logging.getLogger(__name__)


def dct_spectrum(
    x: torch.Tensor, chunk: int = 128, device: str | torch.device = "cpu"
) -> torch.Tensor:
    """(N, C, H, W) -> (C, nbins) radially binned variance of DCT coefficients."""
    h, w = x.shape[-2:]
    s1 = torch.zeros(x.shape[1:], dtype=torch.float64, device=device)
    s2 = torch.zeros_like(s1)
    for sl in chunks(x.shape[0], chunk):
        c = dct2(x[sl].to(device, torch.float32))
        s1 += c.sum(0, dtype=torch.float64)
        s2 += c.square().sum(0, dtype=torch.float64)
    n = x.shape[0]
    var = (s2 / n - (s1 / n) ** 2).clamp_min(0)
    index, nbins = radial_index_dct(h, w)
    return radial_average(var, index, nbins).cpu()


def fft_spectrum(
    x: torch.Tensor, chunk: int = 128, device: str | torch.device = "cpu"
) -> torch.Tensor:
    """(N, C, H, W) -> (C, nbins) sample mean of pysteps-style radially averaged power."""
    h, w = x.shape[-2:]
    acc = torch.zeros(x.shape[1:], dtype=torch.float64, device=device)
    for sl in chunks(x.shape[0], chunk):
        f = torch.fft.fft2(x[sl].to(device, torch.float32))
        acc += (f.real.square() + f.imag.square()).sum(0, dtype=torch.float64)
    power = acc / x.shape[0] / (h * w)
    index, nbins = radial_index_fft(h, w)
    return radial_average(power, index, nbins).cpu()


def spatially_flat(x: torch.Tensor) -> torch.Tensor:
    """(N, C, H, W) -> (C,) True where every field of the channel is constant in space
    (to float32 precision): such fields have no power at any wavenumber k >= 1."""
    spread = x.amax(dim=(-2, -1)) - x.amin(dim=(-2, -1))  # (N, C)
    scale = x.abs().amax(dim=(0, 2, 3)).clamp_min(1.0)
    return (spread <= 1e-6 * scale).all(dim=0)


def log_spectral_distance(p_real: torch.Tensor, p_fake: torch.Tensor) -> torch.Tensor:
    """Per channel, over bins k >= 1 where at least one side has power; a bin where only
    one side has power makes the distance infinite."""
    a, b = p_real[..., 1:], p_fake[..., 1:]
    ok = (a > 0) & (b > 0)
    one_sided = ((a > 0) ^ (b > 0)).any(-1)
    d = torch.where(ok, torch.log10(a.clamp_min(1e-300)) - torch.log10(b.clamp_min(1e-300)), 0)
    lsd = torch.sqrt(d.square().sum(-1) / ok.sum(-1).clamp_min(1))
    lsd[one_sided] = torch.inf
    lsd[~ok.any(-1) & ~one_sided] = torch.nan
    return lsd


def undefined_reason(real_flat: bool, fake_flat: bool, lsd: float) -> str | None:
    """Why the distance of one channel is undefined, or None."""
    if real_flat and fake_flat:
        return "real and generated fields are constant in space (no spectrum)"
    if real_flat or fake_flat:
        side = "real" if real_flat else "generated"
        return f"{side} fields are constant in space (no power at any wavenumber)"
    if math.isinf(lsd):
        return "one side has no power at wavenumbers where the other has some"
    if math.isnan(lsd):
        return "no power at any wavenumber"
    return None


class Spectrum(MetricPlugin):
    name = "spectrum"
    description = "DCT and FFT radial power spectra and log spectral distance, with a plot"

    class Options(PluginOptions):
        kinds: list[str] = Field(["dct", "fft"], description="dct and/or fft")
        chunk: int = Field(128, ge=1)

    def compute(self, real: torch.Tensor, fake: torch.Tensor, ctx: EvalContext) -> MetricResult:
        res = MetricResult()
        spectra = {}
        flat_r, flat_f = spatially_flat(real), spatially_flat(fake)
        for kind in self.options.kinds:
            fn = {"dct": dct_spectrum, "fft": fft_spectrum}[kind]
            pr = fn(real, self.options.chunk, ctx.device)
            pf = fn(fake, self.options.chunk, ctx.device)
            lsd = log_spectral_distance(pr, pf)
            for c, var in enumerate(ctx.variables):
                why = undefined_reason(bool(flat_r[c]), bool(flat_f[c]), float(lsd[c]))
                if why:
                    res.add_undefined(f"spectrum_{kind}_lsd/{var}", why)
                else:
                    res.add(f"spectrum_{kind}_lsd/{var}", lsd[c])
                res.maps[f"spectrum_{kind}_real/{var}"] = pr[c].numpy()
                res.maps[f"spectrum_{kind}_fake/{var}"] = pf[c].numpy()
            spectra[kind] = (pr, pf)
        if ctx.figures and spectra:
            res.figures["spectrum"] = self.figure(spectra, ctx, real.shape[-2:])
        return res

    def figure(self, spectra: dict, ctx: EvalContext, shape: tuple[int, int]) -> object:
        kind, (pr, pf) = next(iter(spectra.items()))
        fig, axes = figures.new(len(ctx.variables))
        n = min(shape) if kind == "dct" else max(shape)
        k = np.arange(1, pr.shape[-1])
        # DCT bins count half-cycles over the shorter side, FFT bins whole cycles
        wavelength_km = (2.0 if kind == "dct" else 1.0) * n * ctx.dx_m / 1e3 / k
        for c, (ax, var) in enumerate(zip(axes, ctx.variables, strict=True)):
            ax.loglog(wavelength_km, pr[c, 1:].numpy(), label="real")
            ax.loglog(wavelength_km, pf[c, 1:].numpy(), label="generated", ls="--")
            ax.invert_xaxis()
            ax.set_xlabel("wavelength (km)")
            ax.set_title(f"{var} ({kind})")
            ax.legend(fontsize=8)
        axes[0].set_ylabel("power")
        fig.tight_layout()
        return fig


@hookimpl
def gensemble_metrics() -> list[type]:
    return [Spectrum]

"""Metric benchmark: SWD, spectra and pointwise W1 on N real vs N generated 4x256x256 fields.

Each metric plugin (torch, CPU here) is timed against a straightforward numpy/scipy
implementation of the same definition written in this script, on the same data, with
the same random draws, and both values are printed with their relative difference.
Medians over --repeats runs.  Default N = 2048 (the issue's size: 2 x 2.1 GB of fields).

    python benchmarks/metrics.py [--n 2048] [--repeats 3] [--threads 2]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

import numpy as np  # noqa: E402
import scipy.fft  # noqa: E402
import scipy.ndimage  # noqa: E402
import torch  # noqa: E402
from _timing import median_time  # noqa: E402

from gensemble.api.metric_context import EvalContext  # noqa: E402
from gensemble.core.registry import get_registry  # noqa: E402
from gensemble.plugins.metrics.swd import level_shapes  # noqa: E402

VARS = ["u10", "v10", "t2m", "rr"]


def fields(n: int, seed: int, beta: float) -> torch.Tensor:
    """Power-law random fields, (n, 4, 256, 256) float32, made in chunks."""
    g = torch.Generator().manual_seed(seed)
    k = torch.hypot(torch.fft.fftfreq(256)[:, None], torch.fft.fftfreq(256)[None, :])
    amp = k.clamp_min(1 / 256) ** (-beta / 2)
    out = torch.empty(n, 4, 256, 256)
    for s in range(0, n, 128):
        noise = torch.randn(min(128, n - s), 4, 256, 256, generator=g)
        out[s : s + 128] = torch.fft.ifft2(torch.fft.fft2(noise) * amp).real
    return out


# -- numpy references of the same definitions ------------------------------------------------
def np_w1(real: np.ndarray, fake: np.ndarray) -> np.ndarray:
    """Per channel mean over the map of mean |sort(R) - sort(F)|."""
    return np.abs(np.sort(real, axis=0) - np.sort(fake, axis=0)).mean(axis=(0, 2, 3))


def np_spectra(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    n, c, h, w = x.shape
    s1 = np.zeros((c, h, w))
    s2 = np.zeros((c, h, w))
    p = np.zeros((c, h, w))
    for i in range(0, n, 256):
        d = scipy.fft.dctn(x[i : i + 256], axes=(-2, -1), norm="ortho").astype(np.float64)
        s1 += d.sum(0)
        s2 += (d**2).sum(0)
        p += (np.abs(np.fft.fft2(x[i : i + 256])) ** 2).sum(0)
    var = s2 / n - (s1 / n) ** 2
    r_dct = np.round(np.hypot(*np.meshgrid(np.arange(h) / h, np.arange(w) / w, indexing="ij")) * h)
    f = np.fft.fftfreq(h, 1 / h)
    r_fft = np.round(np.hypot(f[:, None], f[None, :]))
    dct = np.stack([np.bincount(r_dct.ravel().astype(int), v.ravel())[:h] for v in var])
    dct /= np.bincount(r_dct.ravel().astype(int))[:h]
    fft = np.stack([np.bincount(r_fft.ravel().astype(int), v.ravel())[: h // 2] for v in p])
    fft /= np.bincount(r_fft.ravel().astype(int))[: h // 2] * n * h * w
    return dct, fft


def np_lsd(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.sqrt(((np.log10(a[:, 1:]) - np.log10(b[:, 1:])) ** 2).mean(axis=1))


def np_blur(x: np.ndarray) -> np.ndarray:
    k = np.array([1, 4, 6, 4, 1]) / 16.0
    x = scipy.ndimage.convolve1d(x, k, axis=-1, mode="mirror")
    return scipy.ndimage.convolve1d(x, k, axis=-2, mode="mirror")


def np_swd(real: np.ndarray, fake: np.ndarray, seed: int = 0) -> list[float]:
    """The plugin's definition (see gensemble/plugins/metrics/swd.py) in numpy."""
    mean = real.mean(axis=(0, 2, 3), keepdims=True)
    std = real.std(axis=(0, 2, 3), ddof=1, keepdims=True)

    def descriptors(x: np.ndarray) -> list[np.ndarray]:
        gen = torch.Generator().manual_seed(seed)  # same draws as the plugin
        levels: list[list[np.ndarray]] = []
        for s in range(0, len(x), 64):
            cur = (x[s : s + 64] - mean) / std
            pyr = []
            while min(cur.shape[-2:]) // 2 >= 16:
                down = np_blur(cur)[..., ::2, ::2]
                up = np.zeros(down.shape[:2] + (2 * down.shape[2], 2 * down.shape[3]))
                up[..., ::2, ::2] = down
                up = 4 * np_blur(up)[..., : cur.shape[2], : cur.shape[3]]
                pyr.append(cur - up)
                cur = down
            pyr.append(cur)
            for li, lev in enumerate(pyr):
                n, _, h, w = lev.shape
                ys = torch.randint(0, h - 6, (n, 128), generator=gen).numpy()
                xs = torch.randint(0, w - 6, (n, 128), generator=gen).numpy()
                d = np.stack(
                    [
                        lev[i, :, y : y + 7, xx : xx + 7]
                        for i in range(n)
                        for y, xx in zip(ys[i], xs[i], strict=True)
                    ]
                )
                if li == len(levels):
                    levels.append([])
                levels[li].append(d.reshape(len(d), -1))
        return [np.concatenate(p) for p in levels]

    dr_all, df_all = descriptors(real), descriptors(fake)
    gen = torch.Generator().manual_seed(seed)
    out = []
    for dr, df in zip(dr_all, df_all, strict=True):
        c = real.shape[1]
        dr3, df3 = dr.reshape(len(dr), c, -1), df.reshape(len(df), c, -1)
        mu = dr3.mean(axis=(0, 2), keepdims=True)
        sd = dr3.std(axis=(0, 2), ddof=1, keepdims=True)
        dr = ((dr3 - mu) / sd).reshape(len(dr), -1).astype(np.float32)
        df = ((df3 - mu) / sd).reshape(len(df), -1).astype(np.float32)
        total = 0.0
        for _ in range(4):
            theta = torch.randn(dr.shape[1], 128, generator=gen).numpy()
            theta /= np.linalg.norm(theta, axis=0, keepdims=True)
            total += np.abs(np.sort(dr @ theta, axis=0) - np.sort(df @ theta, axis=0)).mean()
        out.append(total / 4 * 1e3)
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=2048)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    n = args.n
    print(f"{n} real vs {n} generated fields of 4x256x256 float32, {args.threads} threads")
    real, fake = fields(n, 0, 3.0), fields(n, 1, 2.6)
    real_np, fake_np = real.numpy(), fake.numpy()
    ctx = EvalContext(VARS, figures=False)
    reg = get_registry()
    rows = []

    def bench(name: str, ours_fn, ref_fn, compare) -> None:
        holder: dict = {}
        t_ours = median_time(lambda: holder.__setitem__("ours", ours_fn()), args.repeats, 0)
        t_ref = median_time(lambda: holder.__setitem__("ref", ref_fn()), args.repeats, 0)
        a, b = compare(holder["ours"], holder["ref"])
        rel = float(np.max(np.abs(a - b) / np.abs(b)))
        rows.append((name, t_ours, t_ref, rel))
        print(
            f"{name:10s} plugin {t_ours:8.2f} s   numpy {t_ref:8.2f} s   "
            f"ratio {t_ref / t_ours:5.1f}x   max rel diff {rel:.1e}",
            flush=True,
        )

    w1 = reg.get("metric", "w1")({})
    bench(
        "w1",
        lambda: w1.compute(real, fake, ctx),
        lambda: np_w1(real_np, fake_np),
        lambda o, r: (np.array([o.scalars[f"w1_mean/{v}"] for v in VARS]), r),
    )
    spec = reg.get("metric", "spectrum")({})
    bench(
        "spectra",
        lambda: spec.compute(real, fake, ctx),
        lambda: [
            np_lsd(a, b) for a, b in zip(np_spectra(real_np), np_spectra(fake_np), strict=True)
        ],
        lambda o, r: (
            np.array([o.scalars[f"spectrum_{k}_lsd/{v}"] for k in ("dct", "fft") for v in VARS]),
            np.concatenate(r),
        ),
    )
    swd = reg.get("metric", "swd")({})
    shapes = level_shapes(256, 256, 16)
    bench(
        "swd",
        lambda: swd.compute(real, fake, ctx),
        lambda: np_swd(real_np, fake_np),
        lambda o, r: (
            np.array([o.scalars[f"swd/level{i}_{h}x{w}"] for i, (h, w) in enumerate(shapes)]),
            np.array(r),
        ),
    )
    print("\nsummary (median seconds)")
    for name, a, b, rel in rows:
        print(f"  {name:8s} {a:8.2f} vs {b:8.2f}  -> {b / a:4.1f}x faster, rel diff {rel:.1e}")


if __name__ == "__main__":
    main()

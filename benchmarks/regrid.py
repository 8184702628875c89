"""Regridding benchmark: MEPS 949x1069 Lambert grid -> 256x256 lat/lon, 4 variables.

Prints medians of weight computation and application (per sample of 4 variables, one
core), beside pyresample's bilinear resampler measured in the same run, and the largest
difference between the two on a smooth field.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
sys.path.insert(0, str(Path(__file__).parent))

import numpy as np  # noqa: E402
import torch  # noqa: E402
from _timing import median_time  # noqa: E402

from gensemble.data.grid import Grid  # noqa: E402
from gensemble.data.regrid import Regridder, compute_weights  # noqa: E402
from gensemble.plugins.domains.nordic import (
    MEPS_NX,
    MEPS_NY,
    MEPS_STEP,
    MEPS_X0,  # noqa: E402
    MEPS_Y0,
    meps_proj4,
)

torch.set_num_threads(1)


def main() -> None:
    src = Grid.from_crs(meps_proj4(), MEPS_X0, MEPS_Y0, MEPS_STEP, MEPS_STEP, MEPS_NX, MEPS_NY)
    dst = Grid.from_crs("EPSG:4326", 6.0, 58.0, 0.04, 0.02, 256, 256)
    rng = np.random.default_rng(0)
    xx, yy = np.meshgrid(src.x, src.y)
    smooth = np.sin(xx / 2e5) + np.cos(yy / 3e5)
    fields = np.stack([smooth + 0.01 * rng.standard_normal(src.shape) for _ in range(4)])
    fields = fields.astype(np.float32)

    t_w = median_time(lambda: compute_weights(src, dst, "bilinear"), repeats=5)
    rg = Regridder(compute_weights(src, dst, "bilinear"), src.shape, dst.shape)
    t_apply = median_time(lambda: rg(fields), repeats=20, warmup=3)
    ours = rg(fields)

    print("regrid: MEPS 949x1069 LCC -> 256x256 lat/lon, 4 variables, 1 core")
    print(f"  gensemble weights (bilinear)  : {t_w * 1e3:8.1f} ms (median of 5)")
    print(f"  gensemble apply per sample    : {t_apply * 1e3:8.2f} ms (median of 20; goal < 10 ms)")
    try:
        import warnings

        warnings.filterwarnings("ignore", category=UserWarning)
        from pyresample.bilinear import NumpyBilinearResampler
        from pyresample.geometry import AreaDefinition
    except ImportError:
        print("  pyresample not installed: no comparison")
        return
    half = MEPS_STEP / 2
    src_area = AreaDefinition(
        "meps",
        "meps",
        "lcc",
        meps_proj4(),
        MEPS_NX,
        MEPS_NY,
        (
            MEPS_X0 - half,
            MEPS_Y0 - half,
            MEPS_X0 + MEPS_STEP * MEPS_NX - half,
            MEPS_Y0 + MEPS_STEP * MEPS_NY - half,
        ),
    )
    dst_area = AreaDefinition(
        "ll",
        "ll",
        "ll",
        "EPSG:4326",
        256,
        256,
        (6.0 - 0.02, 58.0 - 0.01, 6.0 + 0.04 * 256 - 0.02, 58.0 + 0.02 * 256 - 0.01),
    )
    # pyresample's rows run north to south: flip our south-to-north arrays

    def pr_resampler() -> NumpyBilinearResampler:
        r = NumpyBilinearResampler(src_area, dst_area, radius_of_influence=5000)
        r.get_bil_info()
        return r

    t_pw = median_time(pr_resampler, repeats=3)
    res = pr_resampler()
    flipped = fields[:, ::-1, :]
    t_pa = median_time(lambda: [res.get_sample_from_bil_info(f) for f in flipped], repeats=5)
    theirs = np.asarray(res.get_sample_from_bil_info(smooth[::-1, :]))[::-1, :]
    diff = np.nanmax(np.abs(theirs - rg(smooth)))
    print(f"  pyresample weights (bilinear) : {t_pw * 1e3:8.1f} ms (median of 3)")
    print(f"  pyresample apply per sample   : {t_pa * 1e3:8.2f} ms (median of 5)")
    print(f"  ratio weights  pyresample/ours: {t_pw / t_w:8.1f}x")
    print(f"  ratio apply    pyresample/ours: {t_pa / t_apply:8.1f}x")
    print(f"  max |ours - pyresample|        : {diff:.2e} on a smooth field of amplitude 2")
    print(f"  (gensemble output shape {ours.shape})")


if __name__ == "__main__":
    main()

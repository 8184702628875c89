"""Figure of real and generated fields side by side (one row per variable)."""

from __future__ import annotations

import logging
from typing import Any

import numpy as np

from gensemble.evaluation.figures import pyplot

LOG = logging.getLogger(__name__)


def sample_figure(real: np.ndarray, fake: np.ndarray, variables: list[str], n: int = 3) -> Any:
    """real/fake (N, C, H, W) in physical units; same colour scale per variable."""
    n = min(n, len(real), len(fake))
    plt = pyplot()
    fig, axes = plt.subplots(
        len(variables), 2 * n, figsize=(1.9 * 2 * n, 1.9 * len(variables)), squeeze=False
    )
    for c, var in enumerate(variables):
        lo = float(np.nanpercentile(real[:n, c], 1))
        hi = float(np.nanpercentile(real[:n, c], 99))
        for j in range(2 * n):
            src, k = (real, j) if j < n else (fake, j - n)
            ax = axes[c, j]
            ax.imshow(src[k, c], origin="lower", vmin=lo, vmax=hi, cmap="viridis")
            ax.set_xticks([])
            ax.set_yticks([])
            if c == 0:
                ax.set_title("real" if j < n else "generated", fontsize=8)
            if j == 0:
                ax.set_ylabel(var)
    fig.tight_layout()
    return fig

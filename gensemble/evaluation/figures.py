"""Small matplotlib helpers for metric figures (headless backend).

pyplot is imported on first use: a command that draws nothing (most of them, and every
metric run with figures off) does not pay its half-second import.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np

LOG = logging.getLogger(__name__)


def pyplot() -> Any:
    """matplotlib.pyplot on the headless backend."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def map_panels(
    maps: dict[str, np.ndarray], title: str, cmap: str = "viridis", shared: bool = False
) -> Any:
    """One image per entry, side by side, each with its colour bar."""
    n = len(maps)
    fig, axes = pyplot().subplots(1, n, figsize=(3.6 * n, 3.4), squeeze=False)
    lo = min(np.nanmin(m) for m in maps.values()) if shared else None
    hi = max(np.nanmax(m) for m in maps.values()) if shared else None
    for ax, (name, m) in zip(axes[0], maps.items(), strict=True):
        im = ax.imshow(m, origin="lower", cmap=cmap, vmin=lo, vmax=hi)
        ax.set_title(name, fontsize=9)
        ax.set_xticks([])
        ax.set_yticks([])
        fig.colorbar(im, ax=ax, shrink=0.8)
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def close(fig: Any) -> None:
    pyplot().close(fig)


def new(ncols: int = 1, width: float = 4.0, height: float = 3.4) -> tuple[Any, Any]:
    fig, axes = pyplot().subplots(1, ncols, figsize=(width * ncols, height), squeeze=False)
    return fig, axes[0]

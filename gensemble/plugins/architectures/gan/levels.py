"""The grid of levels a style-based generator renders and its discriminator reads:
rectangular grids that are not 4 * 2^k are covered by doubling an h0 x w0 base grid L
times and centre-cropping (the generator) or zero-padding (the discriminator)."""

from __future__ import annotations

import logging
import math

LOG = logging.getLogger(__name__)


def layout(height: int, width: int) -> tuple[int, int, int]:
    """(levels L, h0, w0): the base grid is doubled L times to cover height x width."""
    levels = max(0, int(math.floor(math.log2(min(height, width) / 4))))
    return levels, math.ceil(height / 2**levels), math.ceil(width / 2**levels)


def crop_box(height: int, width: int) -> tuple[int, int, int, int]:
    """Offsets and full size (top, left, full_h, full_w) of the domain in the padded grid."""
    levels, h0, w0 = layout(height, width)
    fh, fw = h0 * 2**levels, w0 * 2**levels
    return (fh - height) // 2, (fw - width) // 2, fh, fw


def channels_at(level: int, base: int, cmax: int) -> int:
    return min(base // (4 * 2**level), cmax)


def channel_list(levels: int, base: int, cmax: int, table: list[int] | None = None) -> list[int]:
    """Feature channels of each level, coarsest first: ``min(base / res, max)``, or an
    explicit table - a grid with fewer levels uses its first entries, one with more
    repeats its last (so a 32x32 import can be transferred to a larger crop)."""
    if table is None:
        return [channels_at(i, base, cmax) for i in range(levels + 1)]
    if not table or min(table) < 1:
        raise ValueError(f"channel_table {table}: needs positive channel counts")
    return [table[min(i, len(table) - 1)] for i in range(levels + 1)]

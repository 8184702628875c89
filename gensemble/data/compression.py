"""The compressions a store can be written with: none (fastest loading, chunks read
straight into the batch), zstd (smallest) or lz4 (fast with a shuffle)."""

from __future__ import annotations

from typing import Any

from gensemble.core.errors import UserError

__all__ = ["COMPRESSIONS", "compressors"]

COMPRESSIONS = ("none", "zstd", "lz4")


def compressors(name: str) -> Any:
    """The zarr codecs of a store compression name (None: uncompressed)."""
    if name == "none":
        return None
    from zarr.codecs import BloscCodec, ZstdCodec

    if name == "zstd":
        return ZstdCodec(level=1)
    if name == "lz4":
        return BloscCodec(cname="lz4", clevel=3, shuffle="shuffle")
    raise UserError(f"unknown compression {name!r} (available: {', '.join(COMPRESSIONS)})")

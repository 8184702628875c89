"""Readers of raw data: each turns a file into batches of samples on its source grid."""

from gensemble.data.readers.base import RawSource, SampleBatch, open_source

__all__ = ["RawSource", "SampleBatch", "open_source"]

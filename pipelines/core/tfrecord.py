"""Gzip TFRecord shards over fileio (local or gs://), without TensorFlow: a shard's bytes from its
records, and a shard's records. The framing is model/tfrecord.py's (one implementation, which
training's data check reads with too)."""
from __future__ import annotations

import gzip
from typing import Iterable, Iterator

from model.tfrecord import frame, read_records
from pipelines.core import fileio


def shard_bytes(records: Iterable[bytes]) -> bytes:
    """A gzip TFRecord shard holding `records` in order; a fixed gzip timestamp, so its bytes
    depend on its records only."""
    return gzip.compress(b"".join(frame(r) for r in records), compresslevel=6, mtime=0)


def read_shard(path: str) -> Iterator[bytes]:
    """A gzip TFRecord shard's records, streamed. Raises ValueError, OSError, EOFError or
    zlib.error at the first damaged record or gzip block, after yielding those before it."""
    with fileio.open_read(path) as raw, gzip.GzipFile(fileobj=raw) as stream:
        yield from read_records(stream)

"""Stage 3 of preprocess: examples -> `OUT/<split>/<split>-NNNNN-of-MMMMM.tfrecord.gz`.

Each shard is written whole, in one call, with its records sorted by key and a fixed gzip
timestamp, so its bytes depend on its records only (not on the runner or the order they came in).
"""
from __future__ import annotations

import math

import apache_beam as beam
from apache_beam.metrics import Metrics

from model import schema
from pipelines.core import fileio, tfrecord
from pipelines.preprocess import sources
from pipelines.preprocess import NAMESPACE


def shard_name(split: str, index: int, count: int) -> str:
    return f"{split}-{index:05d}-of-{count:05d}{schema.SHARD_SUFFIX}"


class WriteShards(beam.PTransform):
    """Processed examples -> OUT/<split>/*.tfrecord.gz, about `shard_mb` each, written atomically.
    The shard count is computed from the bytes actually produced (WriteToTFRecord can't).
    Emits (split, path, record count) per shard."""

    def __init__(self, output_dir: str, shard_mb: float):
        super().__init__()
        self._output_dir = output_dir
        self._shard_bytes = shard_mb * 1e6

    def expand(self, examples):
        shard_bytes = self._shard_bytes
        totals = (examples
                  | "SizeBySplit" >> beam.Map(lambda e: (e.split, len(e.example)))
                  | "SumBySplit" >> beam.CombinePerKey(sum))

        def assign(e, totals):
            count = max(1, math.ceil(totals[e.split] / shard_bytes))
            index = min(count - 1, int(sources.hash_fraction(e.key) * count))
            return (e.split, index, count), (e.key, e.example)

        return (examples
                | "AssignShard" >> beam.Map(assign, totals=beam.pvalue.AsDict(totals))
                | "GroupShard" >> beam.GroupByKey()
                | "WriteShard" >> beam.ParDo(_WriteShard(self._output_dir)))


class _WriteShard(beam.DoFn):
    def __init__(self, output_dir: str):
        self._output_dir = output_dir
        self._written = Metrics.counter(NAMESPACE, "written")

    def process(self, element):
        (split, index, count), records = element
        records = sorted(records)
        path = fileio.join(self._output_dir, split, shard_name(split, index, count))
        fileio.write_bytes(path, tfrecord.shard_bytes(example for _, example in records))
        self._written.inc(len(records))
        yield split, path, len(records)

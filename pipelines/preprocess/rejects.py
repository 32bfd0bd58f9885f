"""Inputs that did not become examples: counted, then written by `reject_io.WriteRejects`.

Rejected inputs (bad files) and skipped ones (left out on purpose: COD NonCAM, duplicates) share
one record (`pipelines.core.rejects.record`) and one folder,
`OUT/_rejected/rejected-SSSSS-of-NNNNN.jsonl` (every job's layout), written by the workers shard
by shard (one shard on the local runner); the manifest counts them apart by reason.
"""
from __future__ import annotations

import apache_beam as beam
from apache_beam.metrics import Metrics

from pipelines.core import reject_io
from pipelines.preprocess import NAMESPACE

SKIP_REASONS = ("noncam", "duplicate")  # left out on purpose; every other reason is a rejection


class WriteRejects(beam.PTransform):
    """Reject records -> OUT/_rejected/rejected-SSSSS-of-NNNNN.jsonl (each shard's lines sorted);
    counts them. Emits the paths written."""

    def __init__(self, output_dir: str, num_shards: int = 1):
        super().__init__()
        self._output_dir = output_dir
        self._num_shards = num_shards

    def expand(self, records):
        return (records
                | "Count" >> beam.ParDo(_CountRejects())
                | "Write" >> reject_io.WriteJobRejects(self._output_dir, self._num_shards))


class _CountRejects(beam.DoFn):
    def __init__(self):
        self._rejected = Metrics.counter(NAMESPACE, "rejected")
        self._skipped = Metrics.counter(NAMESPACE, "skipped")

    def process(self, record):
        (self._skipped if record["reason"] in SKIP_REASONS else self._rejected).inc()
        yield record

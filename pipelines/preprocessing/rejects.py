"""Inputs that did not become examples: the record every stage emits, and the file that lists them.

Rejected inputs (bad files) and skipped ones (left out on purpose: COD NonCAM, duplicates) share
one record and one file, `OUT/rejected/rejected-00000-of-00001.jsonl`; the manifest counts them
apart by reason.
"""
from __future__ import annotations

import json

import apache_beam as beam
from apache_beam.metrics import Metrics

from pipelines import fileio
from pipelines.preprocessing import NAMESPACE

SKIP_REASONS = ("noncam", "duplicate")  # left out on purpose; every other reason is a rejection


def reject(source: str, path: str, reason: str, detail: str = "") -> dict:
    return {"source": source, "path": path, "reason": reason, "detail": detail}


class WriteRejects(beam.PTransform):
    """Reject dicts -> OUT/rejected/rejected-00000-of-00001.jsonl (sorted lines); counts them."""

    def __init__(self, output_dir: str):
        super().__init__()
        self._output_dir = output_dir

    def expand(self, rejects):
        return (rejects
                | "Count" >> beam.ParDo(_CountRejects())
                | "Lines" >> beam.Map(lambda r: (None, json.dumps(r, sort_keys=True)))
                | "Gather" >> beam.GroupByKey()
                | "Write" >> beam.ParDo(_WriteRejects(self._output_dir)))


class _CountRejects(beam.DoFn):
    def __init__(self):
        self._rejected = Metrics.counter(NAMESPACE, "rejected")
        self._skipped = Metrics.counter(NAMESPACE, "skipped")

    def process(self, record):
        (self._skipped if record["reason"] in SKIP_REASONS else self._rejected).inc()
        yield record


class _WriteRejects(beam.DoFn):
    def __init__(self, output_dir: str):
        self._output_dir = output_dir

    def process(self, element):
        _, lines = element
        path = fileio.join(self._output_dir, "rejected", "rejected-00000-of-00001.jsonl")
        fileio.write_bytes(path, ("\n".join(sorted(lines)) + "\n").encode("utf-8"))
        yield path

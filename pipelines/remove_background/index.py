"""remove_background's index and review list: one JSON line per output, written by the workers.

The contract (the runbook in `pipelines/remove_background/job.py` and the README's "Refinement and
confidence" say the same):
- `DEST/_index/<run>-SSSSS-of-NNNNN.jsonl`: one line for every input this run wrote outputs
  for: `input` (its URI), `outputs` (the names written, relative to DEST), `width`, `height`
  (the outputs' size), `confidence` (in [0, 1], `serving/confidence.py`), `model` (the export
  used), `refine` (`--refine`). `<run>` is the run's start, UTC (`20261203T061500Z-1a2b3c`), so
  the names sort by time. Every run writes its own files and keeps the earlier runs' files:
  the index of DEST is all of them, a later run's line winning for the same input
  (`read_index`). An input skipped because its outputs exist keeps its earlier line.
  `--overwrite` redoes every input it lists; the earlier runs' files stay (their lines for
  inputs this run redid are outdated by this run's, and the lines of outputs it did not redo,
  e.g. a run over fewer inputs, stay true). No run deletes an index file.
- `DEST/_review/<run>-SSSSS-of-NNNNN.jsonl` (with `--review_below X`): `input`, `confidence`,
  `outputs` for this run's outputs whose confidence is under X; `--overwrite` removes the
  earlier runs' review files (only names of the form `<run>-SSSSS-of-NNNNN.jsonl`).
Written as `--index_shards` files by the workers (`reject_io.WriteJsonlShards`: lines sorted,
each file atomic), so no worker gathers the index: identical bytes on every runner.
"""
from __future__ import annotations

import json
import posixpath
import re
from typing import Iterable

import apache_beam as beam
from apache_beam.io.filesystems import FileSystems

from pipelines.core import fileio
from pipelines.core.reject_io import WriteJsonlShards
from pipelines.remove_background.config import JobConfig


INDEX_DIR = "_index"
REVIEW_DIR = "_review"


def index_record(uri: str, outputs: Iterable[str], width: int, height: int, confidence: float,
                 model: str, refine: str) -> dict:
    return {"input": uri, "outputs": sorted(outputs), "width": int(width),
            "height": int(height), "confidence": float(confidence), "model": model,
            "refine": refine}


def review_record(index_line: dict) -> dict:
    return {k: index_line[k] for k in ("input", "confidence", "outputs")}


def is_below(record: dict, threshold: float) -> bool:
    return record["confidence"] < threshold


class WriteIndex(beam.PTransform):
    """Index records -> DEST/_index/<run>-*.jsonl (and DEST/_review/<run>-*.jsonl with
    --review_below); returns the records under the review threshold (empty without one)."""

    def __init__(self, cfg: JobConfig):
        super().__init__()
        self._cfg = cfg

    def expand(self, records):
        cfg = self._cfg
        _ = records | "WriteIndex" >> WriteJsonlShards(
            fileio.join(cfg.dest, INDEX_DIR), cfg.index_shards, cfg.run_name,
            inside=cfg.dest_resolved)
        if cfg.overwrite:  # the earlier runs' review lists go; their index lines stay
            _ = (records.pipeline
                 | "ReviewFolder" >> beam.Create([fileio.join(cfg.dest, REVIEW_DIR)])
                 | "ClearReview" >> beam.Map(remove_earlier_runs, cfg.run_name))
        if cfg.review_below is None:
            return records | "NoneBelow" >> beam.Filter(lambda _: False)
        below = records | "Below" >> beam.Filter(is_below, cfg.review_below)
        _ = (below
             | "ReviewLine" >> beam.Map(review_record)
             | "WriteReview" >> WriteJsonlShards(
                 fileio.join(cfg.dest, REVIEW_DIR), cfg.index_shards, cfg.run_name,
                 inside=cfg.dest_resolved))
        return below


RUN_FILE = re.compile(r"^\d{8}T\d{6}Z-[0-9a-f]{6}-\d{5}-of-\d{5}\.jsonl$")


def remove_earlier_runs(folder: str, run_name: str) -> list:
    """--overwrite: the review lists of earlier runs removed; only files named as a run's shard
    (`RUN_FILE`), which a person's own file in the folder is not. Returns the paths removed."""
    pattern = fileio.join(fileio.escape_glob(folder), "*.jsonl")
    stale = [path for path, _ in fileio.match(pattern)
             if RUN_FILE.match(posixpath.basename(path))
             and not posixpath.basename(path).startswith(run_name + "-")]
    if stale:
        FileSystems.delete(stale)
    return stale


def read_index(dest: str, folder: str = INDEX_DIR) -> dict:
    """DEST's index merged: {input URI: its latest line}, runs in name (= time) order
    (`folder=REVIEW_DIR`: the review lists, merged alike)."""
    merged: dict = {}
    pattern = fileio.join(fileio.escape_glob(dest), folder, "*.jsonl")
    for path in sorted(p for p, _ in fileio.match(pattern)):
        for line in fileio.read_bytes(path).decode("utf-8").splitlines():
            if line.strip():
                record = json.loads(line)
                merged[record["input"]] = record
    return merged

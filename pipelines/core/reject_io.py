"""The Beam writers of rejects (and of any JSON-lines records): sharded, written by the workers.

- `WriteRejects`: records -> `FOLDER/<prefix>-SSSSS-of-NNNNN.jsonl`, written by the workers in
  parallel (no worker gathers every reject), each shard's lines sorted, each file atomic, names
  fixed by the shard count, so a re-run replaces every file of the run before it.
- `WriteJsonlShards`: the same writer for any JSON records (remove_background's index).
- `WriteJobRejects`: a job's rejects -> `OUT/_rejected/rejected-SSSSS-of-NNNNN.jsonl`, the one
  layout of every job (preprocess, remove_background, evaluate).
- `remove_files`: deletes a run's stale files.
The records and their text are `pipelines/core/rejects.py` (no Beam there).
"""
from __future__ import annotations

import errno
from typing import Optional

import apache_beam as beam
from apache_beam.io.filesystems import FileSystems

from pipelines.core import fileio
from pipelines.core.rejects import (REJECTS_FOLDER, REJECTS_PREFIX, json_line, shard_name,
                                    shard_of, shard_text)

LINES_PER_SHARD = 100_000   # num_shards=None: about 30 MB a shard


def check_inside(path: str, inside: Optional[str]) -> str:
    """`path` when its folder, links resolved, lies inside `inside` (or `inside` is None, or the
    path is gs://); else OSError (EACCES): nothing is written or deleted outside DEST, even when
    a bookkeeping folder is swapped for a link after the start-up's check."""
    if fileio.escapes(path, inside):
        raise PermissionError(errno.EACCES, f"outside {inside} (through a link)", path)
    return path


def remove_files(pattern: str, keep=()) -> list:
    """Deletes the files matching `pattern` (a glob, local or gs://) except those in `keep`;
    returns the paths deleted."""
    keep = set(keep)
    stale = [path for path, _ in fileio.match(pattern) if path not in keep]
    if stale:
        FileSystems.delete(stale)
    return stale


def WriteRejects(folder: str, num_shards: Optional[int] = 1, prefix: str = "rejected",  # noqa: N802
                 lines_per_shard: int = LINES_PER_SHARD, inside: Optional[str] = None):
    """records -> FOLDER/<prefix>-SSSSS-of-NNNNN.jsonl (`WriteJsonlShards`)."""
    return WriteJsonlShards(folder, num_shards, prefix, lines_per_shard=lines_per_shard,
                            inside=inside)


def WriteJobRejects(output_dir: str, num_shards: Optional[int] = None,  # noqa: N802
                    inside: Optional[str] = None):
    """A job's reject records -> OUTPUT_DIR/_rejected/rejected-SSSSS-of-NNNNN.jsonl (every job's
    layout; `num_shards=None`: one shard per `LINES_PER_SHARD` lines). Returns the paths written.
    `inside`: see `WriteJsonlShards`."""
    return WriteRejects(fileio.join(output_dir, REJECTS_FOLDER), num_shards, REJECTS_PREFIX,
                        inside=inside)


def WriteJsonlShards(folder: str, num_shards: Optional[int] = 1,  # noqa: N802
                     prefix: str = "rejected", lines_per_shard: int = LINES_PER_SHARD,
                     inside: Optional[str] = None):
    """records -> FOLDER/<prefix>-SSSSS-of-NNNNN.jsonl; returns a PCollection of the paths written.

    Every one of the `num_shards` files is written, empty ones too, so a re-run with the same
    count replaces each file of the run before it; files of another count are removed after the
    new ones exist (only names this writer gives, `<prefix>-DDDDD-of-DDDDD.jsonl`: a person's own
    file in FOLDER stays). `num_shards=None` sizes it from the records (one shard per
    `lines_per_shard` lines, at least one): the same records give the same names. Lines go to a
    shard by a hash of the line, so no worker holds more than its shard; each file is written
    whole and renamed into place (fileio.write_bytes). `inside` (a local folder, links resolved,
    e.g. DEST): every write and delete is checked to resolve inside it, at the write."""
    class _WriteShard(beam.DoFn):
        def process(self, element):
            (index, count), lines = element
            path = check_inside(fileio.join(folder, shard_name(prefix, index, count)), inside)
            fileio.write_bytes(path, shard_text(lines), mime_type="application/x-ndjson")
            yield path

    class _RemoveStale(beam.DoFn):
        def process(self, _, written):
            digits = "[0-9]" * 5
            check_inside(fileio.join(folder, "stale"), inside)  # deletes, too, stay inside
            mine = f"{prefix}-{digits}-of-{digits}.jsonl"
            remove_files(fileio.join(fileio.escape_glob(folder), mine), keep=written)
            yield from sorted(written)

    class _Write(beam.PTransform):
        def expand(self, records):
            lines = records | "Line" >> beam.Map(json_line)
            if num_shards is None:
                shards = (lines
                          | "CountLines" >> beam.combiners.Count.Globally()
                          | "ShardCount" >> beam.Map(lambda n: max(1, -(-n // lines_per_shard))))
            else:
                shards = (records.pipeline
                          | "ShardCount" >> beam.Create([num_shards], reshuffle=False))
            keyed = lines | "Key" >> beam.Map(lambda line, n: ((shard_of(line, n), n), line),
                                              beam.pvalue.AsSingleton(shards))
            every = shards | "Shards" >> beam.FlatMap(lambda n: [((i, n), None) for i in range(n)])
            written = ((keyed, every)
                       | "Merge" >> beam.Flatten()
                       | "Group" >> beam.GroupByKey()
                       | "Drop" >> beam.MapTuple(
                           lambda i, ls: (i, [x for x in ls if x is not None]))
                       | "Write" >> beam.ParDo(_WriteShard()))
            return (records.pipeline
                    | "Once" >> beam.Create([None], reshuffle=False)
                    | "Stale" >> beam.ParDo(_RemoveStale(), beam.pvalue.AsList(written)))

    return _Write()

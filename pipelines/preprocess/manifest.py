"""The last stage of preprocess: count what happened and write `OUT/manifest.json`.

The manifest is written once everything else is (shards, rejects, the analysis: the writer takes
them as side inputs), so a folder without it is an unfinished run. Its counts equal the shards and
the reject lines.
"""
from __future__ import annotations

import json
import apache_beam as beam

from model import schema
from pipelines.core import fileio
from pipelines.core.rejects import REJECTS_FOLDER
from pipelines.preprocess.rejects import SKIP_REASONS
from pipelines.preprocess.config import Config


def _tally(kind: str, *names) -> tuple:
    return (kind,) + tuple(names)


class Tally(beam.PTransform):
    """(examples, rejects, ignored files) -> ((kind, name...), count) for the manifest."""

    def expand(self, pcolls):
        examples, rejects, ignored = pcolls
        return ((examples | "Examples" >> beam.FlatMap(
                    lambda e: [_tally("example", e.source, e.split)]
                    + [_tally("quirk", q) for q in e.quirks]),
                 rejects | "Rejects" >> beam.Map(lambda r: _tally("reject", r["reason"])),
                 ignored | "Ignored" >> beam.Map(lambda kv: _tally("ignored", kv[0])))
                | "All" >> beam.Flatten()
                | "Count" >> beam.combiners.Count.PerElement())


class WriteManifest(beam.DoFn):
    """Writes the manifest from the tallies and the written shards; the other side inputs (the
    rejects and the analysis written) are there to make it wait for them. Emits the manifest."""

    def __init__(self, config: Config):
        self._config = config

    def process(self, _, tallies, shards, rejects_written, transform_written):
        counts, totals, rejected, skipped, ignored, quirks = {}, {}, {}, {}, {}, {}
        for key, n in tallies:
            kind = key[0]
            if kind == "example":
                _, source, split = key
                counts.setdefault(source, {s: 0 for s in schema.SPLITS})[split] += n
                totals[split] = totals.get(split, 0) + n
            elif kind == "reject":
                (skipped if key[1] in SKIP_REASONS else rejected)[key[1]] = n
            elif kind == "ignored":
                ignored[key[1]] = n
            elif kind == "quirk":
                quirks[key[1]] = n
        shard_files = {s: sorted(p.rsplit("/", 1)[-1] for sp, p, _ in shards if sp == s)
                       for s in schema.SPLITS}
        manifest = {
            "schema_version": schema.SCHEMA_VERSION,
            "image_size": self._config.image_size,
            "counts": counts,
            "totals": {s: totals.get(s, 0) for s in schema.SPLITS},
            "rejected": dict(sorted(rejected.items())),
            "skipped": dict(sorted(skipped.items())),
            "rejected_lines": sum(rejected.values()) + sum(skipped.values()),
            "rejected_files": f"{REJECTS_FOLDER}/*.jsonl",   # every job's layout
            "ignored_files": dict(sorted(ignored.items())),
            "quirks": dict(sorted(quirks.items())),
            "shards": shard_files,
            "options": self._config.as_dict(),
        }
        path = fileio.join(self._config.output_dir, schema.MANIFEST_FILE)
        fileio.write_bytes(path, json.dumps(manifest, indent=2, sort_keys=True).encode("utf-8"),
                           mime_type="application/json")
        yield manifest

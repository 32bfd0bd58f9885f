"""The stages of `pipelines.preprocess`, one module each, in the order the job runs them.

- `pairing`: list every member of each source, classify it by its dataset's layout, pair image
  and mask (`PairImages` -> `Pair`).
- `examples`: decode, validate, resize and encode each pair, keep one copy of identical images
  (`MakeExamples` -> `Processed`).
- `shards`: write the examples as gzip TFRecord shards of about `--shard_mb` each (`WriteShards`).
- `rejects`: the reject record every stage emits, and its JSONL file (`WriteRejects`).
- `manifest`: count everything and write `manifest.json` last (`Tally`, `WriteManifest`).
"""

NAMESPACE = "preprocess"  # the Beam metrics namespace of the job's counters

"""Preprocess: raw dataset archives -> sharded TFRecords + a tf.Transform analysis.

Runbook
-------
    python -m pipelines.preprocess --source p3m10k=P3M-10k.zip --source cod10k=COD10K-v3.tar.gz \
        --source people_seg=people_segmentation/ --source folder:mine=gs://bucket/my_set \
        --output_dir OUT [--image_size 320] [--val_fraction 0.1] [--test_fraction 0.1] \
        [--keep_noncam] [standard Beam options: --runner, --direct_num_workers, --project, ...]

Writes (OUT must be empty or absent, local or gs://):
- OUT/{train,val,test}/<split>-NNNNN-of-MMMMM.tfrecord.gz: examples as in `model/schema.py`
  (RGB JPEG and single-channel PNG alpha, both stretched to image_size square), sharded at about
  `--shard_mb` MB each.
- OUT/transform/: the tf.Transform analysis of the training split (per-channel pixel mean and std).
- OUT/_rejected/rejected-SSSSS-of-NNNNN.jsonl: one line per input image that did not become an
  example ({source, path, reason, detail}; reasons in `core/rejects.py`): bad inputs, entries
  that must not be read (pipes, devices, broken links, tar link members, names that are not
  UTF-8, files over --max_file_bytes, links to folders outside a folder source:
  `link_outside_input`, never followed), masks that are not one grey channel (colour, or the
  mask carried in alpha: `mask_not_grayscale`), and those left out on purpose (COD NonCAM,
  duplicates). OUT must be empty or absent, and hold no link (its files would go elsewhere).
  Written by the workers in shards: one file on the local runner, --rejected_shards (default 64)
  elsewhere. OUT/manifest.json: counts per source and split, per reason, per quirk, and the
  run's options. The manifest is written last: a folder without it is an unfinished run.
With no --runner it runs locally and offline. About 3-6 ms per image per core for typical photos
(a few hundred synthetic pairs take under a minute here, most of it start-up and the analysis);
on Dataflow, P3M-10K + COD-10K (~16K pairs) take minutes with a few workers.

Code (`pipelines/preprocess/`, a one-way stack: each module imports only pipelines.core, model
and the modules listed before it): `config.py` the flags, `--source` specs and the typed
`Config`; `sources.py` each dataset's layout (which member is an image, a mask, a split list)
and the hash split; `containers.py` the members of a zip, tar or folder, read safely;
`analysis.py` the tf.Transform analysis; then the stages, in the order the job runs them:
- `pairing`: list every member of each source, classify it by its dataset's layout, pair image
  and mask (`PairImages` -> `Pair`).
- `examples`: decode, validate, resize and encode each pair, keep one copy of identical images
  (`MakeExamples` -> `Processed`).
- `shards`: write the examples as gzip TFRecord shards of about `--shard_mb` each (`WriteShards`).
- `rejects`: the reject record every stage emits, and its JSONL file (`WriteRejects`).
- `manifest`: count everything and write `manifest.json` last (`Tally`, `WriteManifest`).
`job.py` wires them (`Preprocess`, `build`, `run`); `__main__.py` is the command.
"""

NAMESPACE = "preprocess"  # the Beam metrics namespace of the job's counters

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
- OUT/rejected/rejected-SSSSS-of-NNNNN.jsonl: one line per input image that did not become an
  example ({source, path, reason, detail}; reasons in `pipelines/rejects.py`): bad inputs, entries
  that must not be read (pipes, devices, broken links, tar link members, names that are not
  UTF-8, files over --max_file_bytes), and those left out on purpose (COD NonCAM, duplicates).
  Written by the workers in shards: one file on the local runner, --rejected_shards (default 64)
  elsewhere. OUT/manifest.json: counts per source and split, per reason, per quirk, and the
  run's options. The manifest is written last: a folder without it is an unfinished run.
With no --runner it runs locally and offline. About 3-6 ms per image per core for typical photos
(a few hundred synthetic pairs take under a minute here, most of it start-up and the analysis);
on Dataflow, P3M-10K + COD-10K (~16K pairs) take minutes with a few workers.
"""
from __future__ import annotations

if __name__ == "__main__":
    # `python -m pipelines.preprocess`: run the module under its real name before anything is
    # defined here, so what it defines (Config, inside every stage) pickles as
    # pipelines.preprocess.* (importable by worker processes), never as __main__.*.
    import sys

    from model import console

    sys.argv[1:] = console.start()  # quiet unless --verbose, before TensorFlow and Beam load
    from pipelines.preprocess import main

    sys.exit(main())

import dataclasses
import json
import logging
import os
import shutil
import tempfile

import apache_beam as beam
from apache_beam.options.pipeline_options import GoogleCloudOptions, PipelineOptions, TestOptions

from model import feedback, interrupts, mistakes, schema
from pipelines import fileio, imaging, progress, safe_files, sources
from pipelines.analysis import AnalyzeNormalization
from pipelines.containers import ARCHIVE_SUFFIXES, container_kind
from pipelines.options import (job_view, make_pipeline, require_reachable, run_job_cli,
                               shares_local_disk)
from pipelines.preprocessing.examples import MakeExamples
from pipelines.preprocessing.manifest import Tally, WriteManifest
from pipelines.preprocessing.pairing import PairImages
from pipelines.preprocessing.rejects import REMOTE_SHARDS, WriteRejects
from pipelines.preprocessing.shards import WriteShards
from pipelines.rejects import JobError, printable


class PreprocessOptions(PipelineOptions):
    @classmethod
    def _add_argparse_args(cls, parser):
        parser.add_argument("--source", action="append", default=None,
                            help="KIND=PATH (KIND: p3m10k, cod10k, people_seg, folder) or "
                                 "folder:NAME=PATH; repeat for several sources")
        parser.add_argument("--image_size", type=int, default=320)
        parser.add_argument("--val_fraction", type=float, default=0.1,
                            help="share of hash-split examples for val (where the dataset has "
                                 "no val split of its own)")
        parser.add_argument("--test_fraction", type=float, default=0.1)
        parser.add_argument("--keep_noncam", action="store_true", default=False,
                            help="keep COD-10K NonCAM images as empty-mask negatives")
        parser.add_argument("--jpeg_quality", type=int, default=95)
        parser.add_argument("--shard_mb", type=float, default=150.0)
        parser.add_argument("--rejected_shards", type=int, default=0,
                            help="files OUT/rejected/ is written in (0: one on the local runner, "
                                 f"{REMOTE_SHARDS} on workers elsewhere)")


# Kinds whose validation examples are drawn by --val_fraction (the others publish their own).
HASH_VAL_KINDS = ("cod10k", "folder")


@dataclasses.dataclass(frozen=True)
class Config:
    sources: tuple
    output_dir: str
    image_size: int = 320
    val_fraction: float = 0.1
    test_fraction: float = 0.1
    keep_noncam: bool = False
    jpeg_quality: int = 95
    shard_mb: float = 150.0
    max_pixels: int = imaging.DEFAULT_MAX_PIXELS
    max_file_bytes: int = safe_files.DEFAULT_MAX_FILE_BYTES
    rejected_shards: int = 0  # 0: chosen by the runner (Preprocess.rejected_shards)

    @classmethod
    def from_options(cls, opts) -> "Config":
        """From `options.job_view(options, PreprocessOptions)` (--output_dir, --max_pixels,
        --max_file_bytes are shared flags). Raises JobError for options it can't run with."""
        if not opts.source:
            raise JobError("give at least one --source KIND=PATH")
        if not opts.output_dir:
            raise JobError("--output_dir is required")
        specs = tuple(sources.parse_source(s) for s in opts.source)
        names = [s.name for s in specs]
        clashes = sorted({n for n in names if names.count(n) > 1})
        if clashes:
            raise JobError(f"two sources share the name {clashes[0]!r}: name folder sources "
                           "with folder:NAME=PATH")
        config = cls(sources=specs, output_dir=opts.output_dir.rstrip("/"),
                     image_size=opts.image_size, val_fraction=opts.val_fraction,
                     test_fraction=opts.test_fraction, keep_noncam=opts.keep_noncam,
                     jpeg_quality=opts.jpeg_quality, shard_mb=opts.shard_mb,
                     max_pixels=opts.max_pixels, max_file_bytes=opts.max_file_bytes,
                     rejected_shards=opts.rejected_shards)
        config.validate()
        return config

    def validate(self) -> None:
        if not 16 <= self.image_size <= 2048:
            raise JobError(f"--image_size {self.image_size} is outside 16..2048")
        for name in ("val_fraction", "test_fraction"):
            value = getattr(self, name)
            if not 0.0 <= value < 1.0:
                raise JobError(f"--{name} {value} must be in [0, 1)")
        if self.val_fraction + self.test_fraction >= 1.0:
            raise JobError("--val_fraction + --test_fraction must leave room for train")
        drawn = sorted({s.name for s in self.sources if s.kind in HASH_VAL_KINDS})
        if self.val_fraction == 0 and drawn:
            # Training picks its exported weights by validation IoU: no val split, no model.
            raise JobError(f"--val_fraction 0 leaves {', '.join(drawn)} without a validation "
                           "split, which training needs: give a fraction > 0")
        if not 1 <= self.jpeg_quality <= 100:
            raise JobError("--jpeg_quality must be in 1..100")
        for spec in self.sources:
            # its members' names could not travel through Beam
            if safe_files.name_problem(spec.path):
                raise JobError(f"source {spec.name}: the path {printable(spec.path)} is not "
                               "valid UTF-8; rename it")
            is_folder = fileio.is_dir(spec.path)
            if not is_folder and not fileio.exists(spec.path):
                raise JobError(mistakes.missing_input(f"--source {spec.name}:", spec.path))
            if not is_folder and container_kind(spec.path) == "folder":
                raise JobError(f"source {spec.name}: {spec.path} is a file but not a supported "
                               f"archive ({', '.join(ARCHIVE_SUFFIXES)}) nor a folder")
            problem = None if is_folder else safe_files.local_problem(spec.path)
            if problem:  # an archive that is a pipe or a link to a device would hang or never end
                raise JobError(f"source {spec.name}: {spec.path} can't be read: {problem[1]}")
        if self.shard_mb <= 0:
            raise JobError("--shard_mb must be > 0")
        if self.max_file_bytes <= 0:
            raise JobError("--max_file_bytes must be > 0")
        if self.rejected_shards < 0:
            raise JobError("--rejected_shards must be >= 0 (0: chosen by the runner)")

    def as_dict(self) -> dict:
        d = dataclasses.asdict(self)
        d["sources"] = [dataclasses.asdict(s) for s in self.sources]
        return d


class Preprocess(beam.PTransform):
    """The whole job: source specs in, files written; emits the manifest once everything else
    (shards, rejects, the analysis) is written."""

    def __init__(self, config: Config, local_runner: bool = True, temp_dir: str | None = None):
        super().__init__()
        self._config = config
        self._local_runner = local_runner
        self._temp_dir = temp_dir

    @property
    def rejected_shards(self) -> int:
        """One file on the local runner (few rejects, one machine); on workers elsewhere, enough
        shards that no worker holds much of them (issue 14)."""
        if self._config.rejected_shards:
            return self._config.rejected_shards
        return 1 if self._local_runner else REMOTE_SHARDS

    def expand(self, specs):
        config = self._config
        paired = specs | "PairImages" >> PairImages(config)
        tracker = progress.tracker_for(specs.pipeline, "preprocess", "pairs")  # local runs
        progress.count(tracker, progress.TOTAL, "ProgressPairs", paired["pairs"])
        made = paired["pairs"] | "MakeExamples" >> MakeExamples(config, tracker)
        examples = made["examples"]
        rejected = (paired["rejected"], made["rejected"]) | "AllRejects" >> beam.Flatten()

        shards = examples | "WriteShards" >> WriteShards(config.output_dir, config.shard_mb)
        rejects_written = rejected | "WriteRejects" >> WriteRejects(config.output_dir,
                                                                     self.rejected_shards)
        transform_written = (examples
                             | "TrainStats" >> beam.FlatMap(
                                 lambda e: [e.stats] if e.stats is not None else [])
                             | "Analyze" >> AnalyzeNormalization(
                                 fileio.join(config.output_dir, schema.TRANSFORM_DIR),
                                 temp_dir=self._temp_dir, local_runner=self._local_runner))
        tallies = (examples, rejected, paired["ignored"]) | "Tally" >> Tally()
        return (specs.pipeline
                | "ManifestTrigger" >> beam.Create([None])
                | "WriteManifest" >> beam.ParDo(
                    WriteManifest(config), beam.pvalue.AsList(tallies),
                    beam.pvalue.AsList(shards), beam.pvalue.AsList(rejects_written),
                    beam.pvalue.AsList(transform_written)))


def build(pipeline: beam.Pipeline, config: Config, local_runner: bool,
          temp_dir: str | None = None):
    return (pipeline
            | "Sources" >> beam.Create(list(config.sources), reshuffle=False)
            | "Preprocess" >> Preprocess(config, local_runner=local_runner, temp_dir=temp_dir))


def run(argv=None) -> dict:
    """Runs the job; returns the manifest it wrote."""
    options = PipelineOptions(argv)
    config = Config.from_options(job_view(options, PreprocessOptions))
    try:
        fileio.ensure_empty_or_absent(config.output_dir)
    except ValueError as e:
        raise JobError(str(e)) from None
    if not fileio.is_gcs(config.output_dir):
        # Ctrl-C: OUT was empty or absent, so what is in it is this unfinished run's: removed,
        # the same command then starts again (a re-run refuses a folder that holds files).
        interrupts.on_interrupt(cleanup=lambda: _empty_folder(config.output_dir))
    local = shares_local_disk(options)
    temp_dir = options.view_as(GoogleCloudOptions).temp_location
    if not local:
        if not temp_dir:
            raise JobError("--temp_location (a gs:// folder the workers share) is required "
                           "when the workers run on other machines")
        require_reachable(options, [config.output_dir] + [s.path for s in config.sources],
                          error=JobError)
    feedback.say(f"{len(config.sources)} source(s) ("
                 + ", ".join(f"{s.name}={s.path}" for s in config.sources)
                 + f") -> {config.output_dir} at {config.image_size} px")
    dry_run = options.view_as(TestOptions).dry_run
    if dry_run:
        # tf.Transform makes its temp folders while the graph is built; a dry run only builds.
        temp_dir = tempfile.mkdtemp(prefix="cutout-preprocess-")
    with make_pipeline(options) as pipeline:
        build(pipeline, config, local_runner=local, temp_dir=temp_dir)
    if dry_run:
        return {}
    manifest = json.loads(fileio.read_bytes(fileio.join(config.output_dir, schema.MANIFEST_FILE)))
    logging.info("preprocess: %s written, %s rejected, %s skipped", manifest["totals"],
                 manifest["rejected"], manifest["skipped"])
    return manifest


# The shared flags (options.SharedJobOptions) this job reads; --help lists only these.
SHARED_FLAGS = ("--output_dir", "--max_pixels", "--max_file_bytes")


def _empty_folder(folder: str) -> None:
    for name in os.listdir(folder) if os.path.isdir(folder) else ():
        path = os.path.join(folder, name)
        if os.path.isdir(path) and not os.path.islink(path):
            shutil.rmtree(path, ignore_errors=True)
        else:
            os.unlink(path)


def main(argv=None, prog: str = "python -m pipelines.preprocess") -> int:
    return run_job_cli(prog, run, PreprocessOptions, (JobError,),
                       lambda m: {k: m[k] for k in ("totals", "rejected", "skipped")}, argv,
                       shared=SHARED_FLAGS, label="preprocess" if prog.startswith("python") else "",
                       description=__doc__.split("\n")[0],
                       required=("--source", "--output_dir"))


"""preprocess's pipeline: the stages wired together (`Preprocess`, `build`) and `run`.

The runbook (flags, what it writes, exit status, speed) is the package's docstring,
`pipelines/preprocess/__init__.py`.
"""
from __future__ import annotations

import json
import logging
import os
import shutil
import sys
import tempfile

import apache_beam as beam
from apache_beam.options.pipeline_options import GoogleCloudOptions, PipelineOptions, TestOptions

from model import feedback, interrupts, schema
from pipelines.core import fileio, progress
from pipelines.core.job_flags import first_line
from pipelines.core.options import (job_config, make_pipeline, require_reachable, run_job_cli,
                                    shares_local_disk)
from pipelines.core.rejects import JobError
from pipelines.preprocess.analysis import AnalyzeNormalization
from pipelines.preprocess.config import REMOTE_SHARDS, Config, PreprocessOptions
from pipelines.preprocess.examples import MakeExamples
from pipelines.preprocess.manifest import Tally, WriteManifest
from pipelines.preprocess.pairing import PairImages
from pipelines.preprocess.rejects import WriteRejects
from pipelines.preprocess.shards import WriteShards


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
    config = job_config(options, PreprocessOptions, Config.from_options)
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


# The shared flags (core.options.SharedJobOptions) this job reads; --help lists only these.
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
                       shared=SHARED_FLAGS,
                       label="preprocess" if prog.startswith("python") else "",
                       description=first_line(sys.modules[__package__].__doc__),
                       required=("--source", "--output_dir"))


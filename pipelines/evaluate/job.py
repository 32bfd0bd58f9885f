"""evaluate's pipeline: reading the examples or file pairs, scoring, the report, and `run`.

The runbook (modes, flags, what it writes, exit status, speed) is the package's docstring,
`pipelines/evaluate/__init__.py`.
"""
from __future__ import annotations

import json
import logging
import sys
from typing import Optional

import apache_beam as beam
from apache_beam.ml.inference.base import RunInference
from apache_beam.options.pipeline_options import PipelineOptions, TestOptions

from model import feedback, mistakes, schema
from pipelines.core import fileio
from pipelines.core.job_flags import first_line
from pipelines.core.options import job_config, make_pipeline, require_reachable, run_job_cli
from pipelines.core.rejects import JobError
from pipelines.evaluate.config import MODE_MODEL, Config, EvaluateOptions
from pipelines.evaluate.page import PAGE_FILE, summary_text
from pipelines.evaluate.pairing import (Matching, folder_rejects, images_by_key, list_relative,
                                        match_files)
from pipelines.evaluate.report import METRICS_FILE, REJECTS_FILES, WriteReport
from pipelines.evaluate.scoring import (DecodeRecords, EvalModelHandler, ScoreFilePair,
                                        ScoreModelOutput, shard_records)
from pipelines.serving import inference, model_files

# ---------------------------------------------------------------------------------------------
# Composites (the per-image DoFns are in scoring.py, the report's in report.py)

class ReadExamples(beam.PTransform):
    """OUT/<split>/*.tfrecord.gz -> EvalExample, plus a 'rejected' output."""

    def __init__(self, data_dir: str, split: str):
        super().__init__()
        self._pattern = schema.shard_pattern(data_dir, split)
        self._source = data_dir

    def expand(self, pbegin):
        """-> {'examples': EvalExample, 'rejected': records}. A shard is read whole by one
        worker (gzip can't be split anyway); a damaged one costs its records from the damage on
        (a `damaged_shard` reject naming it), not the job."""
        records, bad_shards = (
            pbegin
            | "Pattern" >> beam.Create([self._pattern], reshuffle=False)
            | "Shards" >> beam.FlatMap(lambda pattern: [p for p, _ in fileio.match(pattern)])
            | "Spread" >> beam.Reshuffle()
            | "ReadShards" >> beam.FlatMap(shard_records, self._source).with_outputs(
                "rejected", main="records"))
        decoded = records | "Decode" >> beam.ParDo(DecodeRecords(self._source)).with_outputs(
            "rejected", main="examples")
        rejected = (bad_shards, decoded.rejected) | "ReadRejects" >> beam.Flatten()
        return {"examples": decoded.examples, "rejected": rejected}


class ScoreModel(beam.PTransform):
    """EvalExample -> Scored (model and baselines at the stored resolution), plus 'rejected'."""

    def __init__(self, handler: EvalModelHandler, config: Config):
        super().__init__()
        self._handler, self._config = handler, config

    def expand(self, examples):
        c = self._config
        # A batch the model fails on becomes rejects (inference_failed), as in remove_background.
        predictions, dead = (examples
                             | "Predict" >> RunInference(self._handler).with_exception_handling())
        failed = (dead.failed_inferences
                  | "FailedBatches" >> beam.FlatMap(inference.failed_batch_rejects, c.data_dir))
        scored = (predictions
                  | "Score" >> beam.ParDo(ScoreModelOutput(
                      c.metric_names, c.baselines, c.sheet_cell, c.data_dir)).with_outputs(
                          "rejected", main="scored"))
        rejected = (scored.rejected, failed) | "Rejected" >> beam.Flatten()
        return {"scored": scored.scored, "rejected": rejected}


class ScoreFiles(beam.PTransform):
    """(key, gt_path, pred_path) -> Scored at full resolution, plus 'rejected'."""

    def __init__(self, config: Config):
        super().__init__()
        self._config = config

    def expand(self, pairs):
        return pairs | "ScorePairs" >> beam.ParDo(ScoreFilePair(self._config)).with_outputs(
            "rejected", main="scored")


# ---------------------------------------------------------------------------------------------
# Wiring and checks before any work

def check_model_inputs(config: Config) -> dict:
    """Validates the data folder, split and model; returns the report's context."""
    data_dir = config.data_dir
    manifest, _ = schema.check_data_folder(  # raises JobError
        data_dir, [config.split], is_dir=fileio.is_dir, exists=fileio.exists,
        read_bytes=fileio.read_bytes,
        glob=lambda pattern: [path for path, _ in fileio.match(pattern)])
    image_size = manifest[schema.IMAGE_SIZE]
    model = config.model
    model_size = model_files.check_export(model)["image_size"]
    resolution = (f"scored at the stored training resolution {image_size}x{image_size}"
                  + ("" if model_size == image_size else
                     f" (the model's input is {model_size}x{model_size}: images were resized "
                     "to it and its masks back)"))
    return {"resolution": resolution, "extra": {
        "image_size": image_size, "model_input_size": model_size, "split": config.split,
        "data_dir": data_dir, "model": model,
        "split_examples_in_manifest": manifest.get("totals", {}).get(config.split)}}


def check_folder_inputs(config: Config) -> tuple[Matching, dict]:
    for flag, path in (("--gt_dir", config.gt_dir), ("--pred_dir", config.pred_dir),
                       ("--image_dir", config.image_dir)):
        if path and not fileio.is_dir(path):
            raise JobError(f"{flag} {path} is an empty folder" if fileio.exists(path)
                           else mistakes.missing_input(flag, path))
    gt_rels, gt_problems = list_relative(config.gt_dir)
    pred_rels, pred_problems = list_relative(config.pred_dir)
    matching = match_files(gt_rels, pred_rels)
    # Entries that must not be read (pipes, devices, broken links, names that are not UTF-8).
    matching.unreadable = ([("ground_truth", p) for p in gt_problems]
                           + [("prediction", p) for p in pred_problems])
    if not matching.pairs and not matching.missing_predictions:
        raise JobError(f"no ground-truth masks (image files) under {config.gt_dir}")
    resolution = "scored at full resolution (each ground-truth mask's own size)"
    if config.refine != "none":
        resolution += f", predictions refined ({config.refine}) with the photos of --image_dir"
    context = {"resolution": resolution,
               "extra": {
                   "gt_dir": config.gt_dir, "pred_dir": config.pred_dir,
                   "missing_predictions": matching.missing_predictions,
                   "unmatched_predictions": matching.unmatched_predictions,
                   "ignored_predictions": matching.ignored_predictions,
                   "ignored_ground_truth": matching.ignored_ground_truth,
                   "skipped_files": matching.skipped_files,
               }}
    return matching, context


def build(pipeline: beam.Pipeline, config: Config, context: dict,
          matching: Optional[Matching] = None):
    """Adds the job to `pipeline`; returns the PCollection holding the metrics.json document."""
    if config.mode == MODE_MODEL:
        read = pipeline | "Read" >> ReadExamples(config.data_dir, config.split)
        handler = EvalModelHandler(config.model, max_batch_size=config.batch_size,
                                   inference_threads=config.inference_threads)
        model = read["examples"] | "Model" >> ScoreModel(handler, config)
        scored, rejects = model["scored"], ((read["rejected"], model["rejected"])
                                            | "AllRejects" >> beam.Flatten())
    else:
        images = images_by_key(config.image_dir) if config.refine != "none" else {}
        pairs = [(key, fileio.join(config.gt_dir, g), fileio.join(config.pred_dir, p),
                  images.get(key))
                 for key, g, p in matching.pairs]
        files = (pipeline
                 | "Pairs" >> beam.Create(pairs)
                 | "Score" >> ScoreFiles(config))
        known = pipeline | "PairingRejects" >> beam.Create(
            folder_rejects(matching, config.gt_dir, config.pred_dir), reshuffle=False)
        scored, rejects = files.scored, ((known, files.rejected) | "AllRejects" >> beam.Flatten())
    return (scored, rejects) | "Report" >> WriteReport(config, context)


def run(argv=None) -> dict:
    """Runs the job; returns the metrics.json document it wrote."""
    options = PipelineOptions(argv)
    config = job_config(options, EvaluateOptions, Config.from_options)
    require_reachable(options, [config.report_dir, config.data_dir, config.model,
                                config.pred_dir, config.gt_dir], JobError)
    matching = None
    if config.mode == MODE_MODEL:
        context = check_model_inputs(config)
    else:
        matching, context = check_folder_inputs(config)
    feedback.say(f"scoring the model {config.model} on the {config.split} split of "
                 f"{config.data_dir}" if config.mode == MODE_MODEL else
                 f"scoring {config.pred_dir} against {config.gt_dir}"
                 + f" -> {config.report_dir}")
    with make_pipeline(options) as pipeline:
        build(pipeline, config, context, matching)
    metrics_path = fileio.join(config.report_dir, METRICS_FILE)
    if options.view_as(TestOptions).dry_run:
        logging.info("evaluate: --dry_run: the job was built, not run; nothing was written")
        return {}
    if not fileio.exists(metrics_path):
        raise JobError(f"the job ended without writing {metrics_path}")
    report = json.loads(fileio.read_bytes(metrics_path))
    if report["count"] == 0:
        raise JobError(f"nothing was scored (see {config.report_dir}/{METRICS_FILE} and "
                            f"{REJECTS_FILES}: {report['rejected_counts']})")
    print(summary_text(report, fileio.join(config.report_dir, PAGE_FILE)), flush=True)
    return report


def summary_line(report: dict) -> dict:
    out = {"count": report["count"], "resolution": report["resolution"],
           "overall": {k: report["overall"][k] for k in ("iou", "mae") if k in report["overall"]}}
    for name, block in report.get("baselines", {}).items():
        out[f"baseline_{name}_iou"] = block["overall"].get("iou")
    if report["rejected_counts"]:
        out["not_scored"] = report["rejected_counts"]
    return out


# The shared flags (core.options.SharedJobOptions) this job reads; --help lists only these.
SHARED_FLAGS = ("--model", "--max_file_bytes", "--inference_threads")


def main(argv=None, prog: str = "python -m pipelines.evaluate") -> int:
    return run_job_cli(prog, run, EvaluateOptions, (JobError,), summary_line, argv,
                       shared=SHARED_FLAGS, label="evaluate" if prog.startswith("python") else "",
                       description=first_line(sys.modules[__package__].__doc__),
                       required=("--report_dir",))

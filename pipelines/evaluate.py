"""Evaluate: score a model on a preprocessed split, or any tool's masks against ground truth.

Runbook
-------
Model mode (the exported model on a split of `pipelines.preprocess`'s output):

    python -m pipelines.evaluate --data_dir OUT --model MODEL/export --split test --report_dir R \
        [--metrics iou,mae,...] [--no_baselines] [--batch_size 16] [--sheet_rows 12] \
        [standard Beam options: --runner, --direct_num_workers, --project, ...]

Reads OUT/<split>/*.tfrecord.gz, decodes each stored image and mask with PIL, predicts with the
export's `serve_resized` signature and scores the prediction at the stored training resolution
S x S (the report says so): the shards hold images already stretched to S x S, so this is the
resolution the model was trained and validated at. A model whose own input size differs is fed
the image resized to its size and its alpha is resized back to S x S.

Folder mode (any tool's masks, at full resolution):

    python -m pipelines.evaluate --pred_dir P --gt_dir G --report_dir R \
        [--gt_encoding auto] [--pred_encoding alpha] [--metrics ...] [--no_baselines] \
        [--refine none|guided --image_dir I [--model_input_size 256]]

Pairs a prediction with its ground truth by relative path and stem: `P/a/b/x.png`, `P/a/b/x.jpg`
or `P/a/b/x.mask.png` (remove_background's `--output both`) is scored against `G/a/b/x.<any
image extension>`. A prediction is a single-channel mask (or a grey/RGB image, taken as grey) or
an RGBA cut-out, whose alpha is used (a cut-out composited onto a colour has no alpha left and
can't be scored: use remove_background's `--output mask`). Ground-truth masks are decoded with
`--gt_encoding` (default `auto`: 0/1 masks become 0/255). Nothing is resized: a prediction
whose size differs from its ground truth is reported, not scored. "Sources" are the top-level
folders of G (files directly in G belong to `(top)`). Names under P starting with `_` at the top
level (the bookkeeping of remove_background) and hidden files are skipped and counted.
`--refine guided` scores what the guided refinement of `pipelines/refine.py` would make of the
predictions: each is refined with its photo as guide before scoring, the photo found in
`--image_dir I` by the ground truth's relative path and stem (`I/a/b/x.<any image extension>`;
a pair without one is rejected, `missing_image`). The filter's scale follows the magnification
from a `--model_input_size` model (default 256). Default `none`: the files are scored as they
are (remove_background's own `--refine` has already been applied to its outputs). Model mode
has nothing to refine (it scores at the stored S x S) and refuses `--refine guided`.

Writes (R local or gs://; existing report files are replaced):
- R/metrics.json: `overall` and `per_source` means of every metric (keys are the metric
  functions' names in `model.metrics`), `count`, `per_source_count`, `resolution`, and
  `baselines` (`all_foreground`, `centred_ellipse`: the same metrics for trivial predictions, so a
  model that learned nothing is obvious), plus `dataset_max_f_measure` (the papers' maxF: the max
  over thresholds of the dataset-mean F curve; `max_f_measure` is the mean of per-image maxima,
  slightly higher). Folder mode adds `missing_predictions`, `unmatched_predictions`,
  `size_mismatches`, `ignored_predictions`, `ignored_ground_truth`, `skipped_files`; both modes
  list `rejected` inputs and count every reason in `rejected_counts`.
- R/per_image.csv: key, source, every metric (model mode: and `confidence`, the score
  remove_background writes to its index); one row per scored image, sorted by key.
- Model mode: `confidence` in metrics.json: how well the confidence finds the bad outputs:
  `spearman` (rank correlation of confidence and IoU over the split), `bad` (outputs with IoU
  under 0.5), `lowest_10pct` (how many outputs are the lowest-confidence 10%) and
  `bad_in_lowest_10pct_share` (the share of the bad ones among them; null without bad ones).
- R/contact_sheet.png: the worst images by IoU first (`--sheet_rows`, default 12), one row each:
  image, ground truth, prediction, cut-out on a checkerboard (folder mode, which has no images:
  ground truth, prediction, errors: red = missed foreground, blue = false foreground), with the
  key and IoU written above the row.
- R/_rejected.jsonl: one JSON object per input that was not scored (`rejects.record`: `source`,
  `path`, `reason`, `detail`, plus `key`, and `prediction` / `ground_truth` in folder mode).
  Nothing is dropped silently: a colour ground truth is `gt_not_grayscale`, a composited
  cut-out `no_alpha`, a batch the model failed on `inference_failed` (the job goes on), a
  truncated shard `damaged_shard` (its records before the damage are scored); files are read
  only when regular (pipes, devices, broken links and names that are not UTF-8 are rejects) and
  at most `--max_file_bytes`. `--report_dir` may not overlap `--pred_dir`/`--gt_dir` (links
  resolved).

Exit status 0 when the job scored something (rejects are data); 2 with a one-line message when
it could not (missing data dir or manifest, no shards for the split, model missing or damaged,
nothing scored). Time, per core: start-up ~10 s (TensorFlow); then per image the model's
forward pass (~0.2 s for a 16-filter U-Net at 320 px) plus the metrics: all thirteen take ~0.06 s
at 320 px and ~0.9 s at 1080x1440, three times that with the baselines (`--no_baselines`, or
fewer `--metrics`, when that matters: in folder mode the full-resolution metrics dominate).
"""
from __future__ import annotations

if __name__ == "__main__":
    # `python -m pipelines.evaluate`: run the module under its real name before anything is
    # defined here, so the elements' classes pickle as pipelines.evaluate.* (importable by other
    # worker processes), never as __main__.*, and the options class is registered once.
    import sys

    from model import console

    sys.argv[1:] = console.start()  # quiet unless --verbose, before TensorFlow and Beam load
    from pipelines.evaluate import main

    sys.exit(main())

import dataclasses
import json
import logging
from typing import Optional

import apache_beam as beam
from apache_beam.ml.inference.base import RunInference
from apache_beam.options.pipeline_options import PipelineOptions, TestOptions

from model import export, metrics, schema
from pipelines import fileio, imaging, model_files, safe_files
from pipelines.eval_pairing import (Matching, folder_rejects, images_by_key, list_relative,
                                    match_files)
from pipelines.refine_options import add_refine_argument
from pipelines.eval_report import (METRICS_FILE, MODE_FOLDERS, MODE_MODEL, REJECTS_FILE,
                                   WriteReport)
from pipelines.eval_scoring import (DecodeRecords, EvalModelHandler, ScoreFilePair,
                                    ScoreModelOutput, failed_batch_rejects, shard_records)
from pipelines.options import (DEFAULT_RUNTIME, job_view, make_pipeline, require_reachable,
                               run_job_cli)
from pipelines.rejects import JobError

# ---------------------------------------------------------------------------------------------
# Options and config

class EvaluateOptions(PipelineOptions):
    @classmethod
    def _add_argparse_args(cls, parser):
        parser.add_argument("--data_dir", default=None, help="OUT of pipelines.preprocess")
        parser.add_argument("--split", default="test", help="train, val or test")
        parser.add_argument("--pred_dir", default=None, help="folder of predicted masks/cut-outs")
        parser.add_argument("--gt_dir", default=None, help="folder of ground-truth masks")
        parser.add_argument("--report_dir", default=None, help="R: where the report goes")
        parser.add_argument("--metrics", default=None,
                            help="comma-separated metric names (default: all); iou is always "
                                 "computed (the contact sheet is ordered by it)")
        parser.add_argument("--no_baselines", action="store_true", default=False,
                            help="skip the all-foreground and centred-ellipse baselines")
        parser.add_argument("--gt_encoding", default="auto", choices=imaging.MASK_ENCODINGS)
        parser.add_argument("--pred_encoding", default="alpha", choices=imaging.MASK_ENCODINGS,
                            help="how single-channel predictions are read (RGBA: the alpha)")
        parser.add_argument("--batch_size", type=int, default=16)
        parser.add_argument("--sheet_rows", type=int, default=12)
        parser.add_argument("--sheet_cell", type=int, default=128,
                            help="side of one contact-sheet panel, pixels")
        add_refine_argument(parser, "folder mode: guided refines each prediction with its "
                                    "photo (--image_dir) before scoring; none (default): as is")
        parser.add_argument("--image_dir", default=None,
                            help="folder mode: the photos, laid out as the ground truth")
        parser.add_argument("--model_input_size", type=int, default=256,
                            help="folder mode, --refine guided: the side of the model the "
                                 "masks were upsampled from (the filter's scale)")


@dataclasses.dataclass(frozen=True)
class Config:
    mode: str
    report_dir: str
    metric_names: tuple
    baselines: bool = True
    data_dir: Optional[str] = None
    model: Optional[str] = None
    split: str = "test"
    pred_dir: Optional[str] = None
    gt_dir: Optional[str] = None
    gt_encoding: str = "auto"
    pred_encoding: str = "alpha"
    batch_size: int = 16
    inference_threads: int = 0
    runtime: str = DEFAULT_RUNTIME
    sheet_rows: int = 12
    sheet_cell: int = 128
    max_file_bytes: int = safe_files.DEFAULT_MAX_FILE_BYTES
    refine: str = "none"
    image_dir: Optional[str] = None
    model_input_size: int = 256

    @classmethod
    def from_options(cls, opts: EvaluateOptions) -> "Config":
        if not opts.report_dir:
            raise JobError("--report_dir is required")
        model_mode = bool(opts.data_dir or opts.model)
        folder_mode = bool(opts.pred_dir or opts.gt_dir)
        if model_mode == folder_mode:
            raise JobError("give either --data_dir and --model (score a model on a split) "
                                "or --pred_dir and --gt_dir (score a folder of masks)")
        if model_mode and not (opts.data_dir and opts.model):
            raise JobError("model mode needs both --data_dir and --model")
        if folder_mode and not (opts.pred_dir and opts.gt_dir):
            raise JobError("folder mode needs both --pred_dir and --gt_dir")
        config = cls(
            mode=MODE_MODEL if model_mode else MODE_FOLDERS,
            report_dir=opts.report_dir.rstrip("/"),
            metric_names=parse_metric_names(opts.metrics),
            baselines=not opts.no_baselines,
            data_dir=opts.data_dir.rstrip("/") if opts.data_dir else None,
            model=opts.model.rstrip("/") if opts.model else None,
            split=opts.split,
            pred_dir=opts.pred_dir.rstrip("/") if opts.pred_dir else None,
            gt_dir=opts.gt_dir.rstrip("/") if opts.gt_dir else None,
            gt_encoding=opts.gt_encoding, pred_encoding=opts.pred_encoding,
            batch_size=opts.batch_size, inference_threads=opts.inference_threads,
            runtime=opts.runtime,
            sheet_rows=opts.sheet_rows, sheet_cell=opts.sheet_cell,
            max_file_bytes=opts.max_file_bytes,
            refine=opts.refine or "none",
            image_dir=opts.image_dir.rstrip("/") if opts.image_dir else None,
            model_input_size=opts.model_input_size)
        config.validate()
        return config

    def validate(self) -> None:
        if self.split not in schema.SPLITS:
            raise JobError(f"--split {self.split!r} is not one of {schema.SPLITS}")
        if self.batch_size < 1:
            raise JobError("--batch_size must be at least 1")
        if self.sheet_rows < 0:
            raise JobError("--sheet_rows must be 0 or more")
        if not 16 <= self.sheet_cell <= 1024:
            raise JobError("--sheet_cell must be in 16..1024")
        if self.max_file_bytes < 1:
            raise JobError("--max_file_bytes must be at least 1")
        if self.refine != "none" and self.mode == MODE_MODEL:
            raise JobError("--refine applies to folder mode: model mode scores at the "
                           "stored S x S, where there is nothing to refine")
        if self.refine != "none" and not self.image_dir:
            raise JobError("--refine guided needs --image_dir, the photos to guide it")
        if self.model_input_size < 1:
            raise JobError("--model_input_size must be at least 1")
        if self.mode == MODE_FOLDERS:
            # Links resolved: a report folder that is (or is inside, or holds) a folder being
            # scored would be scored on the next run, or replace its files.
            report = fileio.resolved(self.report_dir)
            for flag, folder in (("--pred_dir", self.pred_dir), ("--gt_dir", self.gt_dir)):
                if fileio.overlaps(report, fileio.resolved(folder)):
                    raise JobError(f"--report_dir {self.report_dir} and {flag} {folder} "
                                   "overlap (links resolved): give a report folder apart "
                                   "from both")

    def as_dict(self) -> dict:
        d = dataclasses.asdict(self)
        d["metric_names"] = list(self.metric_names)
        return d


def parse_metric_names(text: Optional[str]) -> tuple:
    """'iou,mae' -> ('iou', 'mae') in METRICS' order, iou always included; None -> all."""
    if not text:
        return tuple(metrics.METRICS)
    names = {n.strip() for n in text.split(",") if n.strip()}
    unknown = sorted(names - set(metrics.METRICS))
    if unknown:
        raise JobError(f"unknown metric(s) {unknown}; known: {list(metrics.METRICS)}")
    names.add("iou")
    return tuple(n for n in metrics.METRICS if n in names)


# ---------------------------------------------------------------------------------------------
# Composites (the per-image DoFns are in pipelines.eval_scoring, the report's in eval_report)

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
                  | "FailedBatches" >> beam.FlatMap(failed_batch_rejects, c.data_dir))
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
    for name in ("saved_model.pb", export.METADATA_FILE):
        if not fileio.exists(fileio.join(model, name)):
            raise JobError(f"{model} is not a model export ({name} is missing): give "
                           "MODEL/export as written by model.train / model.export")
    model_files.check_model(model, config.runtime)
    model_size = int(export.read_metadata(model, fileio.read_bytes)["image_size"])
    resolution = (f"scored at the stored training resolution {image_size}x{image_size}"
                  + ("" if model_size == image_size else
                     f" (the model's input is {model_size}x{model_size}: images were resized "
                     "to it and its masks back)"))
    return {"resolution": resolution, "extra": {
        "image_size": image_size, "model_input_size": model_size, "split": config.split,
        "data_dir": data_dir, "model": model,
        "split_examples_in_manifest": manifest.get("totals", {}).get(config.split)}}


def check_folder_inputs(config: Config) -> tuple[Matching, dict]:
    for flag, path in (("--gt_dir", config.gt_dir), ("--pred_dir", config.pred_dir)):
        if not fileio.is_dir(path):
            raise JobError(f"{flag} {path} does not exist or is empty")
    if config.image_dir and not fileio.is_dir(config.image_dir):
        raise JobError(f"--image_dir {config.image_dir} does not exist or is empty")
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
                                   inference_threads=config.inference_threads,
                                   runtime=config.runtime)
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
    config = Config.from_options(job_view(options, EvaluateOptions))
    require_reachable(options, [config.report_dir, config.data_dir, config.model,
                                config.pred_dir, config.gt_dir], JobError)
    matching = None
    if config.mode == MODE_MODEL:
        context = check_model_inputs(config)
    else:
        matching, context = check_folder_inputs(config)
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
                            f"{REJECTS_FILE}: {report['rejected_counts']})")
    return report


def summary_line(report: dict) -> dict:
    out = {"count": report["count"], "resolution": report["resolution"],
           "overall": {k: report["overall"][k] for k in ("iou", "mae") if k in report["overall"]}}
    for name, block in report.get("baselines", {}).items():
        out[f"baseline_{name}_iou"] = block["overall"].get("iou")
    if report["rejected_counts"]:
        out["not_scored"] = report["rejected_counts"]
    return out


def main(argv=None) -> int:
    return run_job_cli("evaluate", run, EvaluateOptions, (JobError,), summary_line, argv)

"""evaluate's configuration: its flags, its two modes and the typed `Config`, checked once before
the pipeline is built (JobError when the job can't run). The bottom of the job's stack: it
imports only pipelines.core, pipelines.serving and model.
"""
from __future__ import annotations

import dataclasses
from typing import Optional

from apache_beam.options.pipeline_options import PipelineOptions

from model import metrics, schema
from pipelines.core import fileio, imaging, safe_files
from pipelines.core.rejects import JobError
from pipelines.serving.refine import add_refine_argument

MODE_MODEL, MODE_FOLDERS = "model", "folders"   # evaluate's two modes: the report differs by mode
MODEL_SCORER = "model"            # the scorer beside the baselines (metrics.BASELINES)


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

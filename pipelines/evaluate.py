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
        [--gt_encoding auto] [--pred_encoding alpha] [--metrics ...] [--no_baselines]

Pairs a prediction with its ground truth by relative path and stem: `P/a/b/x.png`, `P/a/b/x.jpg`
or `P/a/b/x.mask.png` (remove_background's `--output both`) is scored against `G/a/b/x.<any
image extension>`. A prediction is a single-channel mask (or a grey/RGB image, taken as grey) or
an RGBA cut-out, whose alpha is used (a cut-out composited onto a colour has no alpha left and
can't be scored: use remove_background's `--output mask`). Ground-truth masks are decoded with
`--gt_encoding` (default `auto`: 0/1 masks become 0/255). Nothing is resized: a prediction
whose size differs from its ground truth is reported, not scored. "Sources" are the top-level
folders of G (files directly in G belong to `(top)`). Names under P starting with `_` at the top
level (the bookkeeping of remove_background) and hidden files are skipped and counted.

Writes (R local or gs://; existing report files are replaced):
- R/metrics.json: `overall` and `per_source` means of every metric (keys are the metric
  functions' names in `model.metrics`), `count`, `per_source_count`, `resolution`, and
  `baselines` (`all_foreground`, `centred_ellipse`: the same metrics for trivial predictions, so a
  model that learned nothing is obvious), plus `dataset_max_f_measure` (the papers' maxF: the max
  over thresholds of the dataset-mean F curve; `max_f_measure` is the mean of per-image maxima,
  slightly higher). Folder mode adds `missing_predictions`, `unmatched_predictions`,
  `size_mismatches`, `ignored_predictions`, `ignored_ground_truth`, `skipped_files`; both modes
  list `rejected` inputs and count every reason in `rejected_counts`.
- R/per_image.csv: key, source, every metric; one row per scored image, sorted by key.
- R/contact_sheet.png: the worst images by IoU first (`--sheet_rows`, default 12), one row each:
  image, ground truth, prediction, cut-out on a checkerboard (folder mode, which has no images:
  ground truth, prediction, errors: red = missed foreground, blue = false foreground), with the
  key and IoU written above the row.
- R/_rejected.jsonl: one JSON object per input that was not scored, with `key`, `reason`,
  `detail` (and paths in folder mode). Nothing is dropped silently.

Exit status 0 when the job scored something (rejects are data); non-zero with a clear message
when it could not (missing data dir or manifest, no shards for the split, model missing, nothing
scored). Time, per core: start-up ~10 s (TensorFlow); then per image the model's forward pass
(~0.2 s for a 16-filter U-Net at 320 px) plus the metrics: all twelve take ~0.06 s at 320 px and
~0.9 s at 1080x1440, three times that with the baselines (`--no_baselines`, or fewer
`--metrics`, when that matters: in folder mode the full-resolution metrics dominate).
"""
from __future__ import annotations

if __name__ == "__main__":
    # `python -m pipelines.evaluate`: run the module under its real name before anything is
    # defined here, so the elements' classes pickle as pipelines.evaluate.* (importable by other
    # worker processes), never as __main__.*, and the options class is registered once.
    import sys

    from pipelines.evaluate import main

    sys.exit(main())

import csv
import dataclasses
import io
import json
import logging
import posixpath
import struct
import sys
from typing import Iterable, NamedTuple, Optional, Sequence

import apache_beam as beam
import numpy as np
from apache_beam.io.filesystem import CompressionTypes
from apache_beam.metrics import Metrics
from apache_beam.ml.inference.base import PredictionResult, RunInference
from apache_beam.options.pipeline_options import PipelineOptions, TestOptions
from PIL import Image, ImageDraw, ImageFont

from model import export, metrics, schema
from pipelines import fileio, imaging
from pipelines.inference import LoadedModel, SavedModelHandler
from pipelines.options import job_view, make_pipeline, require_reachable, run_job_cli

NAMESPACE = "evaluate"
MODEL_SCORER = "model"
BASELINES = ("all_foreground", "centred_ellipse")
ELLIPSE_FRACTION = 0.8            # the ellipse spans the middle 80% of each side
HIGHER_IS_BETTER = {"iou": True, "dice": True, "mae": False, "s_measure": True,
                    "e_measure": True, "weighted_f_measure": True, "max_f_measure": True,
                    "sad": False, "mse": False, "mad": False, "grad": False, "conn": False}
IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp", ".gif")
TOP_SOURCE = "(top)"
MASK_STEM_SUFFIX = ".mask"        # pipelines.inference.MASK_SUFFIX: remove_background's masks
METRICS_FILE = "metrics.json"
PER_IMAGE_FILE = "per_image.csv"
SHEET_FILE = "contact_sheet.png"
REJECTS_FILE = "_rejected.jsonl"
MODE_MODEL, MODE_FOLDERS = "model", "folders"


class EvaluateError(ValueError):
    """The job can't do its work; the message says why and what to do."""


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

    @classmethod
    def from_options(cls, opts: EvaluateOptions) -> "Config":
        if not opts.report_dir:
            raise EvaluateError("--report_dir is required")
        model_mode = bool(opts.data_dir or opts.model)
        folder_mode = bool(opts.pred_dir or opts.gt_dir)
        if model_mode == folder_mode:
            raise EvaluateError("give either --data_dir and --model (score a model on a split) "
                                "or --pred_dir and --gt_dir (score a folder of masks)")
        if model_mode and not (opts.data_dir and opts.model):
            raise EvaluateError("model mode needs both --data_dir and --model")
        if folder_mode and not (opts.pred_dir and opts.gt_dir):
            raise EvaluateError("folder mode needs both --pred_dir and --gt_dir")
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
            sheet_rows=opts.sheet_rows, sheet_cell=opts.sheet_cell)
        config.validate()
        return config

    def validate(self) -> None:
        if self.split not in schema.SPLITS:
            raise EvaluateError(f"--split {self.split!r} is not one of {schema.SPLITS}")
        if self.batch_size < 1:
            raise EvaluateError("--batch_size must be at least 1")
        if self.sheet_rows < 0:
            raise EvaluateError("--sheet_rows must be 0 or more")
        if not 16 <= self.sheet_cell <= 1024:
            raise EvaluateError("--sheet_cell must be in 16..1024")
        if self.mode == MODE_FOLDERS and self.report_dir in (self.pred_dir, self.gt_dir):
            raise EvaluateError("--report_dir must differ from --pred_dir and --gt_dir")

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
        raise EvaluateError(f"unknown metric(s) {unknown}; known: {list(metrics.METRICS)}")
    names.add("iou")
    return tuple(n for n in metrics.METRICS if n in names)


# ---------------------------------------------------------------------------------------------
# Pure per-image steps

class EvalExample(NamedTuple):
    """One stored example, decoded: the model's input and the ground truth at S x S."""
    key: str
    source: str
    image: np.ndarray          # uint8 [S, S, 3]
    mask: np.ndarray           # float32 [S, S] in [0, 1]


def decode_example(record: bytes) -> EvalExample:
    """A serialized example -> EvalExample. Raises imaging.ImageError with a reason."""
    try:
        features = schema.decode_example(record)
    except (ValueError, IndexError, UnicodeDecodeError, struct.error) as e:
        raise imaging.ImageError("unparseable_example", f"{type(e).__name__}: {e}") from None
    key = features.get(schema.KEY)
    missing = [k for k in (schema.KEY, schema.SOURCE, schema.IMAGE, schema.MASK)
               if not isinstance(features.get(k), bytes)]
    if missing:
        raise imaging.ImageError("incomplete_example", f"missing feature(s) {missing}")
    key = key.decode("utf-8", "replace")
    try:
        rgb, _ = imaging.load_rgb(features[schema.IMAGE])
    except imaging.ImageError as e:
        raise imaging.ImageError(f"image_{e.reason}", e.detail) from None
    try:
        mask = imaging.decode_mask(features[schema.MASK], "alpha")
    except imaging.ImageError as e:
        raise imaging.ImageError(f"mask_{e.reason}", e.detail) from None
    if mask.size != rgb.size:
        raise imaging.ImageError("mask_size_mismatch",
                                 f"mask {mask.size} vs image {rgb.size}")
    return EvalExample(key=key, source=features[schema.SOURCE].decode("utf-8", "replace"),
                       image=np.asarray(rgb, dtype=np.uint8),
                       mask=np.asarray(mask, dtype=np.float32) / 255.0)


def centred_ellipse(height: int, width: int, fraction: float = ELLIPSE_FRACTION) -> np.ndarray:
    """The centred-ellipse baseline: 1.0 inside an ellipse centred in the frame whose axes span
    `fraction` of the height and width, 0.0 elsewhere (float32 [height, width])."""
    y = (np.arange(height, dtype=np.float64) + 0.5 - height / 2) / (fraction * height / 2)
    x = (np.arange(width, dtype=np.float64) + 0.5 - width / 2) / (fraction * width / 2)
    return ((y[:, None] ** 2 + x[None, :] ** 2) <= 1.0).astype(np.float32)


def baseline_prediction(name: str, height: int, width: int) -> np.ndarray:
    if name == "all_foreground":
        return np.ones((height, width), np.float32)
    if name == "centred_ellipse":
        return centred_ellipse(height, width)
    raise ValueError(f"unknown baseline {name!r}")


class Thumbs(NamedTuple):
    """Small copies for the contact sheet (at most `cell` on a side)."""
    image: Optional[np.ndarray]   # uint8 RGB, None in folder mode
    gt: np.ndarray                # uint8 grey
    pred: np.ndarray              # uint8 grey


class Scored(NamedTuple):
    key: str
    source: str
    scores: dict                  # scorer ('model' or a baseline) -> {metric: value}
    curves: dict                  # scorer -> F curve [256], when max_f_measure is computed
    thumbs: Thumbs


def _to_u8(alpha: np.ndarray) -> np.ndarray:
    return np.clip(np.rint(np.asarray(alpha, np.float32) * 255.0), 0, 255).astype(np.uint8)


def _thumb(arr: np.ndarray, cell: int) -> np.ndarray:
    img = Image.fromarray(arr)
    if max(img.size) > cell:
        img.thumbnail((cell, cell), imaging.RESAMPLE)
    return np.asarray(img)


def clean_prediction(alpha: np.ndarray) -> np.ndarray:
    """A model's alpha as a 2-D float map in [0, 1]; NaN or inf raise ImageError."""
    alpha = np.asarray(alpha, dtype=np.float32)
    alpha = alpha.reshape(alpha.shape[0], alpha.shape[1])
    if not np.isfinite(alpha).all():
        raise imaging.ImageError("prediction_not_finite", "the model output NaN or inf")
    return np.clip(alpha, 0.0, 1.0)  # a sigmoid may overshoot by rounding only


def score_prediction(key: str, source: str, pred: np.ndarray, gt: np.ndarray,
                     names: Sequence[str], baselines: bool, cell: int,
                     image: Optional[np.ndarray] = None) -> Scored:
    """Scores one prediction (and the baselines, on the same ground truth). Pure."""
    h, w = gt.shape
    predictions = {MODEL_SCORER: pred}
    if baselines:
        predictions.update({b: baseline_prediction(b, h, w) for b in BASELINES})
    scores, curves = {}, {}
    for scorer, p in predictions.items():
        scores[scorer] = metrics.score_all(p, gt, names)
        if "max_f_measure" in names:
            curves[scorer] = metrics.f_measure_curve(p, gt)
    thumbs = Thumbs(image=None if image is None else _thumb(image, cell),
                    gt=_thumb(_to_u8(gt), cell), pred=_thumb(_to_u8(pred), cell))
    return Scored(key, source, scores, curves, thumbs)


def resize_alpha(alpha: np.ndarray, size: int) -> np.ndarray:
    """A float alpha [s, s] -> [size, size] with the project's resize, kept float."""
    a = np.asarray(alpha, np.float32).reshape(alpha.shape[0], alpha.shape[1])
    if a.shape == (size, size):
        return a
    return np.asarray(Image.fromarray(a, "F").resize((size, size), imaging.RESAMPLE))


def prediction_alpha(data: bytes, encoding: str = "alpha") -> np.ndarray:
    """A prediction file -> uint8 alpha [H, W]: the alpha of an RGBA (or LA, or transparent
    palette) cut-out, else the image read as a mask with `encoding`. Raises ImageError."""
    img = imaging.open_image(data)
    has_alpha = img.mode in ("RGBA", "LA", "PA", "RGBa", "La") or (
        img.mode in ("P", "L", "RGB") and "transparency" in img.info)
    if has_alpha:
        return np.asarray(img.convert("RGBA").getchannel("A"), dtype=np.uint8)
    return np.asarray(imaging.decode_mask(data, encoding), dtype=np.uint8)


def source_of(key: str) -> str:
    """Folder mode's grouping: the top-level folder of the relative key."""
    return key.split("/", 1)[0] if "/" in key else TOP_SOURCE


# ---------------------------------------------------------------------------------------------
# Folder mode: pairing predictions with ground truth (pure)

def _split_ext(rel: str) -> tuple[str, str]:
    stem, ext = posixpath.splitext(rel)
    return stem, ext.lower()


def _skip_reason(rel: str, bookkeeping: bool) -> Optional[str]:
    parts = rel.split("/")
    if any(p.startswith(".") for p in parts):
        return "hidden"
    if bookkeeping and parts[0].startswith("_"):
        return "bookkeeping"
    if _split_ext(rel)[1] not in IMAGE_EXTENSIONS:
        return "not_an_image"
    return None


def _preference(rel: str) -> tuple:
    stem, ext = _split_ext(rel)
    return (not stem.endswith(MASK_STEM_SUFFIX), ext != ".png", rel)


@dataclasses.dataclass
class Matching:
    pairs: list                    # (key, gt_rel, pred_rel), sorted by key
    missing_predictions: list      # gt_rel with no prediction
    unmatched_predictions: list    # pred_rel with no gt
    ignored_predictions: list      # {"path", "used"}: another file for the same key was scored
    ignored_ground_truth: list     # {"path", "used"}
    skipped_files: dict            # {"predictions"|"ground_truth": {reason: count}}


def match_files(gt_rels: Iterable[str], pred_rels: Iterable[str]) -> Matching:
    """Pairs predictions with ground truth by relative path and stem (see the runbook)."""
    skipped = {"ground_truth": {}, "predictions": {}}
    gt_by_key: dict[str, list] = {}
    for rel in gt_rels:
        reason = _skip_reason(rel, bookkeeping=False)
        if reason:
            skipped["ground_truth"][reason] = skipped["ground_truth"].get(reason, 0) + 1
            continue
        gt_by_key.setdefault(_split_ext(rel)[0], []).append(rel)
    pred_by_key: dict[str, list] = {}
    unmatched = []
    for rel in pred_rels:
        reason = _skip_reason(rel, bookkeeping=True)
        if reason:
            skipped["predictions"][reason] = skipped["predictions"].get(reason, 0) + 1
            continue
        stem = _split_ext(rel)[0]
        if stem not in gt_by_key and stem.endswith(MASK_STEM_SUFFIX):
            stem = stem[:-len(MASK_STEM_SUFFIX)]
        if stem in gt_by_key:
            pred_by_key.setdefault(stem, []).append(rel)
        else:
            unmatched.append(rel)
    pairs, missing, ignored_pred, ignored_gt = [], [], [], []
    for key in sorted(gt_by_key):
        gts = sorted(gt_by_key[key], key=_preference)
        ignored_gt += [{"path": g, "used": gts[0]} for g in gts[1:]]
        preds = sorted(pred_by_key.get(key, []), key=_preference)
        if not preds:
            missing.append(gts[0])
            continue
        ignored_pred += [{"path": p, "used": preds[0]} for p in preds[1:]]
        pairs.append((key, gts[0], preds[0]))
    return Matching(pairs=pairs, missing_predictions=missing,
                    unmatched_predictions=sorted(unmatched),
                    ignored_predictions=ignored_pred, ignored_ground_truth=ignored_gt,
                    skipped_files={k: dict(sorted(v.items())) for k, v in skipped.items()})


def _relative_files(root: str) -> list[str]:
    return [fileio.relative_to(path, root) for path, _ in fileio.list_files(root)]


# ---------------------------------------------------------------------------------------------
# Aggregation (pure, and as a CombineFn)

OVERALL = "__overall__"


def empty_accumulator() -> dict:
    return {}


def add_scored(acc: dict, scored: Scored) -> dict:
    """acc[group][scorer] = [count, {metric: sum}, F-curve sum or None]."""
    for group in (OVERALL, scored.source):
        by_scorer = acc.setdefault(group, {})
        for scorer, values in scored.scores.items():
            entry = by_scorer.setdefault(scorer, [0, {}, None])
            entry[0] += 1
            for name, value in values.items():
                entry[1][name] = entry[1].get(name, 0.0) + float(value)
            curve = scored.curves.get(scorer)
            if curve is not None:
                entry[2] = curve.copy() if entry[2] is None else entry[2] + curve
    return acc


def merge_accumulators(accs: Iterable[dict]) -> dict:
    merged: dict = {}
    for acc in accs:
        for group, by_scorer in acc.items():
            target = merged.setdefault(group, {})
            for scorer, (count, sums, curve) in by_scorer.items():
                entry = target.setdefault(scorer, [0, {}, None])
                entry[0] += count
                for name, value in sums.items():
                    entry[1][name] = entry[1].get(name, 0.0) + value
                if curve is not None:
                    entry[2] = curve.copy() if entry[2] is None else entry[2] + curve
    return merged


def summarise(acc: dict, names: Sequence[str]) -> dict:
    """Means per group and scorer: {group: {scorer: {"count", "means", "dataset_max_f"}}}."""
    out = {}
    for group, by_scorer in acc.items():
        out[group] = {}
        for scorer, (count, sums, curve) in by_scorer.items():
            out[group][scorer] = {
                "count": count,
                "means": {n: sums[n] / count for n in names if n in sums},
                "dataset_max_f": (float(np.max(curve / count)) if curve is not None else None),
            }
    return out


class SummaryFn(beam.CombineFn):
    def __init__(self, names: Sequence[str]):
        self._names = tuple(names)

    def create_accumulator(self):
        return empty_accumulator()

    def add_input(self, acc, scored):
        return add_scored(acc, scored)

    def merge_accumulators(self, accumulators):
        return merge_accumulators(accumulators)

    def extract_output(self, acc):
        return summarise(acc, self._names)


# ---------------------------------------------------------------------------------------------
# The contact sheet (pure)

SHEET_PAD = 6
SHEET_TITLE_H = 16
SHEET_CAPTION_H = 14
MODEL_COLUMNS = ("image", "ground truth", "prediction", "cut-out")
FOLDER_COLUMNS = ("ground truth", "prediction", "errors (red: missed, blue: extra)")


def contact_sheet_size(n_rows: int, n_cols: int, cell: int) -> tuple[int, int]:
    """(width, height) of a contact sheet with these rows, columns and panel side."""
    width = n_cols * cell + (n_cols + 1) * SHEET_PAD
    height = SHEET_TITLE_H + n_rows * (SHEET_CAPTION_H + cell + SHEET_PAD) + SHEET_PAD
    return width, height


def checkerboard(width: int, height: int, square: int = 8) -> np.ndarray:
    yy, xx = np.mgrid[0:height, 0:width]
    light = ((yy // square + xx // square) % 2 == 0)
    return np.where(light[..., None], 235, 190).astype(np.uint8).repeat(3, axis=2)


def _match_size(arr: np.ndarray, shape: tuple) -> np.ndarray:
    if arr.shape[:2] == shape:
        return arr
    return np.asarray(Image.fromarray(arr).resize((shape[1], shape[0]), imaging.RESAMPLE))


def sheet_panels(thumbs: Thumbs) -> list[Image.Image]:
    gt = Image.fromarray(thumbs.gt, "L").convert("RGB")
    pred_arr = _match_size(thumbs.pred, thumbs.gt.shape)
    pred = Image.fromarray(pred_arr, "L").convert("RGB")
    if thumbs.image is not None:
        image = _match_size(thumbs.image, thumbs.gt.shape)
        a = pred_arr.astype(np.float32)[..., None] / 255.0
        bg = checkerboard(image.shape[1], image.shape[0]).astype(np.float32)
        cut = np.clip(np.rint(image * a + bg * (1 - a)), 0, 255).astype(np.uint8)
        return [Image.fromarray(image, "RGB"), gt, pred, Image.fromarray(cut, "RGB")]
    g, p = thumbs.gt >= 128, pred_arr >= 128
    err = np.full(g.shape + (3,), 40, np.uint8)
    err[g & p] = (235, 235, 235)
    err[g & ~p] = (230, 40, 40)
    err[~g & p] = (50, 90, 240)
    return [gt, pred, Image.fromarray(err, "RGB")]


def _fit_text(draw: ImageDraw.ImageDraw, text: str, font, width: int) -> str:
    if draw.textlength(text, font=font) <= width:
        return text
    while text and draw.textlength("..." + text, font=font) > width:
        text = text[1:]
    return "..." + text


def render_contact_sheet(rows: Sequence[tuple[str, float, Thumbs]], columns: Sequence[str],
                         cell: int) -> Image.Image:
    """rows: (key, iou, thumbs), worst first. Each panel is fitted into a cell x cell square."""
    width, height = contact_sheet_size(len(rows), len(columns), cell)
    sheet = Image.new("RGB", (width, height), (255, 255, 255))
    draw = ImageDraw.Draw(sheet)
    font = ImageFont.load_default()
    for c, title in enumerate(columns):
        x = SHEET_PAD + c * (cell + SHEET_PAD)
        draw.text((x, 2), _fit_text(draw, title, font, cell), fill=(0, 0, 0), font=font)
    for r, (key, iou, thumbs) in enumerate(rows):
        y = SHEET_TITLE_H + r * (SHEET_CAPTION_H + cell + SHEET_PAD)
        caption = _fit_text(draw, f"IoU {iou:.3f}  {key}", font, width - 2 * SHEET_PAD)
        draw.text((SHEET_PAD, y + 1), caption, fill=(160, 0, 0), font=font)
        for c, panel in enumerate(sheet_panels(thumbs)):
            scale = cell / max(panel.size)
            size = (max(1, round(panel.width * scale)), max(1, round(panel.height * scale)))
            panel = panel.resize(size, imaging.RESAMPLE)
            x = SHEET_PAD + c * (cell + SHEET_PAD) + (cell - size[0]) // 2
            sheet.paste(panel, (x, y + SHEET_CAPTION_H + (cell - size[1]) // 2))
    return sheet


# ---------------------------------------------------------------------------------------------
# The report (pure)

def reject(key: str, reason: str, detail: str = "", **paths) -> dict:
    return {"key": key, "reason": reason, "detail": detail, **paths}


def _group_dict(summary: dict, group: str, scorer: str, names) -> dict:
    entry = summary.get(group, {}).get(scorer)
    return {n: entry["means"][n] for n in names} if entry else {}


def build_report(config: Config, summary: dict, rejects: Sequence[dict], context: dict) -> dict:
    """The metrics.json document."""
    names = list(config.metric_names)
    sources = sorted(g for g in summary if g != OVERALL)
    count = summary.get(OVERALL, {}).get(MODEL_SCORER, {}).get("count", 0)

    def scorer_block(scorer):
        return {"overall": _group_dict(summary, OVERALL, scorer, names),
                "per_source": {s: _group_dict(summary, s, scorer, names) for s in sources}}

    def dataset_max_f(scorer):
        if "max_f_measure" not in names:
            return None
        return {"overall": summary.get(OVERALL, {}).get(scorer, {}).get("dataset_max_f"),
                "per_source": {s: summary[s][scorer]["dataset_max_f"] for s in sources}}

    rejected_counts: dict = {}
    for r in rejects:
        rejected_counts[r["reason"]] = rejected_counts.get(r["reason"], 0) + 1
    model_block = scorer_block(MODEL_SCORER)
    report = {
        "mode": config.mode,
        "count": count,
        "resolution": context["resolution"],
        "metrics": names,
        "higher_is_better": {n: HIGHER_IS_BETTER[n] for n in names},
        "overall": model_block["overall"],
        "per_source": model_block["per_source"],
        "per_source_count": {s: summary[s][MODEL_SCORER]["count"] for s in sources},
        "dataset_max_f_measure": dataset_max_f(MODEL_SCORER),
        "baselines": ({b: dict(scorer_block(b), dataset_max_f_measure=dataset_max_f(b))
                       for b in BASELINES} if config.baselines else {}),
        "rejected": [r for r in rejects if r["reason"] not in _FOLDER_LIST_REASONS],
        "rejected_counts": dict(sorted(rejected_counts.items())),
        "files": {"per_image": PER_IMAGE_FILE, "contact_sheet": SHEET_FILE,
                  "rejected": REJECTS_FILE},
        "notes": [
            "means over images; max_f_measure is the mean of per-image maxima, "
            "dataset_max_f_measure the max of the dataset-mean F curve (the papers' maxF)",
            "mae, s_measure, e_measure, weighted_f_measure, max_f_measure follow PySODMetrics "
            "(8-bit, min-max normalised prediction); sad, mse, mad, grad, conn are P3M's "
            "matting metrics on raw alpha (sad, grad, conn grow with resolution)",
            "baselines: all_foreground predicts 1 everywhere; centred_ellipse predicts 1 inside "
            f"a centred ellipse spanning {ELLIPSE_FRACTION:.0%} of the height and width",
        ],
        "options": config.as_dict(),
    }
    report.update(context.get("extra", {}))
    if config.mode == MODE_FOLDERS:
        report["size_mismatches"] = [
            {k: r[k] for k in ("key", "prediction", "ground_truth", "detail")}
            for r in rejects if r["reason"] == "size_mismatch"]
    return report


# Folder-mode reasons that have their own list in metrics.json (and lines in _rejected.jsonl).
_FOLDER_LIST_REASONS = ("missing_prediction", "unmatched_prediction", "size_mismatch",
                        "ignored_prediction", "ignored_ground_truth")


def per_image_csv(rows: Sequence[tuple[str, str, dict]], names: Sequence[str]) -> bytes:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(["key", "source", *names])
    for key, source, values in sorted(rows, key=lambda r: r[0]):
        writer.writerow([key, source, *(repr(float(values[n])) for n in names)])
    return buf.getvalue().encode("utf-8")


def rejects_jsonl(rejects: Sequence[dict]) -> bytes:
    lines = sorted(json.dumps(r, sort_keys=True) for r in rejects)
    return ("".join(line + "\n" for line in lines)).encode("utf-8")


# ---------------------------------------------------------------------------------------------
# Beam: the model

class EvalModelHandler(SavedModelHandler):
    """`pipelines.inference.SavedModelHandler` (the export loaded once per worker, its
    `serve_resized` signature called on batches) over EvalExample elements. When the model's input
    size differs from the stored size, images are resized to it and alphas back."""

    def run_inference(self, batch: Sequence[EvalExample], model: LoadedModel,
                      inference_args: Optional[dict] = None) -> Iterable[PredictionResult]:
        size = model.image_size
        images = np.stack([
            e.image if e.image.shape[0] == size
            else np.asarray(imaging.resize_square(Image.fromarray(e.image), size))
            for e in batch])
        alphas = model.predict(images)
        return [PredictionResult(e, resize_alpha(a, e.image.shape[0]))
                for e, a in zip(batch, alphas)]

    def get_num_bytes(self, batch: Sequence[EvalExample]) -> int:
        return sum(e.image.nbytes + e.mask.nbytes for e in batch)

    def get_metrics_namespace(self) -> str:
        return NAMESPACE


# ---------------------------------------------------------------------------------------------
# Beam: DoFns and composites

def _key_of(record: bytes) -> str:
    """The example's key when it can be read at all, for the reject line."""
    try:
        key = schema.decode_example(record).get(schema.KEY)
        return key.decode("utf-8", "replace") if isinstance(key, bytes) else ""
    except Exception:
        return ""


class _DecodeRecords(beam.DoFn):
    def __init__(self):
        self._rejected = Metrics.counter(NAMESPACE, "rejected")

    def process(self, record: bytes):
        try:
            yield decode_example(record)
        except imaging.ImageError as e:
            self._rejected.inc()
            yield beam.pvalue.TaggedOutput(
                "rejected", reject(_key_of(record), e.reason, e.detail))


class ReadExamples(beam.PTransform):
    """OUT/<split>/*.tfrecord.gz -> EvalExample, plus a 'rejected' output."""

    def __init__(self, data_dir: str, split: str):
        super().__init__()
        self._pattern = schema.shard_pattern(data_dir, split)

    def expand(self, pbegin):
        return (pbegin
                | "ReadShards" >> beam.io.ReadFromTFRecord(
                    self._pattern, compression_type=CompressionTypes.GZIP)
                | "Decode" >> beam.ParDo(_DecodeRecords()).with_outputs(
                    "rejected", main="examples"))


class _ScoreModelOutput(beam.DoFn):
    def __init__(self, names, baselines: bool, cell: int):
        self._names, self._baselines, self._cell = tuple(names), baselines, cell
        self._scored = Metrics.counter(NAMESPACE, "scored")
        self._rejected = Metrics.counter(NAMESPACE, "rejected")

    def process(self, result: PredictionResult):
        example = result.example
        try:
            pred = clean_prediction(result.inference)
            scored = score_prediction(example.key, example.source, pred, example.mask,
                                      self._names, self._baselines, self._cell, example.image)
        except (imaging.ImageError, ValueError) as e:
            self._rejected.inc()
            reason = getattr(e, "reason", "scoring_failed")
            yield beam.pvalue.TaggedOutput("rejected", reject(example.key, reason, str(e)))
            return
        self._scored.inc()
        yield scored


class ScoreModel(beam.PTransform):
    """EvalExample -> Scored (model and baselines at the stored resolution), plus 'rejected'."""

    def __init__(self, handler: EvalModelHandler, config: Config):
        super().__init__()
        self._handler, self._config = handler, config

    def expand(self, examples):
        c = self._config
        return (examples
                | "Predict" >> RunInference(self._handler)
                | "Score" >> beam.ParDo(_ScoreModelOutput(
                    c.metric_names, c.baselines, c.sheet_cell)).with_outputs(
                        "rejected", main="scored"))


class _ScoreFilePair(beam.DoFn):
    """(key, gt_path, pred_path) -> Scored at full resolution, or a reject."""

    def __init__(self, config: Config):
        self._config = config
        self._scored = Metrics.counter(NAMESPACE, "scored")
        self._rejected = Metrics.counter(NAMESPACE, "rejected")

    def process(self, element):
        key, gt_path, pred_path = element
        c = self._config
        paths = {"prediction": pred_path, "ground_truth": gt_path}
        try:
            try:
                gt = np.asarray(imaging.decode_mask(fileio.read_bytes(gt_path), c.gt_encoding))
            except imaging.ImageError as e:
                raise imaging.ImageError(f"gt_{e.reason}", e.detail) from None
            try:
                pred = prediction_alpha(fileio.read_bytes(pred_path), c.pred_encoding)
            except imaging.ImageError as e:
                raise imaging.ImageError(f"prediction_{e.reason}", e.detail) from None
            if pred.shape != gt.shape:
                raise imaging.ImageError(
                    "size_mismatch", f"prediction {pred.shape[1]}x{pred.shape[0]} vs "
                                     f"ground truth {gt.shape[1]}x{gt.shape[0]} (width x height)")
            scored = score_prediction(key, source_of(key), pred / 255.0, gt / 255.0,
                                      c.metric_names, c.baselines, c.sheet_cell)
        except (imaging.ImageError, OSError, ValueError) as e:
            self._rejected.inc()
            reason = getattr(e, "reason", "unreadable" if isinstance(e, OSError)
                             else "scoring_failed")
            detail = getattr(e, "detail", None) or f"{type(e).__name__}: {e}"
            yield beam.pvalue.TaggedOutput("rejected", reject(key, reason, detail, **paths))
            return
        self._scored.inc()
        yield scored


class ScoreFiles(beam.PTransform):
    def __init__(self, config: Config):
        super().__init__()
        self._config = config

    def expand(self, pairs):
        return pairs | "ScorePairs" >> beam.ParDo(_ScoreFilePair(self._config)).with_outputs(
            "rejected", main="scored")


def _worst_entry(scored: Scored) -> tuple:
    return (scored.scores[MODEL_SCORER]["iou"], scored.key, scored.thumbs)


class _WriteReport(beam.DoFn):
    def __init__(self, config: Config, context: dict):
        self._config, self._context = config, context

    def process(self, _, summary, rows, worst, rejects):
        c = self._config
        report = build_report(c, summary, rejects, self._context)
        write = fileio.write_bytes
        write(fileio.join(c.report_dir, PER_IMAGE_FILE),
              per_image_csv(rows, c.metric_names), mime_type="text/csv")
        write(fileio.join(c.report_dir, REJECTS_FILE), rejects_jsonl(rejects),
              mime_type="application/jsonl")
        if worst:
            columns = MODEL_COLUMNS if c.mode == MODE_MODEL else FOLDER_COLUMNS
            rows_shown = [(key, iou, thumbs) for iou, key, thumbs
                          in sorted(worst, key=lambda w: (w[0], w[1]))]
            sheet = render_contact_sheet(rows_shown, columns, c.sheet_cell)
            write(fileio.join(c.report_dir, SHEET_FILE), imaging.encode_png(sheet, "fast"),
                  mime_type="image/png")
            report["contact_sheet_rows"] = [{"key": k, "iou": i} for k, i, _ in rows_shown]
        else:
            report["files"]["contact_sheet"] = None
        # metrics.json last: a report folder without it is an unfinished run.
        write(fileio.join(c.report_dir, METRICS_FILE),
              json.dumps(report, indent=2).encode("utf-8"),
              mime_type="application/json")
        yield report


class WriteReport(beam.PTransform):
    """Scored images and rejects -> R/metrics.json, per_image.csv, contact_sheet.png,
    _rejected.jsonl; emits the metrics.json document."""

    def __init__(self, config: Config, context: dict):
        super().__init__()
        self._config, self._context = config, context

    def expand(self, inputs):
        scored, rejects = inputs
        c = self._config
        summary = scored | "Summarise" >> beam.CombineGlobally(SummaryFn(c.metric_names))
        rows = (scored
                | "Row" >> beam.Map(lambda s: (s.key, s.source, s.scores[MODEL_SCORER]))
                | "Rows" >> beam.combiners.ToList())
        if c.sheet_rows:
            worst = (scored
                     | "WorstEntry" >> beam.Map(_worst_entry)
                     | "Worst" >> beam.combiners.Top.Smallest(
                         c.sheet_rows, key=lambda w: (w[0], w[1])))
        else:
            worst = scored.pipeline | "NoSheet" >> beam.Create([[]])
        return (scored.pipeline
                | "ReportTrigger" >> beam.Create([None])
                | "Write" >> beam.ParDo(
                    _WriteReport(c, self._context), beam.pvalue.AsSingleton(summary),
                    beam.pvalue.AsSingleton(rows), beam.pvalue.AsSingleton(worst),
                    beam.pvalue.AsList(rejects)))


# ---------------------------------------------------------------------------------------------
# Wiring and checks before any work

def check_model_inputs(config: Config) -> dict:
    """Validates the data folder, split and model; returns the report's context."""
    data_dir = config.data_dir
    if not fileio.is_dir(data_dir):
        raise EvaluateError(f"data dir {data_dir} does not exist or is empty "
                            "(run pipelines.preprocess first)")
    manifest_path = fileio.join(data_dir, schema.MANIFEST_FILE)
    if not fileio.exists(manifest_path):
        raise EvaluateError(f"{manifest_path} is missing: {data_dir} is not a finished "
                            "pipelines.preprocess output")
    try:
        manifest = json.loads(fileio.read_bytes(manifest_path))
    except ValueError as e:
        raise EvaluateError(f"{manifest_path} is not valid JSON: {e}") from None
    if manifest.get(schema.VERSION) != schema.SCHEMA_VERSION:
        raise EvaluateError(f"{manifest_path} has schema_version "
                            f"{manifest.get(schema.VERSION)!r}; this code reads "
                            f"{schema.SCHEMA_VERSION}")
    image_size = manifest.get(schema.IMAGE_SIZE)
    pattern = schema.shard_pattern(data_dir, config.split)
    if not fileio.match(pattern):
        raise EvaluateError(f"no shards match {pattern}: the {config.split!r} split is empty "
                            "or the data dir is wrong")
    model = config.model
    for name in ("saved_model.pb", export.METADATA_FILE):
        if not fileio.exists(fileio.join(model, name)):
            raise EvaluateError(f"{model} is not a model export ({name} is missing): give "
                                "MODEL/export as written by model.train / model.export")
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
            raise EvaluateError(f"{flag} {path} does not exist or is empty")
    matching = match_files(_relative_files(config.gt_dir), _relative_files(config.pred_dir))
    if not matching.pairs and not matching.missing_predictions:
        raise EvaluateError(f"no ground-truth masks (image files) under {config.gt_dir}")
    context = {"resolution": "scored at full resolution (each ground-truth mask's own size)",
               "extra": {
                   "gt_dir": config.gt_dir, "pred_dir": config.pred_dir,
                   "missing_predictions": matching.missing_predictions,
                   "unmatched_predictions": matching.unmatched_predictions,
                   "ignored_predictions": matching.ignored_predictions,
                   "ignored_ground_truth": matching.ignored_ground_truth,
                   "skipped_files": matching.skipped_files,
               }}
    return matching, context


def folder_rejects(matching: Matching, config: Config) -> list[dict]:
    """The pairing's findings as _rejected.jsonl lines."""
    out = [reject(_split_ext(g)[0], "missing_prediction", "no prediction with this stem",
                  ground_truth=fileio.join(config.gt_dir, g))
           for g in matching.missing_predictions]
    out += [reject(_split_ext(p)[0], "unmatched_prediction", "no ground truth with this stem",
                   prediction=fileio.join(config.pred_dir, p))
            for p in matching.unmatched_predictions]
    out += [reject(_split_ext(i["used"])[0], "ignored_prediction", f"{i['used']} was scored",
                   prediction=fileio.join(config.pred_dir, i["path"]))
            for i in matching.ignored_predictions]
    out += [reject(_split_ext(i["used"])[0], "ignored_ground_truth", f"{i['used']} was used",
                   ground_truth=fileio.join(config.gt_dir, i["path"]))
            for i in matching.ignored_ground_truth]
    return out


def build(pipeline: beam.Pipeline, config: Config, context: dict,
          matching: Optional[Matching] = None):
    """Adds the job to `pipeline`; returns the PCollection holding the metrics.json document."""
    if config.mode == MODE_MODEL:
        read = pipeline | "Read" >> ReadExamples(config.data_dir, config.split)
        handler = EvalModelHandler(config.model, max_batch_size=config.batch_size,
                                   inference_threads=config.inference_threads)
        scored = read.examples | "Model" >> ScoreModel(handler, config)
        rejects = ((read.rejected, scored.rejected) | "AllRejects" >> beam.Flatten())
    else:
        pairs = [(key, fileio.join(config.gt_dir, g), fileio.join(config.pred_dir, p))
                 for key, g, p in matching.pairs]
        scored = (pipeline
                  | "Pairs" >> beam.Create(pairs)
                  | "Score" >> ScoreFiles(config))
        known = pipeline | "PairingRejects" >> beam.Create(folder_rejects(matching, config),
                                                           reshuffle=False)
        rejects = ((known, scored.rejected) | "AllRejects" >> beam.Flatten())
    return (scored.scored, rejects) | "Report" >> WriteReport(config, context)


def run(argv=None) -> dict:
    """Runs the job; returns the metrics.json document it wrote."""
    options = PipelineOptions(argv)
    config = Config.from_options(job_view(options, EvaluateOptions))
    require_reachable(options, [config.report_dir, config.data_dir, config.model,
                                config.pred_dir, config.gt_dir], EvaluateError)
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
        raise EvaluateError(f"the job ended without writing {metrics_path}")
    report = json.loads(fileio.read_bytes(metrics_path))
    if report["count"] == 0:
        raise EvaluateError(f"nothing was scored (see {config.report_dir}/{METRICS_FILE} and "
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
    return run_job_cli("evaluate", run, EvaluateOptions, (EvaluateError,), summary_line, argv)

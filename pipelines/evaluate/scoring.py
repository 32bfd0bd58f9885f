"""Evaluate's per-image work: decoding a stored example, scoring one prediction (and the
baselines) against its ground truth, and the Beam DoFns and model handler that run those steps.

Model mode: `DecodeRecords` (a shard's record -> `EvalExample`), `EvalModelHandler` (the export's
`serve_resized`, at the model's own input size), `ScoreModelOutput` (prediction -> `Scored`).
Folder mode: `ScoreFilePair` reads a (ground truth, prediction) pair of files and scores it at
full resolution. Every failure is a reject line with a reason (`rejects.record`: `source` the
data folder, prediction or ground-truth folder, `path` the file or the example's key, plus `key`),
never a crash.
"""
from __future__ import annotations

import struct
import zlib
from typing import Iterable, NamedTuple, Optional, Sequence

import apache_beam as beam
import numpy as np
from apache_beam.metrics import Metrics
from apache_beam.ml.inference.base import PredictionResult
from PIL import Image

from model import metrics, schema
from pipelines.core import fileio, imaging, rejects, tfrecord
from pipelines.evaluate.config import MODEL_SCORER, Config
from pipelines.evaluate.contact_sheet import Thumbs, make_thumbs
from pipelines.evaluate.pairing import source_of
from pipelines.serving.confidence import confidence
from pipelines.serving.inference import LoadedModel, SavedModelHandler
from pipelines.serving.refine import apply_refinement

NAMESPACE = "evaluate"


class EvalExample(NamedTuple):
    """One stored example, decoded: the model's input and the ground truth at S x S."""
    key: str
    source: str
    image: np.ndarray          # uint8 [S, S, 3]
    mask: np.ndarray           # float32 [S, S] in [0, 1]


def decode_example(record: bytes) -> EvalExample:
    """A serialized example -> EvalExample. Raises rejects.Rejected with a reason."""
    try:
        features = schema.decode_example(record)
    except (ValueError, IndexError, UnicodeDecodeError, struct.error) as e:
        raise rejects.Rejected("unparseable_example", f"{type(e).__name__}: {e}") from None
    key = features.get(schema.KEY)
    missing = [k for k in (schema.KEY, schema.SOURCE, schema.IMAGE, schema.MASK)
               if not isinstance(features.get(k), bytes)]
    if missing:
        raise rejects.Rejected("incomplete_example", f"missing feature(s) {missing}")
    key = key.decode("utf-8", "replace")
    rgb, _ = _naming("image", imaging.load_rgb, features[schema.IMAGE])
    mask = _naming("mask", imaging.decode_mask, features[schema.MASK], "alpha")
    if mask.size != rgb.size:
        raise rejects.Rejected("mask_size_mismatch",
                                 f"mask {mask.size} vs image {rgb.size}")
    return EvalExample(key=key, source=features[schema.SOURCE].decode("utf-8", "replace"),
                       image=np.asarray(rgb, dtype=np.uint8),
                       mask=np.asarray(mask, dtype=np.float32) / 255.0)


def _naming(what: str, step, *args):
    """step(*args), its reject's detail saying which file (image, mask, ground truth,
    prediction) it was about; the reason stays one of rejects.REASONS."""
    try:
        return step(*args)
    except rejects.Rejected as e:
        raise rejects.Rejected(e.reason, f"{what}: {e.detail}" if e.detail else what) from None


def ground_truth_alpha(data: bytes, encoding: str = "auto") -> np.ndarray:
    """A ground-truth mask file -> uint8 [H, W]. A colour mask (red foreground, say) would be
    read as its luminance and score a perfect prediction near 0, and a mask carried in alpha as
    empty: both are rejected (`gt_not_grayscale`; `imaging.mask_layout_problem`, the rule
    preprocess applies too). Raises Rejected."""
    problem = imaging.mask_layout_problem(imaging.open_image(data))
    if problem:
        raise rejects.Rejected("gt_not_grayscale", problem)
    return np.asarray(imaging.decode_mask(data, encoding), dtype=np.uint8)


class Scored(NamedTuple):
    key: str
    source: str
    scores: dict                  # scorer ('model' or a baseline) -> {metric: value}
    curves: dict                  # scorer -> F curve [256], when max_f_measure is computed
    thumbs: Thumbs
    confidence: Optional[float] = None   # model mode: serving.confidence of the prediction


def clean_prediction(alpha: np.ndarray) -> np.ndarray:
    """A model's alpha as a 2-D float map in [0, 1]; NaN or inf raise rejects.Rejected."""
    alpha = np.asarray(alpha, dtype=np.float32)
    alpha = alpha.reshape(alpha.shape[0], alpha.shape[1])
    if not np.isfinite(alpha).all():
        raise rejects.Rejected("prediction_not_finite", "the model output NaN or inf")
    return np.clip(alpha, 0.0, 1.0)  # a sigmoid may overshoot by rounding only


def score_prediction(key: str, source: str, pred: np.ndarray, gt: np.ndarray,
                     names: Sequence[str], baselines: bool, cell: int,
                     image: Optional[np.ndarray] = None) -> Scored:
    """Scores one prediction (and the baselines, on the same ground truth). Pure."""
    h, w = gt.shape
    predictions = {MODEL_SCORER: pred}
    if baselines:
        predictions.update({b: metrics.baseline_prediction(b, h, w)
                            for b in metrics.BASELINES})
    scores, curves = {}, {}
    for scorer, p in predictions.items():
        scores[scorer] = metrics.score_all(p, gt, names)
        if "max_f_measure" in names:
            curves[scorer] = metrics.f_measure_curve(p, gt)
    return Scored(key, source, scores, curves, make_thumbs(pred, gt, cell, image))


def resize_alpha(alpha: np.ndarray, size: int) -> np.ndarray:
    """A float alpha [s, s] -> [size, size] with the project's resize, kept float."""
    a = np.asarray(alpha, np.float32).reshape(alpha.shape[0], alpha.shape[1])
    if a.shape == (size, size):
        return a
    return np.asarray(Image.fromarray(a, "F").resize((size, size), imaging.RESAMPLE))


def prediction_alpha(data: bytes, encoding: str = "alpha") -> np.ndarray:
    """A prediction file -> uint8 alpha [H, W]: the alpha of an RGBA (or LA, or transparent
    palette) cut-out, else the image read as a mask with `encoding`. A colour image without alpha
    is a cut-out composited onto a background: nothing to score (`no_alpha`). Raises Rejected."""
    img = imaging.open_image(data)
    has_alpha = img.mode in ("RGBA", "LA", "PA", "RGBa", "La") or (
        img.mode in ("P", "L", "RGB") and "transparency" in img.info)
    if has_alpha:
        return np.asarray(img.convert("RGBA").getchannel("A"), dtype=np.uint8)
    if imaging.mask_layout_problem(img):  # no alpha here: its colour channels differ
        raise rejects.Rejected("no_alpha", "a colour image without alpha (a cut-out on a "
                                           "background?): give masks (--output mask)")
    return np.asarray(imaging.decode_mask(data, encoding), dtype=np.uint8)


class EvalModelHandler(SavedModelHandler):
    """`pipelines.serving.inference.SavedModelHandler` (the export loaded once per worker, its
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


def shard_records(path: str, source: str):
    """A gzip TFRecord shard -> its records; a truncated or corrupt shard yields the records
    before the damage and then one `damaged_shard` reject naming the file (Beam's reader would
    stop the job with a hex dump of the bytes)."""
    count = 0
    try:
        for data in tfrecord.read_shard(path):
            count += 1
            yield data
    except (OSError, EOFError, ValueError, zlib.error) as e:
        what = str(e).split(":")[0][:120]  # never the hex dump that follows
        yield beam.pvalue.TaggedOutput("rejected", rejects.record(
            source, path, "damaged_shard",
            f"{type(e).__name__}: {what} (after {count} records)", key=""))


def _key_of(record: bytes) -> str:
    """The example's key when it can be read at all, for the reject line."""
    try:
        key = schema.decode_example(record).get(schema.KEY)
        return key.decode("utf-8", "replace") if isinstance(key, bytes) else ""
    except Exception:
        return ""


class DecodeRecords(beam.DoFn):
    """A shard's record -> EvalExample, or a reject ('rejected' output)."""

    def __init__(self, source: str = ""):
        self._source = source
        self._rejected = Metrics.counter(NAMESPACE, "rejected")

    def process(self, record: bytes):
        try:
            yield decode_example(record)
        except rejects.Rejected as e:
            self._rejected.inc()
            key = _key_of(record)
            yield beam.pvalue.TaggedOutput("rejected", rejects.record(
                self._source, key, e.reason, e.detail, key=key))


class ScoreModelOutput(beam.DoFn):
    """RunInference's PredictionResult -> Scored (model and baselines), or a reject."""

    def __init__(self, names, baselines: bool, cell: int, source: str = ""):
        self._names, self._baselines, self._cell = tuple(names), baselines, cell
        self._source = source
        self._scored = Metrics.counter(NAMESPACE, "scored")
        self._rejected = Metrics.counter(NAMESPACE, "rejected")

    def process(self, result: PredictionResult):
        example = result.example
        try:
            pred = clean_prediction(result.inference)
            scored = score_prediction(example.key, example.source, pred, example.mask,
                                      self._names, self._baselines, self._cell, example.image)
            scored = scored._replace(confidence=confidence(pred))
        except ValueError as e:  # rejects.Rejected, or a metric's own complaint
            self._rejected.inc()
            yield beam.pvalue.TaggedOutput("rejected", rejects.from_exception(
                self._source, example.key, e, "scoring_failed", key=example.key))
            return
        self._scored.inc()
        yield scored


def refine_with_photo(pred: np.ndarray, image_path: Optional[str], mode: str,
                      model_size: int) -> np.ndarray:
    """Folder mode's --refine: the prediction (uint8) refined with its photo as guide."""
    if image_path is None:
        raise rejects.Rejected("missing_image", "no photo with this stem under --image_dir")
    try:
        rgb, _ = imaging.load_rgb(fileio.read_bytes(image_path))
    except rejects.Rejected as e:
        raise rejects.Rejected(e.reason, f"photo {image_path}: {e.detail}") from None
    if (rgb.height, rgb.width) != pred.shape:
        raise rejects.Rejected("size_mismatch", f"photo {rgb.width}x{rgb.height} vs prediction "
                                                  f"{pred.shape[1]}x{pred.shape[0]}")
    return apply_refinement(mode, rgb, pred, model_size)


class ScoreFilePair(beam.DoFn):
    """(key, gt_path, pred_path[, photo path or None]) -> Scored at full resolution (the
    prediction refined with the photo first under --refine guided), or a reject."""

    def __init__(self, config: Config):
        self._config = config
        self._scored = Metrics.counter(NAMESPACE, "scored")
        self._rejected = Metrics.counter(NAMESPACE, "rejected")

    def process(self, element):
        key, gt_path, pred_path, *image = element
        image_path = image[0] if image else None
        c = self._config
        paths = {"prediction": pred_path, "ground_truth": gt_path}
        source, path = c.gt_dir, gt_path  # the file a failure is about
        try:
            # Regular files only, each at most --max_file_bytes (a FIFO would hang the job).
            gt = _naming("ground truth", lambda: ground_truth_alpha(
                fileio.read_bytes(gt_path, c.max_file_bytes), c.gt_encoding))
            source, path = c.pred_dir, pred_path
            pred = _naming("prediction", lambda: prediction_alpha(
                fileio.read_bytes(pred_path, c.max_file_bytes), c.pred_encoding))
            if pred.shape != gt.shape:
                raise rejects.Rejected(
                    "size_mismatch", f"prediction {pred.shape[1]}x{pred.shape[0]} vs "
                                     f"ground truth {gt.shape[1]}x{gt.shape[0]} (width x height)")
            if c.refine != "none":
                pred = refine_with_photo(pred, image_path, c.refine, c.model_input_size)
            scored = score_prediction(key, source_of(key), pred / 255.0, gt / 255.0,
                                      c.metric_names, c.baselines, c.sheet_cell)
        except (OSError, ValueError) as e:  # ValueError: rejects.Rejected, or a metric's
            self._rejected.inc()
            default = "read_failed" if isinstance(e, OSError) else "scoring_failed"
            yield beam.pvalue.TaggedOutput("rejected", rejects.from_exception(
                source, path, e, default, key=key, **paths))
            return
        self._scored.inc()
        yield scored

"""Evaluate's per-image work: decoding a stored example, scoring one prediction (and the
baselines) against its ground truth, and the Beam DoFns and model handler that run those steps.

Model mode: `DecodeRecords` (a shard's record -> `EvalExample`), `EvalModelHandler` (the export's
`serve_resized`, at the model's own input size), `ScoreModelOutput` (prediction -> `Scored`).
Folder mode: `ScoreFilePair` reads a (ground truth, prediction) pair of files and scores it at
full resolution. Every failure is a reject line with a reason (`eval_report.reject`), never a
crash.
"""
from __future__ import annotations

import struct
from typing import TYPE_CHECKING, Iterable, NamedTuple, Optional, Sequence

import apache_beam as beam
import numpy as np
from apache_beam.metrics import Metrics
from apache_beam.ml.inference.base import PredictionResult
from PIL import Image

from model import metrics, schema
from pipelines import fileio, imaging
from pipelines.eval_contact_sheet import Thumbs, make_thumbs
from pipelines.eval_pairing import source_of
from pipelines.eval_report import MODEL_SCORER, reject
from pipelines.confidence import confidence
from pipelines.inference import LoadedModel, SavedModelHandler
from pipelines.refine import apply_refinement

if TYPE_CHECKING:  # only for the annotations: pipelines.evaluate imports this module
    from pipelines.evaluate import Config

NAMESPACE = "evaluate"


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


class Scored(NamedTuple):
    key: str
    source: str
    scores: dict                  # scorer ('model' or a baseline) -> {metric: value}
    curves: dict                  # scorer -> F curve [256], when max_f_measure is computed
    thumbs: Thumbs
    confidence: Optional[float] = None   # model mode: pipelines.confidence of the prediction


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
    palette) cut-out, else the image read as a mask with `encoding`. Raises ImageError."""
    img = imaging.open_image(data)
    has_alpha = img.mode in ("RGBA", "LA", "PA", "RGBa", "La") or (
        img.mode in ("P", "L", "RGB") and "transparency" in img.info)
    if has_alpha:
        return np.asarray(img.convert("RGBA").getchannel("A"), dtype=np.uint8)
    return np.asarray(imaging.decode_mask(data, encoding), dtype=np.uint8)


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



def _key_of(record: bytes) -> str:
    """The example's key when it can be read at all, for the reject line."""
    try:
        key = schema.decode_example(record).get(schema.KEY)
        return key.decode("utf-8", "replace") if isinstance(key, bytes) else ""
    except Exception:
        return ""


class DecodeRecords(beam.DoFn):
    """A shard's record -> EvalExample, or a reject ('rejected' output)."""

    def __init__(self):
        self._rejected = Metrics.counter(NAMESPACE, "rejected")

    def process(self, record: bytes):
        try:
            yield decode_example(record)
        except imaging.ImageError as e:
            self._rejected.inc()
            yield beam.pvalue.TaggedOutput(
                "rejected", reject(_key_of(record), e.reason, e.detail))


class ScoreModelOutput(beam.DoFn):
    """RunInference's PredictionResult -> Scored (model and baselines), or a reject."""

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
            scored = scored._replace(confidence=confidence(pred))
        except (imaging.ImageError, ValueError) as e:
            self._rejected.inc()
            reason = getattr(e, "reason", "scoring_failed")
            yield beam.pvalue.TaggedOutput("rejected", reject(example.key, reason, str(e)))
            return
        self._scored.inc()
        yield scored


def refine_with_photo(pred: np.ndarray, image_path: Optional[str], mode: str,
                      model_size: int) -> np.ndarray:
    """Folder mode's --refine: the prediction (uint8) refined with its photo as guide."""
    if image_path is None:
        raise imaging.ImageError("missing_image", "no photo with this stem under --image_dir")
    try:
        rgb, _ = imaging.load_rgb(fileio.read_bytes(image_path))
    except imaging.ImageError as e:
        raise imaging.ImageError(f"image_{e.reason}", e.detail) from None
    if (rgb.height, rgb.width) != pred.shape:
        raise imaging.ImageError("size_mismatch", f"photo {rgb.width}x{rgb.height} vs prediction "
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
            if c.refine != "none":
                pred = refine_with_photo(pred, image_path, c.refine, c.model_input_size)
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

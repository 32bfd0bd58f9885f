"""The per-image steps of background removal, and the ModelHandler that brings the model to Beam.

Shared by the Beam job (`pipelines/remove_background/job.py`) and the one-image tool
(`pipelines/serving/cutout.py`), so both give the same bytes for the same input:

1. `prepare_image(data, S)`: encoded bytes -> uint8 [S, S, 3], the model's input (PIL decode with
   EXIF orientation, CMYK/16-bit/palette handling, decompression-bomb limit; a JPEG is decoded
   with `draft` at a reduced scale that is still at least S on both sides, then stretched to S with
   the project's one resize, `imaging.resize_square`).
2. `LoadedModel.predict(batch)`: the export's `serve_resized` signature, uint8 [N, S, S, 3] ->
   float alpha [N, S, S, 1].
3. `render_outputs(data, alpha_small, kinds)`: decodes the image again at full size, upsamples the
   alpha to it and refines it with the photo as guide (`--refine guided`, `refine.py`;
   `full_size_alpha`), keeps the input's own transparency, composes the cut-out (optionally onto
   a background colour) and/or the mask, and encodes PNGs (`encode_outputs`).
4. `confidence.confidence(alpha_small)`: the score in [0, 1] that the index records
   (`pipelines/serving/confidence.py`), from the model's own S x S output.

Memory: what travels from step 1 to step 3 (through batching and RunInference) is the encoded
bytes plus the small S x S array, never the decoded full-size picture: a 1080x1440 JPEG is ~0.3 MB
encoded, 4.7 MB decoded, and a 24 MP photo 72 MB decoded. Carrying the bytes (rather than the URI
and reading again) costs the compressed size only and saves a second read of every object.
Step 3 decodes in full once; step 1's draft decode is the cheap kind (bench/remove_background.py
measures both).

Output names are `outputs.py`'s; which are refused under DEST, `remove_background/output_plan.py`'s.
"""
from __future__ import annotations

import logging
import os
import shutil
import tempfile
from typing import Any, Iterable, NamedTuple, Optional, Sequence

import numpy as np
from apache_beam.ml.inference.base import ModelHandler, PredictionResult
from PIL import Image

from model import export
from pipelines.core import fileio, imaging
from pipelines.core.rejects import record
from pipelines.serving import refine
from pipelines.serving.refine import DEFAULT_REFINE

_log = logging.getLogger(__name__)


# ---------------------------------------------------------------------------------------------
# The model.

def configure_threads(threads: int) -> None:
    """Caps TensorFlow's CPU thread pools (0: TensorFlow's default, all cores). With one worker
    process per core (Dataflow CPU workers, the local runner in multi_processing mode) 1 avoids
    oversubscribing the cores. Only possible before TensorFlow starts its runtime in this process;
    later calls are ignored with a log line."""
    if not threads:
        return
    import tensorflow as tf

    try:
        tf.config.threading.set_intra_op_parallelism_threads(threads)
        tf.config.threading.set_inter_op_parallelism_threads(threads)
    except RuntimeError:
        _log.info("TensorFlow already initialised here; thread counts left as they are")


def stage_model(model_uri: str) -> tuple[str, Optional[str]]:
    """(local folder holding the export, temporary folder to delete afterwards or None).

    tf.saved_model.load reads local paths or real GCS through tf.io.gfile, which can't be pointed
    at an emulator or other GCS-compatible endpoints; Beam's FileSystems can, so a gs:// export is
    copied to a local temporary folder first.
    """
    if not fileio.is_gcs(model_uri):
        return model_uri, None
    root = model_uri.rstrip("/")
    tmp = tempfile.mkdtemp(prefix="cutout-model-")
    files = fileio.list_files(root)
    if not files:
        shutil.rmtree(tmp, ignore_errors=True)
        raise FileNotFoundError(f"no model files under {model_uri}")
    for path, _ in files:
        rel = fileio.relative_to(path, root)
        local = os.path.join(tmp, *rel.split("/"))
        os.makedirs(os.path.dirname(local), exist_ok=True)
        with open(local, "wb") as f:
            f.write(fileio.read_bytes(path))
    return tmp, tmp


class LoadedModel:
    """The export's `serve_resized` signature, loaded once: uint8 [N, S, S, 3] -> float
    [N, S, S, 1]."""

    def __init__(self, loaded, signature, image_size: int):
        self._loaded = loaded  # keeps the variables alive
        self._signature = signature
        self.image_size = image_size

    @property
    def signature_names(self) -> tuple:
        return tuple(self._loaded.signatures.keys())

    def predict(self, images: np.ndarray) -> np.ndarray:
        """Each image through the model on its own: a photo's alpha must not depend on the batch
        it lands in (a kernel may pick another algorithm, or another order of float sums, for
        another batch size, and a re-run after an interruption batches differently). On CPU a
        batch was no faster per image than one image (README, "Same bytes in any batch")."""
        import tensorflow as tf

        images = np.asarray(images, dtype=np.uint8)
        if len(images) <= 1:
            return self._signature(images=tf.constant(images))["alpha"].numpy()
        return np.concatenate([self._signature(images=tf.constant(images[i:i + 1]))["alpha"]
                               .numpy() for i in range(len(images))])


def load_saved_model(model_uri: str, threads: int = 0) -> LoadedModel:
    """Loads MODEL/export (local or gs://) with tf.saved_model.load: no Keras involved."""
    import tensorflow as tf

    configure_threads(threads)
    local, tmp = stage_model(model_uri)
    try:
        loaded = tf.saved_model.load(local)  # variables are read in full here
    finally:
        if tmp:
            shutil.rmtree(tmp, ignore_errors=True)
    signature = loaded.signatures[export.RESIZED_SIGNATURE]
    size = int(signature.structured_input_signature[1]["images"].shape[1])
    model = LoadedModel(loaded, signature, size)
    # One call now: TensorFlow optimises the restored graph on its first call, which belongs to
    # loading, not to the first batch.
    model.predict(np.zeros((1, size, size, 3), np.uint8))
    return model


class Prepared(NamedTuple):
    """One image on its way through RunInference: its URI (the key), the outputs still to write
    as (kind, relative name) pairs, its encoded bytes, and the model's input."""
    uri: str
    outputs: tuple
    data: bytes
    small: np.ndarray


class SavedModelHandler(ModelHandler[Prepared, PredictionResult, LoadedModel]):
    """Beam's way to our SavedModel: loaded once per worker process (Beam's `Shared` handle),
    batched by `beam.BatchElements` up to `max_batch_size`, elements carried whole so each alpha
    finds its image again (`PredictionResult.example` is the `Prepared` element).

    `large_model=True` shares one copy between the worker processes of a machine instead: for a
    GPU or a model too big to hold once per core. On CPU the default (one copy per process) is
    faster: a shared copy serialises inference through one process and pickles every batch.
    """

    def __init__(self, model_uri: str, max_batch_size: int = 16, inference_threads: int = 0,
                 large_model: bool = False):
        if max_batch_size < 1:
            raise ValueError("max_batch_size must be at least 1")
        # min = max: steady batches of that size (the last one of a bundle may be smaller).
        super().__init__(min_batch_size=max_batch_size, max_batch_size=max_batch_size,
                         large_model=large_model)
        self._model_uri = model_uri
        self._threads = inference_threads

    def load_model(self) -> LoadedModel:
        return load_saved_model(self._model_uri, self._threads)

    def run_inference(self, batch: Sequence[Prepared], model: LoadedModel,
                      inference_args: Optional[dict[str, Any]] = None
                      ) -> Iterable[PredictionResult]:
        alphas = model.predict(np.stack([p.small for p in batch]))
        return [PredictionResult(p, alpha) for p, alpha in zip(batch, alphas)]

    def get_num_bytes(self, batch: Sequence[Prepared]) -> int:
        # The default pickles the whole batch just to measure it.
        return sum(len(p.data) + p.small.nbytes for p in batch)

    def get_metrics_namespace(self) -> str:
        return "remove_background"


# ---------------------------------------------------------------------------------------------
# The image steps.

def failed_batch_rejects(failed, source: str):
    """A batch the model failed on (RunInference's dead letter: (batch, (type, repr, traceback)))
    -> an `inference_failed` reject per element, so one bad batch costs its elements, not the
    job. An element names itself by its `uri` (remove_background's `Prepared`) or its `key`
    (evaluate's examples, whose records also carry `key`)."""
    batch, (_, exc_repr, _) = failed
    for element in batch:
        key = getattr(element, "key", None)
        extra = {} if key is None else {"key": key}
        yield record(source, getattr(element, "uri", key), "inference_failed", exc_repr, **extra)


def prepare_image(data: bytes, image_size: int,
                  max_pixels: Optional[int] = imaging.DEFAULT_MAX_PIXELS) -> np.ndarray:
    """Encoded image -> the model's input, uint8 [S, S, 3]. Raises Rejected."""
    rgb, _ = imaging.load_rgb(data, max_pixels=max_pixels, draft_size=image_size)
    return np.asarray(imaging.resize_square(rgb, image_size), dtype=np.uint8)


def combine_alpha(alpha: np.ndarray, own_alpha: Optional[Image.Image]) -> np.ndarray:
    """The predicted alpha (uint8 H x W) times the input's own transparency, if any."""
    if own_alpha is None:
        return alpha
    a = alpha.astype(np.uint16) * np.asarray(own_alpha, dtype=np.uint16)
    return ((a + 127) // 255).astype(np.uint8)


def full_size_alpha(data: bytes, alpha_small: np.ndarray, refine_mode: str = DEFAULT_REFINE,
                    max_pixels: Optional[int] = imaging.DEFAULT_MAX_PIXELS
                    ) -> tuple[Image.Image, Optional[Image.Image], np.ndarray]:
    """(the photo in RGB at full size, its own alpha or None, the predicted alpha upsampled to
    it and refined with `refine_mode` (`pipelines.serving.refine`), uint8). Raises Rejected."""
    rgb, own_alpha = imaging.load_rgb(data, max_pixels=max_pixels)
    alpha = imaging.upsample_alpha(alpha_small, rgb.width, rgb.height)
    alpha = refine.apply_refinement(refine_mode, rgb, alpha, int(alpha_small.shape[0]))
    return rgb, own_alpha, alpha


def encode_outputs(rgb: Image.Image, own_alpha: Optional[Image.Image], alpha: np.ndarray,
                   kinds: Iterable[str], background: Optional[tuple[int, int, int]] = None,
                   png_compression: str = "rle") -> dict[str, bytes]:
    """{kind: PNG bytes} for kinds 'cutout' (RGBA, or RGB on `background`) and 'mask' (single
    channel: exactly the cut-out's alpha, the input's own transparency included)."""
    kinds = set(kinds)
    alpha = combine_alpha(alpha, own_alpha)
    out = {}
    if "cutout" in kinds:
        cut = imaging.compose_cutout(rgb, alpha, None, background)
        out["cutout"] = imaging.encode_png(cut, png_compression)
    if "mask" in kinds:
        out["mask"] = imaging.encode_png(Image.fromarray(alpha, "L"), png_compression)
    return out


def render_outputs(data: bytes, alpha_small: np.ndarray, kinds: Iterable[str],
                   background: Optional[tuple[int, int, int]] = None,
                   png_compression: str = "rle",
                   max_pixels: Optional[int] = imaging.DEFAULT_MAX_PIXELS,
                   refine_mode: str = DEFAULT_REFINE) -> dict[str, bytes]:
    """{kind: PNG bytes}: `full_size_alpha` then `encode_outputs`. Raises Rejected."""
    rgb, own_alpha, alpha = full_size_alpha(data, alpha_small, refine_mode, max_pixels)
    return encode_outputs(rgb, own_alpha, alpha, kinds, background, png_compression)

"""The fast CPU runtime: MODEL/export/openvino/ (model/openvino_export.py) run by OpenVINO.

`load_openvino_model(MODEL/export)` gives an object with the same face as the SavedModel's
`inference.LoadedModel`: `.image_size` and `.predict(uint8 [N, S, S, 3]) -> float32
[N, S, S, 1]`, so the ModelHandler, `cutout one` and evaluate take either (`--runtime`).

- Before anything loads, the artefact's files are checked against the sizes and SHA-256 in
  cutout_export.json (one JobError line: the driver checks at start-up through
  `model_files.check_export`, the workers again when they load).
- Files are read with Beam's FileSystems into memory and handed to OpenVINO as bytes: a gs://
  export needs no local copy.
- Precision: float32 (`--runtime openvino`, the default): the SavedModel's masks (IoU 1.0 at
  0.5, alpha within 2e-6), 1.16x faster than TensorFlow here for the U-Net16, 1.38x for
  efficientnet_lite0_unet; both are near the core's float32 peak (the U-Net16 at 256 px is 6.1
  GFLOPs: ~95 GFLOP/s; 82% of efficientnet_lite0_unet's time is AVX-512 brgemm convolutions), so
  no float32 runtime can do much better. bfloat16 (`--runtime openvino_bf16`): 2.1-2.4x faster
  than float32 on CPUs that compute it natively (AVX512_BF16 or AMX; elsewhere it runs float32),
  but the masks move: IoU 0.984-0.995 against the SavedModel's at 0.5 on the README's models and
  photos (a pixel's alpha by up to 0.04-0.27 where the model is unsure), under the 0.995 the
  fast runtime must keep, so it is a choice a user makes, never the default.
- Threads: one compiled model per process (Beam's Shared handle), one inference request per
  calling thread (a request is not thread-safe, the compiled model is), `threads` cores each
  (0: OpenVINO's default, all of them; 1 with one worker process per core).
- Static shape: the model is compiled for one image, [1, S, S, 3] (the artefact says [?, S, S, 3]),
  since `predict` runs every image on its own anyway: the CPU plugin's kernels for a fixed shape
  are ~9% faster here than its dynamic-batch ones (28.4 vs 31.2 ms a 256 px image on one core,
  efficientnet_lite0_unet), with the same output to the bit.
- Warm-up: one single-image call at load, so the first real batch does not pay the compilation
  of the kernels' first run.
GPU workers keep `--runtime savedmodel`: this runtime compiles for the CPU only.
"""
from __future__ import annotations

import threading

import numpy as np

from model import export, openvino_export
from pipelines.core import fileio

PRECISIONS = ("f32", "bf16")


def _precision(core, precision: str) -> str:
    """The precision the CPU will run: bf16 only where it computes it natively."""
    if precision not in PRECISIONS:
        raise ValueError(f"unknown precision {precision!r}; one of {PRECISIONS}")
    if precision == "bf16" and "BF16" not in core.get_property("CPU",
                                                               "OPTIMIZATION_CAPABILITIES"):
        return "f32"
    return precision


class OpenVinoModel:
    """The compiled model: uint8 [N, S, S, 3] -> float32 [N, S, S, 1], from any thread."""

    def __init__(self, compiled, image_size: int, precision: str):
        self._compiled = compiled
        self._local = threading.local()
        self.image_size = image_size
        self.precision = precision

    def predict(self, images: np.ndarray) -> np.ndarray:
        """Each image through the model on its own, as the SavedModel's `LoadedModel.predict`:
        a photo's alpha must not depend on the batch it lands in (the CPU plugin may pick other
        kernels for another batch size, and a re-run after an interruption batches differently)."""
        request = getattr(self._local, "request", None)
        if request is None:
            request = self._local.request = self._compiled.create_infer_request()
        images = np.ascontiguousarray(images, dtype=np.uint8)
        # A copy each: the request's output buffer is reused by its next call.
        return np.concatenate([np.array(request.infer({0: images[i:i + 1]})[0], dtype=np.float32)
                               for i in range(len(images))]) if len(images) else \
            np.zeros((0, self.image_size, self.image_size, 1), np.float32)


def load_openvino_model(model_uri: str, threads: int = 0,
                        precision: str = "f32") -> OpenVinoModel:
    """Checks and loads MODEL/export/openvino (local or gs://) for the CPU."""
    ov = openvino_export.import_openvino()
    metadata = export.read_metadata(model_uri, fileio.read_bytes)
    openvino_export.check_artefact(model_uri, metadata, fileio.read_bytes)
    folder = fileio.join(model_uri, openvino_export.OPENVINO_SUBDIR)
    xml, weights = (fileio.read_bytes(fileio.join(folder, name))
                    for name in openvino_export.OPENVINO_FILES)
    core = ov.Core()
    chosen = _precision(core, precision)
    config = {"INFERENCE_PRECISION_HINT": chosen, "PERFORMANCE_HINT": "LATENCY",
              "NUM_STREAMS": 1}
    if threads:
        config["INFERENCE_NUM_THREADS"] = int(threads)
    network = core.read_model(xml.decode("utf-8"), ov.Tensor(np.frombuffer(weights, np.uint8)))
    size = int(metadata["image_size"])
    network.reshape([1, size, size, 3])
    model = OpenVinoModel(core.compile_model(network, "CPU", config), size, chosen)
    model.predict(np.zeros((1, size, size, 3), np.uint8))
    return model

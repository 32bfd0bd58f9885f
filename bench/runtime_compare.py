"""The model runtimes side by side on the bench photos (bench/remove_background.py calls these):
each runtime's CPU ms per photo for a model, and how far the fast runtime's masks are from the
SavedModel's.

Both run in this process on one thread (TensorFlow's pools are set to 1 before it starts, the
OpenVINO model is compiled for 1), over the same model inputs (the photos draft-decoded and
stretched to S, as the pipeline does), in batches of the pipeline's size.
"""
from __future__ import annotations

import time

import numpy as np

RUNTIMES = ("savedmodel", "openvino", "openvino_bf16")
REFERENCE = "savedmodel"


def model_inputs(photos: list[str], image_size: int) -> list[np.ndarray]:
    from pipelines.serving import inference

    inputs = []
    for path in photos:
        with open(path, "rb") as f:
            inputs.append(inference.prepare_image(f.read(), image_size))
    return inputs


def model_ms(model, inputs: list[np.ndarray], batch: int, repeats: int) -> float:
    """CPU ms per photo of `model.predict` over `inputs` in batches, best of `repeats`."""
    best = float("inf")
    for _ in range(repeats):
        start = time.process_time()
        for i in range(0, len(inputs), batch):
            model.predict(np.stack(inputs[i:i + batch]))
        best = min(best, time.process_time() - start)
    return 1000 * best / len(inputs)


def load(model_dir: str, runtime: str):
    from pipelines.serving import inference

    return inference.load_model(model_dir, runtime, threads=1)


def runtime_ms(model_dir: str, inputs: list[np.ndarray], batch: int, repeats: int) -> dict:
    """{runtime: CPU ms per photo} for one export."""
    return {runtime: model_ms(load(model_dir, runtime), inputs, batch, repeats)
            for runtime in RUNTIMES}


def iou(a: np.ndarray, b: np.ndarray) -> float:
    """IoU of two masks thresholded at 0.5 (uint8 alpha: >= 128); 1.0 when both are empty."""
    fa, fb = a >= 128, b >= 128
    union = np.logical_or(fa, fb).sum()
    return 1.0 if union == 0 else float(np.logical_and(fa, fb).sum() / union)


def mask_agreement(model_dir: str, photos: list[str], image_size: int, batch: int) -> dict:
    """{runtime: agreement} for each runtime but the SavedModel: its full-size masks (upsampled
    and refined, as written) against the SavedModel's, for a trained model: IoU per photo at
    0.5 (mean, min), the mean absolute alpha difference (0..255), the share of pixels on the
    other side of 0.5, and the largest difference of the model's own S x S output (0..1)."""
    from pipelines.serving import inference

    inputs = model_inputs(photos, image_size)
    smalls = {}
    for runtime in RUNTIMES:
        model = load(model_dir, runtime)
        smalls[runtime] = np.concatenate([model.predict(np.stack(inputs[i:i + batch]))
                                          for i in range(0, len(inputs), batch)])
    datas = []
    for path in photos:
        with open(path, "rb") as f:
            datas.append(f.read())
    reference = [inference.full_size_alpha(data, small)[2]
                 for data, small in zip(datas, smalls[REFERENCE])]
    result = {}
    for runtime in RUNTIMES[1:]:
        ious, diffs, flips = [], [], []
        for data, ref, small in zip(datas, reference, smalls[runtime]):
            _, _, alpha = inference.full_size_alpha(data, small)
            ious.append(iou(ref, alpha))
            diffs.append(np.abs(ref.astype(np.int16) - alpha.astype(np.int16)).mean())
            flips.append(np.mean((ref >= 128) != (alpha >= 128)))
        result[runtime] = {
            "iou_mean": float(np.mean(ious)), "iou_min": float(np.min(ious)),
            "alpha_mad": float(np.mean(diffs)), "flipped_share": float(np.mean(flips)),
            "small_max_diff": float(np.abs(smalls[runtime] - smalls[REFERENCE]).max())}
    return result

"""What flip test-time augmentation buys: IoU gained against time paid per photo.

    python bench/tta.py --model_dir MODEL --images DIR --masks DIR [--limit 48] [--threads 2]

Exports MODEL's exported weights (its best checkpoint, as `model.train` exports them) twice into
a temporary folder, with `tta="none"` and `tta="flip"`, then serves every photo of DIR through
each export's `serving_default` signature (bytes in, alpha at the photo's own size out: what
`pipelines.remove_background` runs) one photo at a time, and scores the alpha against the mask
of the same stem in --masks (`model.metrics.iou`: both thresholded at 0.5, full resolution).
Prints, for each mode, mean IoU, p10 IoU and seconds per photo (model + decode + resize; the
first photo, which traces, is not timed), then the difference.

Measured on the photo proxy (48 held-out photos, U-Net16 trained at 256 px, 2 shared cores):
see model/export.py's docstring and the project README.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")


def load_serving_model(model_dir: str):
    """The float32 Keras model `model.train` exported: config.json's architecture and the
    checkpoint it names (best, else last)."""
    from model import architectures, checkpoints, train_config

    with open(os.path.join(model_dir, checkpoints.CONFIG_FILE)) as f:
        config = json.load(f)
    model = architectures.build_model(train_config.exported_model_config(config))
    checkpoints_dir = os.path.join(model_dir, checkpoints.CHECKPOINT_DIR)
    chosen = checkpoints.choose_exported_weights(
        checkpoints_dir, checkpoints.read_metrics(os.path.join(model_dir,
                                                               checkpoints.METRICS_FILE)))
    model.load_weights(chosen.path or os.path.join(checkpoints_dir, checkpoints.LAST_WEIGHTS))
    return model, config


def pairs(images_dir: str, masks_dir: str, limit: int) -> list[tuple[str, str]]:
    masks = {os.path.splitext(n)[0]: os.path.join(masks_dir, n) for n in os.listdir(masks_dir)}
    found = [(os.path.join(images_dir, n), masks[os.path.splitext(n)[0]])
             for n in sorted(os.listdir(images_dir))
             if n.lower().endswith(IMAGE_SUFFIXES) and os.path.splitext(n)[0] in masks]
    return found[:limit] if limit else found


def score_export(export_dir: str, photos: list[tuple[str, str]]) -> dict:
    import numpy as np
    import tensorflow as tf
    from PIL import Image

    from model import export, metrics

    _, serve_bytes, _ = export.load_export(export_dir)
    ious, seconds = [], []
    for i, (image_path, mask_path) in enumerate(photos):
        with open(image_path, "rb") as f:
            data = f.read()
        t0 = time.perf_counter()
        alpha = serve_bytes(image_bytes=tf.constant([data]))["alpha"].numpy()[0, ..., 0]
        if i:                                              # the first call traces
            seconds.append(time.perf_counter() - t0)
        gt = np.asarray(Image.open(mask_path).convert("L"), np.float32) / 255.0
        ious.append(metrics.iou(np.clip(alpha[:gt.shape[0], :gt.shape[1]], 0, 1), gt))
    return {"photos": len(ious), "mean_iou": float(np.mean(ious)),
            "p10_iou": float(np.percentile(ious, 10)),
            "seconds_per_photo": float(np.mean(seconds)) if seconds else float("nan")}


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--model_dir", required=True, help="a model.train MODEL folder")
    p.add_argument("--images", required=True, help="folder of photos")
    p.add_argument("--masks", required=True, help="folder of masks, same stems")
    p.add_argument("--limit", type=int, default=0, help="first N photos only (0: all)")
    p.add_argument("--threads", type=int, default=0, help="TF threads (0: TF's choice)")
    args = p.parse_args(argv)
    sys.path.insert(0, REPO)
    import tensorflow as tf

    if args.threads:
        tf.config.threading.set_intra_op_parallelism_threads(args.threads)
        tf.config.threading.set_inter_op_parallelism_threads(args.threads)
    from model import export

    model, config = load_serving_model(args.model_dir)
    runtime = config["runtime"]
    photos = pairs(args.images, args.masks, args.limit)
    tmp = tempfile.mkdtemp(prefix="cutout-tta-")
    results = {}
    try:
        for tta in export.TTA_MODES:
            export_dir = export.export_model(model, os.path.join(tmp, tta), config["image_size"],
                                             runtime["mean"], runtime["std"], tta=tta)
            results[tta] = score_export(export_dir, photos)
            print(f"tta={tta:5s} {json.dumps(results[tta])}", flush=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    none, flip = results["none"], results["flip"]
    print(f"flip - none: mean IoU {flip['mean_iou'] - none['mean_iou']:+.4f}, "
          f"p10 {flip['p10_iou'] - none['p10_iou']:+.4f}, "
          f"{flip['seconds_per_photo'] - none['seconds_per_photo']:+.3f} s per photo "
          f"(x{flip['seconds_per_photo'] / none['seconds_per_photo']:.2f})")


if __name__ == "__main__":
    main()

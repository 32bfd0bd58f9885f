"""The one way to make a servable model: `export_model` writes MODEL/export/ as a SavedModel.

Signatures (a contract: the Beam jobs and any serving system call them by these names):
- `serving_default`: `image_bytes` string [N] (JPEG or PNG) -> `alpha` float32 [N, H, W, 1] in
  [0, 1], each image's alpha at its own size, zero-padded to the largest in the batch, plus
  `height` and `width` int32 [N] to crop each one. Decoding, resizing and normalisation inside.
  TensorFlow's decoder ignores EXIF orientation: send upright images (the Beam jobs use PIL).
- `serve_resized`: `images` uint8 [N, S, S, 3] -> `alpha` float32 [N, S, S, 1]; S is fixed in
  the signature and written to `cutout_export.json` beside it.
`tta="flip"` (test-time augmentation) makes both signatures average the model's prediction with
the mirror of its prediction for the mirrored image: twice the model's cost per photo
(bench/tta.py on the photo proxy, 48 photos at full resolution, two models: +0.018 to +0.022
mean IoU and +0.019 to +0.049 p10 for x1.4 to x1.7 the time per photo, +0.05 to +0.11 s on 2
cores; `model.train` exports with it by default). The normalisation constants
of the tf.Transform analysis are baked in, so the export needs nothing else from the data or
model folders. A plain `tf.saved_model.save` of a `tf.Module` keeps
it loadable without Keras (the Keras 2/3 trap: the README's "What the code relies on").
"""
from __future__ import annotations

import json
import os

import numpy as np

SERVING_SIGNATURE = "serving_default"
RESIZED_SIGNATURE = "serve_resized"
METADATA_FILE = "cutout_export.json"
EXPORT_SUBDIR = "export"
CHECKSUMS_KEY = "sha256"   # cutout_export.json: {file relative to the export: its sha256}


def _module_class():
    import tensorflow as tf

    class CutoutModule(tf.Module):
        def __init__(self, keras_model, image_size: int, mean, std, tta: str = "none"):
            super().__init__()
            self.model = keras_model
            self.tta = tta
            self.image_size = image_size
            self.mean = tf.Variable(np.asarray(mean, np.float32).reshape(1, 1, 1, 3),
                                    trainable=False, name="pixel_mean")
            self.std = tf.Variable(np.asarray(std, np.float32).reshape(1, 1, 1, 3),
                                   trainable=False, name="pixel_std")
            size = image_size

            @tf.function(input_signature=[tf.TensorSpec([None, size, size, 3], tf.uint8,
                                                        name="images")])
            def serve_resized(images):
                return {"alpha": self._predict(tf.cast(images, tf.float32))}

            @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="image_bytes")])
            def serve_bytes(image_bytes):
                def decode(data):
                    img = tf.io.decode_image(data, channels=3, expand_animations=False)
                    shape = tf.shape(img)
                    small = tf.image.resize(tf.cast(img, tf.float32), [size, size],
                                            method="bilinear", antialias=True)
                    return small, shape[0], shape[1]

                small, heights, widths = tf.map_fn(
                    decode, image_bytes,
                    fn_output_signature=(tf.TensorSpec([size, size, 3], tf.float32),
                                         tf.int32, tf.int32))
                alpha_small = self._predict(tf.clip_by_value(small, 0.0, 255.0))
                max_h, max_w = tf.reduce_max(heights), tf.reduce_max(widths)

                def restore(args):
                    a, h, w = args
                    full = tf.image.resize(a, tf.stack([h, w]), method="bilinear")
                    return tf.pad(full, [[0, max_h - h], [0, max_w - w], [0, 0]])

                alpha = tf.map_fn(restore, (alpha_small, heights, widths),
                                  fn_output_signature=tf.TensorSpec([None, None, 1], tf.float32))
                return {"alpha": tf.clip_by_value(alpha, 0.0, 1.0),
                        "height": heights, "width": widths}

            self.serve_resized = serve_resized
            self.serve_bytes = serve_bytes

        def _predict(self, images_float):
            x = (images_float - self.mean) / self.std
            prob = tf.cast(self.model(x, training=False), tf.float32)
            if self.tta == "flip":
                mirrored = tf.cast(self.model(tf.reverse(x, axis=[2]), training=False),
                                   tf.float32)
                prob = (prob + tf.reverse(mirrored, axis=[2])) / 2.0
            return prob

    return CutoutModule


TTA_MODES = ("none", "flip")


def export_model(keras_model, export_dir: str, image_size: int, mean, std,
                 extra_metadata: dict | None = None, tta: str = "none") -> str:
    """Writes the SavedModel with both signatures. The Keras model must output a probability in
    [0, 1] with shape [N, S, S, 1] (a sigmoid head). `tta`: "none" or "flip" (module doc)."""
    import tensorflow as tf

    if tta not in TTA_MODES:
        raise ValueError(f"unknown tta {tta!r}; one of {TTA_MODES}")
    module = _module_class()(keras_model, int(image_size), mean, std, tta)
    tf.saved_model.save(module, export_dir, signatures={
        SERVING_SIGNATURE: module.serve_bytes,
        RESIZED_SIGNATURE: module.serve_resized,
    })
    metadata = {"image_size": int(image_size),
                "mean": [float(v) for v in np.asarray(mean).ravel()],
                "std": [float(v) for v in np.asarray(std).ravel()],
                "signatures": [SERVING_SIGNATURE, RESIZED_SIGNATURE], "tta": tta,
                CHECKSUMS_KEY: file_checksums(export_dir)}
    metadata.update(extra_metadata or {})
    with tf.io.gfile.GFile(os.path.join(export_dir, METADATA_FILE), "w") as f:
        f.write(json.dumps(metadata, indent=2, sort_keys=True))
    return export_dir


def file_checksums(export_dir: str) -> dict:
    """{path relative to the export: sha256} of the SavedModel's files (`saved_model.pb`,
    `variables/*`), recorded in the metadata so a damaged, truncated or swapped file is found
    before any work, without loading TensorFlow's graph (pipelines/model_proof.py)."""
    import hashlib

    import tensorflow as tf

    sums = {}
    for folder, _, names in tf.io.gfile.walk(export_dir):
        for name in names:
            path = os.path.join(folder, name)
            rel = os.path.relpath(path, export_dir).replace(os.sep, "/")
            if rel == METADATA_FILE or not (rel == "saved_model.pb"
                                            or rel.startswith("variables/")):
                continue
            with tf.io.gfile.GFile(path, "rb") as f:
                sums[rel] = hashlib.sha256(f.read()).hexdigest()
    return dict(sorted(sums.items()))


def read_metadata(export_dir: str, read_bytes=None) -> dict:
    """The export's metadata (image size, normalisation). `read_bytes(path) -> bytes` reads it;
    the pipelines pass their own (Beam's FileSystems, so a gs:// export works wherever they run,
    emulator included); the default is tf.io.gfile, which keeps Beam out of `model/`."""
    path = export_dir.rstrip("/") + "/" + METADATA_FILE
    if read_bytes is None:
        import tensorflow as tf

        with tf.io.gfile.GFile(path, "rb") as f:
            data = f.read()
    else:
        data = read_bytes(path)
    return json.loads(data.decode("utf-8"))


def load_export(export_dir: str):
    """Loads a local SavedModel export; returns (loaded object, its two signature functions)."""
    import tensorflow as tf

    loaded = tf.saved_model.load(export_dir)
    return loaded, loaded.signatures[SERVING_SIGNATURE], loaded.signatures[RESIZED_SIGNATURE]

"""The tf.Transform analysis: per-channel pixel mean and standard deviation of the training split.

The Beam preprocessing job computes each training image's per-channel mean of x and of x^2
(pixels 0..255) and feeds those small vectors to `preprocessing_fn`; tf.Transform reduces them
in float64 (float32 drifts from run to run) to the dataset's exact pixel mean and variance (all
images share one size, so the mean of per-image means is the pixel mean). The result lives in
`OUT/transform/` as tf.Transform writes it; `load_normalization` reads the constants back, and
training and the exported model both bake them in, so the two can't drift apart.
"""
from __future__ import annotations

import numpy as np

from model.errors import JobError

PIXEL_MEAN = "pixel_mean"        # float32 [3]: one image's per-channel mean, 0..255
PIXEL_SQ_MEAN = "pixel_sq_mean"  # float32 [3]: one image's per-channel mean of squares
IMAGE_MEAN = "image_mean"        # outputs: the dataset's per-channel mean and std, 0..255
IMAGE_STD = "image_std"
MIN_STD = 1.0                    # a flat dataset must not divide by ~0


def raw_feature_spec() -> dict:
    import tensorflow as tf

    return {PIXEL_MEAN: tf.io.FixedLenFeature([3], tf.float32),
            PIXEL_SQ_MEAN: tf.io.FixedLenFeature([3], tf.float32)}


def image_statistics(rgb: np.ndarray) -> dict:
    """One image's contribution to the analysis (pure numpy, computed in the Beam DoFn)."""
    pixels = rgb.reshape(-1, 3).astype(np.float64)
    return {PIXEL_MEAN: pixels.mean(axis=0).astype(np.float32),
            PIXEL_SQ_MEAN: (pixels ** 2).mean(axis=0).astype(np.float32)}


def preprocessing_fn(inputs: dict) -> dict:
    import tensorflow as tf
    import tensorflow_transform as tft

    mean = tft.mean(tf.cast(inputs[PIXEL_MEAN], tf.float64), reduce_instance_dims=False)
    sq_mean = tft.mean(tf.cast(inputs[PIXEL_SQ_MEAN], tf.float64), reduce_instance_dims=False)
    std = tf.sqrt(tf.maximum(sq_mean - tf.square(mean), MIN_STD ** 2))
    batch = tf.shape(inputs[PIXEL_MEAN])[0]
    return {IMAGE_MEAN: tf.tile(tf.cast(mean, tf.float32)[None, :], [batch, 1]),
            IMAGE_STD: tf.tile(tf.cast(std, tf.float32)[None, :], [batch, 1])}


def load_normalization(transform_dir: str) -> tuple[np.ndarray, np.ndarray]:
    """The analysis' (mean, std), each float32 [3] on the 0..255 scale. Raises JobError when the
    folder is not a whole tf.Transform output (a cut copy, a run that did not finish)."""
    import tensorflow as tf
    import tensorflow_transform as tft

    output = tft.TFTransformOutput(transform_dir)
    try:
        output.transform_features_layer()  # loads it here, where a damaged folder's errors are
    except (OSError, ValueError, KeyError, tf.errors.OpError) as e:  # plain, not autograph's
        raise JobError(f"{transform_dir} is not a readable tf.Transform analysis "
                       f"({type(e).__name__}: {e}): re-run pipelines.preprocess into a new "
                       "folder") from None

    @tf.function
    def constants():
        probe = {PIXEL_MEAN: tf.zeros([1, 3], tf.float32),
                 PIXEL_SQ_MEAN: tf.zeros([1, 3], tf.float32)}
        out = output.transform_raw_features(probe)
        return out[IMAGE_MEAN][0], out[IMAGE_STD][0]

    mean, std = constants()
    return mean.numpy().astype(np.float32), std.numpy().astype(np.float32)

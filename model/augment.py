"""Training augmentation: pure, stateless tensor ops driven by an explicit seed int [2], so the
same seed gives the same result eagerly and inside tf.data (tests check both).

- `geometric_augment`, applied identically to image and mask in ONE resampling: a horizontal
  flip (never vertical: people are upright), a rotation, a scale (zoom in or out), an aspect
  change and a translation, all folded into one projective transform and sampled bilinearly
  into an output of `crop_size` (default: the input's size). Training on crops smaller than the
  data's S makes each step cheaper while the fully convolutional model still serves at S; the
  scale is a magnification in pixels (1.0: an output pixel is an input pixel), so a crop sees
  people at the size serving sees them. Outside the image, both are mirrored (REFLECT), so the
  mask stays the mask of the image. The mask is interpolated with the same bilinear weights and
  kept soft on purpose: the targets are soft alpha anyway, and thresholding it would move the
  boundary by up to half a pixel relative to the image.
- `colour_jitter` on the image only: brightness, contrast, saturation, hue.
- `degrade`, on the image only, each with its own probability: grayscale, a Gaussian blur and
  JPEG re-compression (what phone photos and web images do to edges).

`AugmentConfig()` is the default recipe of `model.train` (measured on the photo proxy: see
`model.train`'s docstring); `LIGHT` is the earlier, milder one (flip and zoom 1..1.3, jitter).
"""
from __future__ import annotations

import dataclasses
import math


@dataclasses.dataclass(frozen=True)
class AugmentConfig:
    flip: bool = True
    min_scale: float = 0.75              # magnification range; 1.0..1.0 with no rotation and
    max_scale: float = 1.33              # crop_size None is the identity
    max_rotation: float = 10.0           # degrees, either way
    max_aspect: float = 1.1              # x/y stretch in [1/a, a]
    crop_size: int | None = None         # output side; None: the input's
    brightness: float = 0.15             # max delta on the 0..1 scale
    contrast: float = 0.25               # factor in [1 - c, 1 + c]
    saturation: float = 0.3
    hue: float = 0.03                    # max delta, fraction of the hue circle
    grayscale: float = 0.1               # probabilities of each degradation
    blur: float = 0.1
    jpeg: float = 0.2
    min_jpeg_quality: int = 30


LIGHT = AugmentConfig(min_scale=1.0, max_scale=1.3, max_rotation=0.0, max_aspect=1.0,
                      brightness=0.1, contrast=0.2, saturation=0.2, hue=0.03,
                      grayscale=0.0, blur=0.0, jpeg=0.0)


def _affine_transform(seed, in_size, out_size, flip, min_scale, max_scale, max_rotation,
                      max_aspect):
    """The 8 projective parameters mapping output pixel (x, y) to input coordinates."""
    import tensorflow as tf

    seeds = tf.unstack(tf.random.experimental.stateless_split(seed, 5))
    uniform = lambda s, lo, hi, shape=(): tf.random.stateless_uniform(shape, s, lo, hi)  # noqa
    in_size = tf.cast(in_size, tf.float32)
    out_size = tf.cast(out_size, tf.float32)
    scale = tf.exp(uniform(seeds[0], math.log(min_scale), math.log(max_scale)))
    aspect = tf.exp(uniform(seeds[1], -math.log(max_aspect), math.log(max_aspect)))
    angle = uniform(seeds[2], -max_rotation, max_rotation) * (math.pi / 180.0)
    step_x = tf.sqrt(aspect) / scale            # input pixels per output pixel
    step_y = 1.0 / (tf.sqrt(aspect) * scale)
    if flip:
        step_x *= tf.where(tf.random.stateless_uniform([], seeds[3]) < 0.5, -1.0, 1.0)
    # The crop's centre moves at most until its edge meets the image's (or, zoomed out, the
    # image's edge meets the crop's): the subject is never pushed out entirely.
    room = tf.abs(in_size - out_size * tf.stack([tf.abs(step_x), step_y])) / 2.0
    centre_in = (in_size - 1.0) / 2.0 + uniform(seeds[4], -1.0, 1.0, [2]) * room
    centre_out = (out_size - 1.0) / 2.0
    cos, sin = tf.cos(angle), tf.sin(angle)
    a0, a1 = cos * step_x, -sin * step_y
    b0, b1 = sin * step_x, cos * step_y
    a2 = centre_in[0] - (a0 + a1) * centre_out
    b2 = centre_in[1] - (b0 + b1) * centre_out
    return tf.stack([a0, a1, a2, b0, b1, b2, 0.0, 0.0])


def geometric_augment(image, mask, seed, flip: bool = True, max_zoom: float | None = None, *,
                      min_scale: float = 1.0, max_scale: float = 1.3, max_rotation: float = 0.0,
                      max_aspect: float = 1.0, crop_size: int | None = None):
    """The same random flip, rotation, scale, stretch and shift of image [S, S, C] and mask
    [S, S, 1] (float), resampled once into [crop_size, crop_size, ...]. `max_zoom` is the older
    name of `max_scale` (1.0 with min_scale 1.0, no rotation and no crop: the identity)."""
    import tensorflow as tf

    if max_zoom is not None:
        max_scale = max_zoom
    size = image.shape[0] if image.shape[0] is not None else tf.shape(image)[0]
    out = crop_size or size
    stacked = tf.concat([image, tf.cast(mask, image.dtype)], axis=-1)
    channels = image.shape[-1]
    transform = _affine_transform(seed, size, out, flip, min_scale, max(max_scale, min_scale),
                                  max_rotation, max_aspect)
    stacked = tf.raw_ops.ImageProjectiveTransformV3(
        images=stacked[None], transforms=transform[None],
        output_shape=tf.stack([out, out]) if not isinstance(out, int) else [out, out],
        fill_value=0.0, interpolation="BILINEAR", fill_mode="REFLECT")[0]
    if isinstance(out, int):
        stacked = tf.ensure_shape(stacked, [out, out, stacked.shape[-1]])
    return stacked[..., :channels], stacked[..., channels:]


def colour_jitter(image, seed, brightness: float = 0.1, contrast: float = 0.2,
                  saturation: float = 0.2, hue: float = 0.03):
    """Random brightness, contrast, saturation and hue of an RGB image float32 on 0..255."""
    import tensorflow as tf

    seeds = tf.unstack(tf.random.experimental.stateless_split(seed, 4))
    x = image / 255.0
    if brightness > 0:
        x = tf.image.stateless_random_brightness(x, brightness, seeds[0])
    if contrast > 0:
        x = tf.image.stateless_random_contrast(x, 1.0 - contrast, 1.0 + contrast, seeds[1])
    x = tf.clip_by_value(x, 0.0, 1.0)
    if saturation > 0:
        x = tf.image.stateless_random_saturation(x, 1.0 - saturation, 1.0 + saturation, seeds[2])
    if hue > 0:
        x = tf.image.stateless_random_hue(x, hue, seeds[3])
    return tf.clip_by_value(x, 0.0, 1.0) * 255.0


def _gaussian_blur(image, sigma):
    """Separable 5x5 Gaussian blur of [H, W, C] float, edges mirrored."""
    import tensorflow as tf

    taps = tf.range(-2.0, 3.0)
    kernel = tf.exp(-0.5 * tf.square(taps / sigma))
    kernel /= tf.reduce_sum(kernel)
    channels = image.shape[-1]
    x = tf.pad(image[None], [[0, 0], [2, 2], [2, 2], [0, 0]], mode="REFLECT")
    kx = tf.tile(tf.reshape(kernel, [1, 5, 1, 1]), [1, 1, channels, 1])
    ky = tf.tile(tf.reshape(kernel, [5, 1, 1, 1]), [1, 1, channels, 1])
    x = tf.nn.depthwise_conv2d(x, kx, [1, 1, 1, 1], "VALID")
    x = tf.nn.depthwise_conv2d(x, ky, [1, 1, 1, 1], "VALID")
    return x[0]


def degrade(image, seed, grayscale: float = 0.0, blur: float = 0.0, jpeg: float = 0.0,
            min_jpeg_quality: int = 30):
    """Each with its probability: grayscale, Gaussian blur (sigma 0.5..1.5), JPEG re-compression
    (quality min_jpeg_quality..95), of an RGB image float32 on 0..255."""
    import tensorflow as tf

    seeds = tf.unstack(tf.random.experimental.stateless_split(seed, 5))
    happens = lambda p, s: tf.random.stateless_uniform([], s) < p  # noqa: E731
    x = image
    if grayscale > 0:
        x = tf.cond(happens(grayscale, seeds[0]),
                    lambda: tf.tile(tf.image.rgb_to_grayscale(x), [1, 1, 3]), lambda: x)
    if blur > 0:
        sigma = tf.random.stateless_uniform([], seeds[2], 0.5, 1.5)
        x = tf.cond(happens(blur, seeds[1]), lambda: _gaussian_blur(x, sigma), lambda: x)
    if jpeg > 0:
        def recompress():
            y = tf.image.stateless_random_jpeg_quality(
                tf.clip_by_value(x, 0.0, 255.0) / 255.0, min_jpeg_quality, 95, seeds[4])
            return tf.reshape(y * 255.0, tf.shape(x))
        x = tf.cond(happens(jpeg, seeds[3]), recompress, lambda: x)
    return x


def augment(image, mask, seed, config: AugmentConfig = AugmentConfig()):
    """Training augmentation; `seed` int [2]. Same seed, same result, eagerly or in tf.data."""
    import tensorflow as tf

    geo_seed, colour_seed, degrade_seed = tf.unstack(
        tf.random.experimental.stateless_split(seed, 3))
    image, mask = geometric_augment(
        image, mask, geo_seed, config.flip, min_scale=config.min_scale,
        max_scale=config.max_scale, max_rotation=config.max_rotation,
        max_aspect=config.max_aspect, crop_size=config.crop_size)
    image = colour_jitter(image, colour_seed, config.brightness, config.contrast,
                          config.saturation, config.hue)
    image = degrade(image, degrade_seed, config.grayscale, config.blur, config.jpeg,
                    config.min_jpeg_quality)
    return image, mask

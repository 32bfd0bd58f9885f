"""model/augment.py's stronger recipe: every op eagerly and inside tf.data, the one geometric
resampling (flip, rotation, scale, stretch, shift, training crop) keeps image and mask aligned,
and the image-only degradations (grayscale, blur, JPEG) leave the mask alone."""
from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

from model import augment
from pipelines.synthetic import datasets as synthetic

SIZE = 64
STRONG_GEOMETRY = dict(min_scale=0.7, max_scale=1.4, max_rotation=15.0, max_aspect=1.2)


def _in_tf_data(fn, *tensors):
    ds = tf.data.Dataset.from_tensors(tensors).map(fn)
    return next(iter(ds))


@pytest.fixture(scope="module")
def aligned_pair():
    """Red channel == 255 * mask: any geometric op applied identically to both keeps it so
    (bilinear interpolation and mirroring are linear)."""
    rgb, alpha = synthetic.render_scene(np.random.default_rng(4), SIZE, SIZE)
    mask = (alpha.astype(np.float32) / 255.0)[..., None]
    image = rgb.astype(np.float32)
    image[..., 0] = mask[..., 0] * 255.0
    return tf.constant(image), tf.constant(mask)


@pytest.mark.parametrize("seed", [(0, 1), (9, 4)])
@pytest.mark.parametrize("config", [augment.AugmentConfig(),
                                    augment.AugmentConfig(crop_size=48, grayscale=1.0, blur=1.0,
                                                          jpeg=1.0)])
def test_the_strong_recipe_is_the_same_eagerly_and_in_tf_data(aligned_pair, seed, config):
    image, mask = aligned_pair
    s = tf.constant(seed, tf.int64)
    eager = augment.augment(image, mask, s, config)
    graph = _in_tf_data(lambda i, m, sd: augment.augment(i, m, sd, config), image, mask, s)
    side = config.crop_size or SIZE
    assert eager[0].shape == (side, side, 3) and eager[1].shape == (side, side, 1)
    for a, b in zip(eager, graph):
        np.testing.assert_allclose(a.numpy(), b.numpy(), atol=1e-3)


@pytest.mark.parametrize("crop", [None, 48])
def test_rotation_scale_and_crop_keep_image_and_mask_aligned(aligned_pair, crop):
    image, mask = aligned_pair
    fn = lambda i, m, s: augment.geometric_augment(i, m, s, crop_size=crop,  # noqa: E731
                                                   **STRONG_GEOMETRY)
    masks = []
    for k in range(8):
        seed = tf.constant([k, 17], tf.int64)
        for img, m in (fn(image, mask, seed), _in_tf_data(fn, image, mask, seed)):
            np.testing.assert_allclose(img.numpy()[..., 0], m.numpy()[..., 0] * 255.0, atol=1e-3)
            assert 0.0 <= m.numpy().min() and m.numpy().max() <= 1.0
        masks.append(m.numpy())
    assert len({m.tobytes() for m in masks}) == 8              # every seed its own transform


def test_zero_rotation_scale_one_no_flip_is_the_identity_and_flip_mirrors(aligned_pair):
    image, mask = aligned_pair
    same = dict(min_scale=1.0, max_scale=1.0, max_rotation=0.0, max_aspect=1.0)
    img, m = augment.geometric_augment(image, mask, tf.constant([3, 3], tf.int64), flip=False,
                                       **same)
    np.testing.assert_array_equal(img.numpy(), image.numpy())
    np.testing.assert_array_equal(m.numpy(), mask.numpy())
    flipped = 0
    for k in range(10):
        _, m = augment.geometric_augment(image, mask, tf.constant([k, 1], tf.int64), **same)
        if not np.array_equal(m.numpy(), mask.numpy()):
            np.testing.assert_array_equal(m.numpy(), mask.numpy()[:, ::-1])  # never vertical
            flipped += 1
    assert 2 <= flipped <= 8


def test_a_crop_at_scale_one_is_a_window_of_the_image(aligned_pair):
    """A magnification of 1 samples input pixels one to one: the crop is a shifted window
    (integer or not), never a resized copy of the whole image."""
    image, mask = aligned_pair
    _, m = augment.geometric_augment(image, mask, tf.constant([5, 6], tf.int64), flip=False,
                                     min_scale=1.0, max_scale=1.0, crop_size=32)
    # The window's mass is at most the whole mask's and its mean is the mean of some window.
    full = mask.numpy()[..., 0]
    windows = [full[y:y + 32, x:x + 32].sum() for y in range(33) for x in range(33)]
    assert min(windows) - 1e-3 <= m.numpy().sum() <= max(windows) + 1e-3


def test_degradations_change_the_image_only_as_asked():
    rgb, _ = synthetic.render_scene(np.random.default_rng(6), SIZE, SIZE)
    image = tf.constant(rgb.astype(np.float32))
    seed = tf.constant([2, 8], tf.int64)
    np.testing.assert_array_equal(augment.degrade(image, seed).numpy(), image.numpy())
    gray = augment.degrade(image, seed, grayscale=1.0).numpy()
    np.testing.assert_allclose(gray[..., 0], gray[..., 1], atol=1e-4)
    np.testing.assert_allclose(gray[..., 1], gray[..., 2], atol=1e-4)
    blurred = augment.degrade(image, seed, blur=1.0).numpy()
    roughness = lambda x: np.abs(np.diff(x, axis=1)).mean()  # noqa: E731
    assert roughness(blurred) < 0.8 * roughness(image.numpy())
    assert abs(blurred.mean() - image.numpy().mean()) < 1.0       # a blur keeps brightness
    jpeg = augment.degrade(image, seed, jpeg=1.0, min_jpeg_quality=10).numpy()
    assert jpeg.shape == image.shape and 0 < np.abs(jpeg - image.numpy()).mean() < 20
    for p in ("grayscale", "blur", "jpeg"):
        eager = augment.degrade(image, seed, **{p: 1.0})
        graph = _in_tf_data(lambda i, s: augment.degrade(i, s, **{p: 1.0}), image, seed)
        np.testing.assert_allclose(eager.numpy(), graph.numpy(), atol=1e-3, err_msg=p)

"""model/data.py: each op eagerly and inside tf.data, augmentation keeps image and mask aligned,
normalisation uses the given analysis constants, and bad data folders fail before any work."""
from __future__ import annotations

import gzip
import json
import os

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from model import data, schema, tfrecord
from model.errors import JobError
from pipelines.core import imaging
from pipelines.synthetic import datasets as synthetic

SIZE = 32
MEAN = np.array([100.0, 110.0, 120.0], np.float32)
STD = np.array([50.0, 40.0, 30.0], np.float32)


def _example(rng, version=None, size=SIZE):
    rgb, alpha = synthetic.render_scene(rng, size, size)
    fields = dict(key="k", source="synthetic",
                  image_jpeg=imaging.encode_jpeg(Image.fromarray(rgb, "RGB")),
                  mask_png=imaging.encode_png(Image.fromarray(alpha, "L"), "fast"),
                  orig_height=size, orig_width=size, image_size=size)
    record = schema.make_example(**fields)
    if version is not None:
        record = schema.encode_example({**schema.decode_example(record),
                                        schema.VERSION: version})
    return record, rgb, alpha


def _write_shard(path, records):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with gzip.open(path, "wb") as f:
        f.write(b"".join(tfrecord.frame(r) for r in records))


def _in_tf_data(fn, *tensors):
    """Runs fn on one element inside a tf.data map (graph mode, as training does)."""
    ds = tf.data.Dataset.from_tensors(tensors).map(fn)
    return next(iter(ds))


@pytest.fixture(scope="module")
def records():
    rng = np.random.default_rng(1)
    return [_example(rng) for _ in range(5)]


@pytest.fixture(scope="module")
def aligned_pair():
    """An image whose red channel IS the mask (x255): any geometric op applied identically to
    both keeps red == 255 * mask exactly (bilinear interpolation is linear)."""
    rng = np.random.default_rng(2)
    rgb, alpha = synthetic.render_scene(rng, SIZE, SIZE)
    mask = (alpha.astype(np.float32) / 255.0)[..., None]
    image = rgb.astype(np.float32)
    image[..., 0] = mask[..., 0] * 255.0
    return tf.constant(image), tf.constant(mask)


def test_parse_and_decode_eager_equals_tf_data(records):
    record, rgb, alpha = records[0]
    eager = data.parse_and_decode(tf.constant(record), SIZE)
    graph = _in_tf_data(lambda r: data.parse_and_decode(r, SIZE), tf.constant(record))
    for a, b in zip(eager, graph):
        np.testing.assert_array_equal(a.numpy(), b.numpy())
    image, mask = eager
    assert image.shape == (SIZE, SIZE, 3) and image.dtype == tf.float32
    assert mask.shape == (SIZE, SIZE, 1)
    np.testing.assert_allclose(mask.numpy()[..., 0], alpha / 255.0, atol=1e-6)  # PNG: lossless
    assert np.abs(image.numpy() - rgb).mean() < 4.0                       # JPEG q95


@pytest.mark.parametrize("seed", [(0, 1), (7, 3), (123, 456)])
def test_augment_eager_equals_tf_data(aligned_pair, seed):
    image, mask = aligned_pair
    s = tf.constant(seed, tf.int64)
    eager = data.augment(image, mask, s)
    graph = _in_tf_data(lambda i, m, sd: data.augment(i, m, sd), image, mask, s)
    for a, b in zip(eager, graph):
        np.testing.assert_allclose(a.numpy(), b.numpy(), atol=1e-4)


def test_geometric_augment_keeps_image_and_mask_aligned(aligned_pair):
    image, mask = aligned_pair
    changed = 0
    for i in range(12):
        img, m = data.geometric_augment(image, mask, tf.constant([i, 99], tf.int64))
        np.testing.assert_allclose(img.numpy()[..., 0], m.numpy()[..., 0] * 255.0, atol=1e-3)
        changed += not np.allclose(m.numpy(), mask.numpy())
    assert changed >= 10          # flips and zooms really happen


def test_colour_jitter_changes_the_image_not_the_mask(aligned_pair):
    image, mask = aligned_pair
    geometric_only = data.AugmentConfig(brightness=0, contrast=0, saturation=0, hue=0,
                                        grayscale=0, blur=0, jpeg=0)
    for i in range(5):
        seed = tf.constant([i, 5], tf.int64)
        img_a, mask_a = data.augment(image, mask, seed)
        img_g, mask_g = data.augment(image, mask, seed, geometric_only)
        np.testing.assert_array_equal(mask_a.numpy(), mask_g.numpy())
        # Without jitter the red channel still is the mask: alignment through augment().
        np.testing.assert_allclose(img_g.numpy()[..., 0], mask_g.numpy()[..., 0] * 255.0,
                                   atol=1e-3)
        assert not np.allclose(img_a.numpy(), img_g.numpy())
        assert 0.0 <= img_a.numpy().min() and img_a.numpy().max() <= 255.0


def test_no_flip_no_zoom_is_identity_and_zoom_keeps_mask_soft(aligned_pair):
    image, mask = aligned_pair
    img, m = data.geometric_augment(image, mask, tf.constant([1, 2], tf.int64),
                                    flip=False, max_zoom=1.0)
    np.testing.assert_array_equal(img.numpy(), image.numpy())
    np.testing.assert_array_equal(m.numpy(), mask.numpy())
    binary = tf.cast(mask > 0.5, tf.float32)
    _, zoomed = data.geometric_augment(image, binary, tf.constant([3, 4], tf.int64),
                                       flip=False, max_zoom=1.3)
    z = zoomed.numpy()
    assert ((z > 0.01) & (z < 0.99)).any()       # interpolated, not re-thresholded: soft edges
    assert z.min() >= 0.0 and z.max() <= 1.0


def test_normalize_eager_equals_tf_data_and_numpy():
    x = np.random.default_rng(0).uniform(0, 255, (SIZE, SIZE, 3)).astype(np.float32)
    eager = data.normalize(tf.constant(x), MEAN, STD).numpy()
    graph = _in_tf_data(lambda t: data.normalize(t, MEAN, STD), tf.constant(x)).numpy()
    np.testing.assert_allclose(eager, (x - MEAN) / STD, rtol=1e-6)
    np.testing.assert_array_equal(eager, graph)


def test_train_dataset_batches_normalised_pairs(tmp_path, records):
    shard = str(tmp_path / "train" / "train-00000-of-00001.tfrecord.gz")
    _write_shard(shard, [r for r, _, _ in records])
    ds = data.make_train_dataset([shard], SIZE, batch_size=4, mean=MEAN, std=STD,
                                 augment_config=None)
    x, y = next(iter(ds))
    assert x.shape == (4, SIZE, SIZE, 3) and y.shape == (4, SIZE, SIZE, 1)
    # Without augmentation each element is one decoded record, normalised with MEAN/STD.
    decoded = [data.parse_and_decode(tf.constant(r), SIZE) for r, _, _ in records]
    expected = [((img.numpy() - MEAN) / STD, m.numpy()) for img, m in decoded]
    for xi, yi in zip(x.numpy(), y.numpy()):
        assert any(np.allclose(xi, e, atol=1e-5) and np.array_equal(yi, m)
                   for e, m in expected)


def test_eval_dataset_pads_with_weight_zero(tmp_path, records):
    shard = str(tmp_path / "val" / "val-00000-of-00001.tfrecord.gz")
    _write_shard(shard, [r for r, _, _ in records])
    ds = data.make_eval_dataset([shard], SIZE, batch_size=4, mean=MEAN, std=STD,
                                num_examples=len(records))
    batches = list(ds)
    assert len(batches) == 2 and all(b[0].shape[0] == 4 for b in batches)
    weights = np.concatenate([b[2].numpy() for b in batches])
    np.testing.assert_array_equal(weights, [1, 1, 1, 1, 1, 0, 0, 0])
    assert data.count_records([shard]) == len(records)
    first = data.parse_and_decode(tf.constant(records[0][0]), SIZE)[0].numpy()
    np.testing.assert_allclose(batches[0][0][0].numpy(), (first - MEAN) / STD, atol=1e-5)


# --- validation before any work -------------------------------------------------------------

def _data_dir(root, manifest_version=schema.SCHEMA_VERSION, record_version=None,
              splits=("train", "val"), records=2):
    rng = np.random.default_rng(3)
    os.makedirs(os.path.join(root, "transform"), exist_ok=True)
    with open(os.path.join(root, "manifest.json"), "w") as f:
        json.dump({"schema_version": manifest_version, "image_size": SIZE, "counts": {}}, f)
    for split in splits:
        _write_shard(os.path.join(root, split, f"{split}-00000-of-00001.tfrecord.gz"),
                     [_example(rng, record_version)[0] for _ in range(records)])
    return str(root)


def test_inspect_accepts_a_good_folder(tmp_path):
    info = data.inspect_data_dir(_data_dir(tmp_path / "ok"))
    assert info.image_size == SIZE
    assert [os.path.basename(p) for p in info.shards["train"]] == [
        "train-00000-of-00001.tfrecord.gz"]


@pytest.mark.parametrize("case, message", [
    ("missing", "does not exist"),
    ("empty", "is not a `cutout preprocess` output"),
    ("no_manifest", r"not a `cutout preprocess` output \(no manifest.json\)"),
    ("manifest_version", "schema_version 999"),
    ("record_version", "first record has schema_version 999"),
    ("no_val_shards", "no shards match"),
    ("empty_shard", "holds no records"),
])
def test_inspect_rejects_bad_folders_clearly(tmp_path, case, message):
    root = tmp_path / case
    if case == "missing":
        pass
    elif case == "empty":
        root.mkdir()
    elif case == "no_manifest":
        _data_dir(root)
        os.remove(root / "manifest.json")
    elif case == "manifest_version":
        _data_dir(root, manifest_version=999)
    elif case == "record_version":
        _data_dir(root, record_version=999)
    elif case == "no_val_shards":
        _data_dir(root, splits=("train",))
    elif case == "empty_shard":
        _data_dir(root, records=0)
    with pytest.raises(JobError, match=message):
        data.inspect_data_dir(str(root))


def test_a_truncated_shard_is_one_error_naming_it(tmp_path):
    path = str(tmp_path / "train-00000-of-00001.tfrecord.gz")
    with tf.io.TFRecordWriter(path, options="GZIP") as writer:
        for i in range(200):
            writer.write(np.random.default_rng(i).bytes(2000))
    good = data.count_records([path])
    assert good == 200
    with open(path, "rb") as f:
        whole = f.read()
    with open(path, "wb") as f:
        f.write(whole[:len(whole) // 2])
    with pytest.raises(JobError, match=r"train-00000-of-00001.tfrecord.gz is a truncated "
                                       r"shard .*re-run pipelines.preprocess"):
        data.count_records([path])

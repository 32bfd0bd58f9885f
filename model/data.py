"""tf.data input for training: shards of `model.schema` examples -> normalised, batched tensors.

Validation first, before any work (`inspect_data_dir`): the data folder must exist, hold a
`manifest.json` whose `schema_version` is this code's `model.schema.SCHEMA_VERSION`, shards in
`train/` and `val/`, and a first record whose own `schema_version` and `image_size` agree. That
check reads one record with Python's gzip and protobuf, not TensorFlow ops, so it runs before the
TF runtime is configured (thread pools and logical devices can only be set before it starts).

Each step is a pure function of tensors, tested both eagerly and inside tf.data:
- `parse_and_decode`: serialized example -> image float32 [S, S, 3] on 0..255, mask float32
  [S, S, 1] on 0..1 (the soft alpha).
- `augment` (training split only; model/augment.py, re-exported here), stateless and driven by
  an explicit seed [2]: one flip/rotation/scale/shift resampling of image and mask together
  (optionally into a smaller training crop), colour jitter and degradations of the image only.
- `normalize`: (x - mean) / std with the tf.Transform analysis' per-channel constants (0..255
  scale), the same constants `model.export` bakes into the served model.

`make_train_dataset` wires them: shuffle the shard list, interleave reads over files, shuffle
records, repeat, then parse + decode + augment + normalise in parallel, batch with the GLOBAL
batch size (a tf.distribute strategy splits it across replicas), prefetch.
`make_eval_dataset` does the same without shuffling or augmentation, and pads the last batch
with weight-0 blanks (why, and what that asks of the loss and metrics: its docstring).
"""
from __future__ import annotations

import dataclasses
import gzip
import os
import zlib

from model import schema, tfrecord
from model.errors import JobError
from model.augment import (AugmentConfig, augment, colour_jitter, degrade,  # noqa: F401
                           geometric_augment)

TRAIN, VAL = "train", "val"
DEFAULT_SHUFFLE_BUFFER = 512      # serialized (compressed) records: ~30 KB each at 256 px


@dataclasses.dataclass(frozen=True)
class DataInfo:
    """What `inspect_data_dir` found."""
    data_dir: str
    image_size: int
    manifest: dict
    shards: dict            # split -> sorted list of shard paths


# --------------------------------------------------------------------------------------------
# Validation (no TensorFlow ops)
# --------------------------------------------------------------------------------------------

def _gfile():
    import tensorflow as tf

    return tf.io.gfile


def list_shards(data_dir: str, split: str) -> list[str]:
    return sorted(_gfile().glob(schema.shard_pattern(data_dir, split)))


def read_first_record(path: str) -> bytes | None:
    """The first record of a gzip TFRecord file (model/tfrecord.py's framing), or None if it has
    none. A damaged file raises JobError naming it."""
    try:
        with _gfile().GFile(path, "rb") as raw, gzip.GzipFile(fileobj=raw) as f:
            return next(tfrecord.read_records(f), None)
    except (EOFError, OSError, ValueError, zlib.error) as e:  # a cut or garbled file or record
        raise JobError(f"{path} is a truncated or corrupt shard ({type(e).__name__}: {e}): "
                       "re-run pipelines.preprocess into a new folder") from None


def inspect_data_dir(data_dir: str, splits=(TRAIN, VAL)) -> DataInfo:
    """Checks the data folder before any work; raises JobError with what is wrong.

    The folder, manifest and shard checks are `model.schema.check_data_folder` (which evaluate
    runs too, over Beam's FileSystems); training adds the transform analysis and a look at the
    first record of each split."""
    gfile = _gfile()

    def read_bytes(path):
        with gfile.GFile(path, "rb") as f:
            return f.read()

    manifest, shards = schema.check_data_folder(
        data_dir, splits, exists=gfile.exists, read_bytes=read_bytes,
        is_dir=lambda p: gfile.exists(p) and gfile.isdir(p) and bool(gfile.listdir(p)),
        glob=lambda pattern: sorted(gfile.glob(pattern)))
    image_size = manifest[schema.IMAGE_SIZE]
    if not gfile.exists(os.path.join(data_dir, schema.TRANSFORM_DIR)):
        raise JobError(
            f"{data_dir}/{schema.TRANSFORM_DIR}/ (the normalisation analysis) is missing")
    for files in shards.values():
        first = read_first_record(files[0])
        if first is None:
            raise JobError(f"{files[0]} holds no records")
        features = schema.decode_example(first)
        if features.get(schema.VERSION) != schema.SCHEMA_VERSION:
            raise JobError(f"{files[0]}: first record has schema_version "
                           f"{features.get(schema.VERSION)!r}, this code reads "
                           f"{schema.SCHEMA_VERSION}: re-run `cutout preprocess`")
        if features.get(schema.IMAGE_SIZE) != image_size:
            raise JobError(f"{files[0]}: first record has image_size "
                           f"{features.get(schema.IMAGE_SIZE)!r}, the manifest says {image_size}")
    return DataInfo(data_dir=data_dir, image_size=image_size, manifest=manifest, shards=shards)


# --------------------------------------------------------------------------------------------
# Pure tensor ops
# --------------------------------------------------------------------------------------------

def parse_and_decode(serialized, image_size: int):
    """Serialized example -> (image float32 [S, S, 3] 0..255, mask float32 [S, S, 1] 0..1)."""
    import tensorflow as tf

    features = tf.io.parse_single_example(serialized, schema.feature_spec())
    image = tf.io.decode_jpeg(features[schema.IMAGE], channels=3)
    mask = tf.io.decode_png(features[schema.MASK], channels=1)
    image = tf.ensure_shape(tf.cast(image, tf.float32), [image_size, image_size, 3])
    mask = tf.ensure_shape(tf.cast(mask, tf.float32) / 255.0, [image_size, image_size, 1])
    return image, mask


def normalize(image, mean, std):
    """(x - mean) / std, per channel; image float on 0..255, mean and std [3] on 0..255."""
    import tensorflow as tf

    mean = tf.constant(mean, tf.float32, shape=[3])
    std = tf.constant(std, tf.float32, shape=[3])
    return (tf.cast(image, tf.float32) - mean) / std


# --------------------------------------------------------------------------------------------
# Datasets
# --------------------------------------------------------------------------------------------

def count_records(files: list[str]) -> int:
    """Number of records in gzip TFRecord shards (reads them, without parsing: a few s per GB).
    A truncated or corrupt shard raises JobError naming it, before any training."""
    import tensorflow as tf

    total = 0
    for path in files:
        ds = tf.data.TFRecordDataset(path, compression_type="GZIP")
        try:
            total += int(ds.reduce(tf.constant(0, tf.int64), _plus_one).numpy())
        except (tf.errors.DataLossError, tf.errors.InvalidArgumentError) as e:
            cause = "truncated" if "truncated" in str(e) else "corrupt"
            raise JobError(f"{path} is a {cause} shard ({type(e).__name__}): re-run "
                           "pipelines.preprocess into a new folder") from None
    return total


def _plus_one(n, _):
    return n + 1


def _options(threads: int | None, shard_by_files: bool):
    import tensorflow as tf

    options = tf.data.Options()
    if threads:
        options.threading.private_threadpool_size = threads
        options.threading.max_intra_op_parallelism = 1
    options.experimental_distribute.auto_shard_policy = (
        tf.data.experimental.AutoShardPolicy.FILE if shard_by_files
        else tf.data.experimental.AutoShardPolicy.DATA)
    return options


def make_train_dataset(files: list[str], image_size: int, batch_size: int, mean, std,
                       seed: int = 0, augment_config: AugmentConfig | None = AugmentConfig(),
                       shuffle_buffer: int = DEFAULT_SHUFFLE_BUFFER, threads: int | None = None,
                       shard_by_files: bool = False):
    """Endless, shuffled, augmented batches of (normalised image, mask); drop_remainder so every
    replica always gets the same share. `augment_config=None` turns augmentation off."""
    import tensorflow as tf

    autotune = tf.data.AUTOTUNE
    files_ds = tf.data.Dataset.from_tensor_slices(files).shuffle(len(files), seed=seed,
                                                                 reshuffle_each_iteration=True)
    records = files_ds.interleave(
        lambda f: tf.data.TFRecordDataset(f, compression_type="GZIP"),
        cycle_length=max(1, min(len(files), 4)), block_length=1,
        num_parallel_calls=autotune, deterministic=False)
    records = records.shuffle(shuffle_buffer, seed=seed, reshuffle_each_iteration=True).repeat()
    seeds = tf.data.Dataset.random(seed=seed, rerandomize_each_iteration=True).batch(2)

    def prepare(serialized, pair_seed):
        image, mask = parse_and_decode(serialized, image_size)
        if augment_config is not None:
            image, mask = augment(image, mask, pair_seed, augment_config)
        return normalize(image, mean, std), mask

    ds = tf.data.Dataset.zip((records, seeds)).map(prepare, num_parallel_calls=autotune,
                                                   deterministic=False)
    ds = ds.batch(batch_size, drop_remainder=True).prefetch(autotune)
    return ds.with_options(_options(threads, shard_by_files))


def make_eval_dataset(files: list[str], image_size: int, batch_size: int, mean, std,
                      num_examples: int, threads: int | None = None, repeat: bool = False):
    """Every example once, in shard order, as (normalised image, mask, weight 1), in
    ceil(num_examples / batch_size) batches. `repeat` cycles that forever (Keras keeps one
    iterator across epochs when given `validation_steps`; pass exactly that number of batches).
    Sharded by data, never by file, so under MultiWorkerMirroredStrategy every worker gets its
    share of every batch.

    Padded validation: the last batch is filled with weight-0 blank examples, so every batch is
    full and every replica of any strategy gets its share (on 2 replicas, one may get only
    blanks). Everything that scores these batches honours the weights, so the scores are the
    means over the real examples exactly:
    - the loss reduces with `mean_with_sample_weight`, sum(w * loss) / sum(w)
      (`losses.BceDiceLoss`; Keras' default divides by the batch size, blanks included);
    - the metrics are compiled as `weighted_metrics` (Keras 3 updates plain `metrics` without
      the weights, and a blank predicted empty scores IoU 1: val_iou, which picks the best
      weights, would be biased high) and average per image with the weights (`losses`);
    - the epoch's val_loss weighs each step by its sum of weights, not its batch size
      (`keras_internals.weigh_val_loss_by_sample_weight`).
    Training batches carry no weights and are unaffected."""
    import tensorflow as tf

    autotune = tf.data.AUTOTUNE

    def prepare(serialized):
        image, mask = parse_and_decode(serialized, image_size)
        return normalize(image, mean, std), mask, tf.constant(1.0)

    ds = tf.data.TFRecordDataset(files, compression_type="GZIP").map(
        prepare, num_parallel_calls=autotune)
    padding = (-num_examples) % batch_size
    if padding:
        blank = (tf.zeros([image_size, image_size, 3]), tf.zeros([image_size, image_size, 1]),
                 tf.constant(0.0))
        ds = ds.concatenate(tf.data.Dataset.from_tensors(blank).repeat(padding))
    ds = ds.batch(batch_size, drop_remainder=True)
    if repeat:
        ds = ds.repeat()
    return ds.prefetch(autotune).with_options(_options(threads, shard_by_files=False))

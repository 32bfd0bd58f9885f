"""The hand-written tf.train.Example encoding and TFRecord framing are what TensorFlow reads."""
import gzip

import numpy as np
import tensorflow as tf

from model import schema
from model import tfrecord


def test_encoded_example_parses_like_tensorflows_own():
    ours = schema.make_example(key="p3m10k/train/blurred_image/ä.jpg", source="p3m10k",
                               image_jpeg=b"\xff\xd8jpeg\x00bytes", mask_png=b"\x89PNG" * 300,
                               orig_height=1080, orig_width=1440, image_size=320)
    theirs = tf.train.Example(features=tf.train.Features(feature={
        "key": tf.train.Feature(bytes_list=tf.train.BytesList(
            value=["p3m10k/train/blurred_image/ä.jpg".encode()])),
        "source": tf.train.Feature(bytes_list=tf.train.BytesList(value=[b"p3m10k"])),
        "image": tf.train.Feature(bytes_list=tf.train.BytesList(value=[b"\xff\xd8jpeg\x00bytes"])),
        "mask": tf.train.Feature(bytes_list=tf.train.BytesList(value=[b"\x89PNG" * 300])),
        "orig_height": tf.train.Feature(int64_list=tf.train.Int64List(value=[1080])),
        "orig_width": tf.train.Feature(int64_list=tf.train.Int64List(value=[1440])),
        "image_size": tf.train.Feature(int64_list=tf.train.Int64List(value=[320])),
        "schema_version": tf.train.Feature(int64_list=tf.train.Int64List(
            value=[schema.SCHEMA_VERSION])),
    }))
    assert tf.train.Example.FromString(ours) == theirs
    parsed = tf.io.parse_single_example(ours, schema.feature_spec())
    assert parsed["orig_width"].numpy() == 1440
    assert parsed["key"].numpy().decode() == "p3m10k/train/blurred_image/ä.jpg"


def test_float_and_negative_features():
    raw = schema.encode_example({"f": 0.5, "n": -3})
    ex = tf.train.Example.FromString(raw)
    assert ex.features.feature["f"].float_list.value[0] == 0.5
    assert ex.features.feature["n"].int64_list.value[0] == -3


def test_framed_gzip_records_read_by_tf_data(tmp_path):
    records = [b"", b"a", np.random.default_rng(0).bytes(70_000)]
    path = tmp_path / "x.tfrecord.gz"
    path.write_bytes(gzip.compress(b"".join(tfrecord.frame(r) for r in records)))
    got = [r.numpy() for r in tf.data.TFRecordDataset(str(path), compression_type="GZIP")]
    assert got == records

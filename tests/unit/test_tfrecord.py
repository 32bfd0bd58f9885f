"""The one TFRecord framing (model/tfrecord.py) against TensorFlow's writer and reader, and the
shard reader's failures (pipelines/core/tfrecord.py)."""
import gzip

import numpy as np
import pytest
import tensorflow as tf

from model import tfrecord
from pipelines.core import tfrecord as shards

RECORDS = [np.random.default_rng(i).bytes(n) for i, n in enumerate((0, 1, 300, 5000))]


def test_tensorflow_reads_what_we_write(tmp_path):
    path = tmp_path / "ours.tfrecord.gz"
    path.write_bytes(shards.shard_bytes(RECORDS))
    got = [r.numpy() for r in tf.data.TFRecordDataset(str(path), compression_type="GZIP")]
    assert got == RECORDS


def test_we_read_what_tensorflow_writes(tmp_path):
    path = str(tmp_path / "theirs.tfrecord.gz")
    with tf.io.TFRecordWriter(path, options="GZIP") as writer:
        for record in RECORDS:
            writer.write(record)
    assert list(shards.read_shard(path)) == RECORDS


def test_a_damaged_stream_yields_the_records_before_the_damage(tmp_path):
    whole = b"".join(tfrecord.frame(r) for r in RECORDS)
    cut = tmp_path / "cut.tfrecord.gz"
    cut.write_bytes(gzip.compress(whole[:-10]))
    got = []
    with pytest.raises(ValueError, match="truncated record"):
        got.extend(shards.read_shard(str(cut)))
    assert got == RECORDS[:-1]
    flipped = bytearray(whole)
    flipped[-5] ^= 0xFF   # a byte of the last record's data
    bad = tmp_path / "bad.tfrecord.gz"
    bad.write_bytes(gzip.compress(bytes(flipped)))
    got = []
    with pytest.raises(ValueError, match="corrupt record"):
        got.extend(shards.read_shard(str(bad)))
    assert got == RECORDS[:-1]

"""model.schema's readers: the Example decoder (without TensorFlow) and the data-folder check
shared by training and evaluate, run here over an in-memory folder."""
import json

import pytest

from model import schema
from model.errors import JobError


def test_parse_example_inverts_the_schema_encoder():
    data = schema.encode_example({"key": "p3m10k/a/b.jpg", "image": b"\x00\xff" * 300,
                                  "orig_height": 1440, "neg": -3, "f": 0.5, "empty": b""})
    parsed = schema.decode_example(data)
    assert parsed == {"key": b"p3m10k/a/b.jpg", "image": b"\x00\xff" * 300,
                      "orig_height": 1440, "neg": -3, "f": 0.5, "empty": b""}


def test_parse_example_reads_unpacked_ints_and_floats():
    # Writers may also emit int64s as separate varint fields and floats as fixed32 fields.
    import struct

    def field(number, wire, payload):
        return schema._varint((number << 3) | wire) + payload

    ints = schema._field(3, field(1, 0, schema._varint(7)) + field(1, 0, schema._varint(2**64 - 9)))
    floats = schema._field(2, field(1, 5, struct.pack("<f", 2.5)))
    entries = (schema._field(1, schema._field(1, b"n") + schema._field(2, ints))
               + schema._field(1, schema._field(1, b"f") + schema._field(2, floats)))
    assert schema.decode_example(schema._field(1, entries)) == {"n": 7, "f": 2.5}


def _check(files: dict, data_dir="D", splits=("test",)):
    """check_data_folder over `files` ({path: bytes}), a folder listing held in memory."""
    import fnmatch

    return schema.check_data_folder(
        data_dir, splits,
        is_dir=lambda p: any(f.startswith(p.rstrip("/") + "/") for f in files),
        exists=lambda p: p in files, read_bytes=lambda p: files[p],
        glob=lambda pattern: sorted(f for f in files if fnmatch.fnmatch(f, pattern)))


def _manifest(**fields):
    return json.dumps({"schema_version": schema.SCHEMA_VERSION, "image_size": 32,
                       **fields}).encode()


def test_check_data_folder_returns_the_manifest_and_shards():
    files = {"D/manifest.json": _manifest(totals={"test": 3}),
             "D/test/test-00001-of-00002.tfrecord.gz": b"",
             "D/test/test-00000-of-00002.tfrecord.gz": b"",
             "D/train/train-00000-of-00001.tfrecord.gz": b""}
    manifest, shards = _check(files, data_dir="D/")
    assert manifest["totals"] == {"test": 3}
    assert shards == {"test": ["D/test/test-00000-of-00002.tfrecord.gz",
                               "D/test/test-00001-of-00002.tfrecord.gz"]}


@pytest.mark.parametrize("files, data_dir, message", [
    ({}, "", "--data_dir is empty"),
    ({}, "D", "--data_dir D does not exist"),
    ({"D/other": b""}, "D", r"D is not a `cutout preprocess` output \(no manifest.json\)"),
    ({"D/manifest.json": b"{"}, "D", "not valid JSON"),
    ({"D/manifest.json": _manifest(schema_version=0)}, "D", "schema_version 0, this code"),
    ({"D/manifest.json": _manifest(image_size="32")}, "D", "no valid image_size"),
    ({"D/manifest.json": _manifest(), "D/val/val-0.tfrecord.gz": b""}, "D",
     r"no shards match D/test/\*.tfrecord.gz: the 'test' split is empty"),
])
def test_check_data_folder_says_what_is_wrong(files, data_dir, message):
    with pytest.raises(JobError, match=message):
        _check(files, data_dir)

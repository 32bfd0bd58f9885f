"""model_files: the start-up check of an export's files, without TensorFlow."""
import struct

import pytest

from pipelines.serving import model_files
from pipelines.core.rejects import JobError


def _field(number, wire, payload):
    key = bytes([number << 3 | wire])
    if wire == 2:
        return key + bytes([len(payload)]) + payload
    return key + payload


def test_protobuf_fields_reads_a_message_and_refuses_garbage():
    msg = _field(1, 0, b"\x01") + _field(2, 2, b"graph") + _field(2, 2, b"two")
    assert model_files.protobuf_fields(msg) == {1: [1], 2: [b"graph", b"two"]}
    for bad in (msg[:-2], b"\x07garbage", b"\x00", b"\xff" * 20):
        with pytest.raises(ValueError):
            model_files.protobuf_fields(bad)


def test_shard_extents_needs_the_tables_footer():
    with pytest.raises(ValueError, match="footer"):
        model_files.shard_extents(b"\0" * 100)
    with pytest.raises(ValueError, match="footer"):
        model_files.shard_extents(struct.pack("<Q", model_files.TABLE_MAGIC))


def test_a_folder_without_saved_model_pb_is_one_line(tmp_path):
    with pytest.raises(JobError, match="saved_model.pb is not a SavedModel"):
        model_files.check_export_files(str(tmp_path))

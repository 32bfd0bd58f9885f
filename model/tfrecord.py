"""TFRecord framing without TensorFlow, written once: a record is its length (uint64,
little-endian), the masked CRC32C of the length, the data, and the masked CRC32C of the data (the
format tf.data reads). The Beam jobs write and read shards with it (pipelines/core/tfrecord.py),
training's data check reads a shard's first record with it (model/data.py); a test checks it
against TensorFlow's writer and reader (tests/unit/test_schema.py)."""
from __future__ import annotations

import struct
from typing import BinaryIO, Iterator

import google_crc32c

HEADER_BYTES = 12   # length + its CRC
CRC_BYTES = 4


def masked_crc(data: bytes) -> bytes:
    crc = google_crc32c.value(data)
    return struct.pack("<I", (((crc >> 15) | (crc << 17)) + 0xA282EAD8) & 0xFFFFFFFF)


def frame(record: bytes) -> bytes:
    length = struct.pack("<Q", len(record))
    return length + masked_crc(length) + record + masked_crc(record)


def read_records(stream: BinaryIO) -> Iterator[bytes]:
    """The records of a decompressed TFRecord stream, to its end. Raises ValueError ('truncated
    record', 'corrupt record') at the first damaged one, after yielding those before it."""
    while header := stream.read(HEADER_BYTES):
        if len(header) < HEADER_BYTES:
            raise ValueError("truncated record: the stream ends inside a record's length")
        if masked_crc(header[:8]) != header[8:]:
            raise ValueError("corrupt record: its length fails its checksum")
        (length,) = struct.unpack("<Q", header[:8])
        data = stream.read(length)
        crc = stream.read(CRC_BYTES)
        if len(data) < length or len(crc) < CRC_BYTES:
            raise ValueError(f"truncated record: {len(data)} of {length} bytes")
        if masked_crc(data) != crc:
            raise ValueError("corrupt record: its data fails its checksum")
        yield data

"""TFRecord framing without TensorFlow: length, masked CRC32C of the length, data, masked CRC32C
of the data (the format tf.data reads)."""
from __future__ import annotations

import struct

import google_crc32c


def _masked_crc(data: bytes) -> bytes:
    crc = google_crc32c.value(data)
    return struct.pack("<I", (((crc >> 15) | (crc << 17)) + 0xA282EAD8) & 0xFFFFFFFF)


def frame(record: bytes) -> bytes:
    length = struct.pack("<Q", len(record))
    return length + _masked_crc(length) + record + _masked_crc(record)

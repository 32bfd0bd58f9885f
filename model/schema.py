"""The TFRecord example schema: one place for the feature keys, used by the Beam writer and the
tf.data reader.

`encode_example` writes a `tf.train.Example` protobuf by hand (the wire format is tiny), so the
Beam workers that build examples never import TensorFlow: in multi-process mode each import costs
seconds and most of a GiB. A test proves TensorFlow parses these bytes exactly like its own.
"""
from __future__ import annotations

import struct
from typing import Any, Iterable

from model import mistakes
from model.errors import JobError

SCHEMA_VERSION = 1

KEY = "key"                  # stable id: source name + path of the image inside its dataset root
SOURCE = "source"            # the KIND, or the folder source's NAME
IMAGE = "image"              # RGB JPEG, image_size x image_size
MASK = "mask"                # single-channel PNG, alpha 0..255, same size as image
ORIG_HEIGHT = "orig_height"  # the original image's size, upright (after EXIF orientation)
ORIG_WIDTH = "orig_width"
IMAGE_SIZE = "image_size"
VERSION = "schema_version"

BYTES_FEATURES = (KEY, SOURCE, IMAGE, MASK)
INT_FEATURES = (ORIG_HEIGHT, ORIG_WIDTH, IMAGE_SIZE, VERSION)

SPLITS = ("train", "val", "test")
SHARD_SUFFIX = ".tfrecord.gz"

# The data folder's contract: OUT/manifest.json and the tf.Transform analysis in OUT/transform/.
MANIFEST_FILE = "manifest.json"
TRANSFORM_DIR = "transform"


def shard_pattern(data_dir: str, split: str) -> str:
    return f"{data_dir.rstrip('/')}/{split}/*{SHARD_SUFFIX}"


def _varint(value: int) -> bytes:
    if value < 0:
        value += 1 << 64
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _field(number: int, payload: bytes) -> bytes:
    """A length-delimited protobuf field."""
    return _varint((number << 3) | 2) + _varint(len(payload)) + payload


def _feature(value) -> bytes:
    if isinstance(value, (bytes, str)):
        raw = value.encode("utf-8") if isinstance(value, str) else value
        return _field(1, _field(1, raw))                       # Feature.bytes_list.value
    if isinstance(value, int):
        return _field(3, _field(1, _varint(value)))             # Feature.int64_list (packed)
    if isinstance(value, float):
        return _field(2, _field(1, struct.pack("<f", value)))   # Feature.float_list (packed)
    raise TypeError(f"unsupported feature value {type(value).__name__}")


def encode_example(features: dict) -> bytes:
    """Serialises {name: bytes | str | int | float} as a tf.train.Example."""
    entries = b"".join(
        _field(1, _field(1, name.encode("utf-8")) + _field(2, _feature(value)))
        for name, value in sorted(features.items()))
    return _field(1, entries)


def make_example(key: str, source: str, image_jpeg: bytes, mask_png: bytes,
                 orig_height: int, orig_width: int, image_size: int) -> bytes:
    return encode_example({
        KEY: key, SOURCE: source, IMAGE: image_jpeg, MASK: mask_png,
        ORIG_HEIGHT: int(orig_height), ORIG_WIDTH: int(orig_width),
        IMAGE_SIZE: int(image_size), VERSION: SCHEMA_VERSION,
    })


def _read_varint(data: bytes, pos: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        if pos >= len(data):
            raise ValueError("truncated varint")
        byte = data[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, pos
        shift += 7
        if shift > 63:
            raise ValueError("varint too long")


def _fields(data: bytes) -> Iterable[tuple[int, int, Any]]:
    """(field number, wire type, value) of a protobuf message: int for varints, bytes otherwise."""
    pos = 0
    while pos < len(data):
        tag, pos = _read_varint(data, pos)
        number, wire = tag >> 3, tag & 7
        if wire == 0:
            value, pos = _read_varint(data, pos)
        elif wire == 1:
            value, pos = data[pos:pos + 8], pos + 8
        elif wire == 2:
            length, pos = _read_varint(data, pos)
            value, pos = data[pos:pos + length], pos + length
        elif wire == 5:
            value, pos = data[pos:pos + 4], pos + 4
        else:
            raise ValueError(f"unsupported wire type {wire}")
        if pos > len(data):
            raise ValueError("truncated field")
        yield number, wire, value


def _feature_values(feature: bytes) -> list:
    values = []
    for kind, _, payload in _fields(feature):
        for number, wire, value in _fields(payload):
            if number != 1:
                continue
            if kind == 1:                                    # bytes_list
                values.append(bytes(value))
            elif kind == 2:                                  # float_list, packed or not
                values.extend(struct.unpack(f"<{len(value) // 4}f", value))
            elif kind == 3:                                  # int64_list, packed or not
                if wire == 0:
                    ints = [value]
                else:
                    ints, p = [], 0
                    while p < len(value):
                        v, p = _read_varint(value, p)
                        ints.append(v)
                values.extend(v - (1 << 64) if v >= 1 << 63 else v for v in ints)
    return values


def decode_example(data: bytes) -> dict:
    """A serialized tf.train.Example -> {name: first value (bytes, int or float) or None},
    without TensorFlow (the inverse of `encode_example`)."""
    out = {}
    for number, _, features in _fields(data):
        if number != 1:
            continue
        for entry_number, _, entry in _fields(features):
            if entry_number != 1:
                continue
            name, feature = None, b""
            for n, _, v in _fields(entry):
                if n == 1:
                    name = bytes(v).decode("utf-8")
                elif n == 2:
                    feature = v
            if name is not None:
                values = _feature_values(feature)
                out[name] = values[0] if values else None
    return out


def feature_spec() -> dict:
    import tensorflow as tf

    spec = {name: tf.io.FixedLenFeature([], tf.string) for name in BYTES_FEATURES}
    spec.update({name: tf.io.FixedLenFeature([], tf.int64) for name in INT_FEATURES})
    return spec


# --------------------------------------------------------------------------------------------
# The data folder's check, shared by training (tf.io.gfile) and the pipelines (Beam's
# FileSystems, which reaches the GCS emulator the tests use): the caller passes its file
# operations, so model/ never imports Beam.
# --------------------------------------------------------------------------------------------

def check_data_folder(data_dir: str, splits, *, is_dir, exists, read_bytes, glob) -> tuple:
    """Checks OUT before any work: a folder holding something, its manifest.json (valid JSON,
    this SCHEMA_VERSION, a positive image_size) and shards for each of `splits`.

    `is_dir(path)`: a folder that holds something; `exists(path)`; `read_bytes(path)`;
    `glob(pattern)`: the sorted paths that match. Returns (manifest, {split: shard paths});
    raises JobError saying what is wrong and what to do.
    """
    import json

    if not data_dir:
        raise JobError("--data_dir is empty")
    if not is_dir(data_dir):
        raise JobError(
            mistakes.not_preprocess_output("--data_dir", data_dir, "files")
            if exists(data_dir) else mistakes.missing_input("--data_dir", data_dir))
    manifest_path = f"{data_dir.rstrip('/')}/{MANIFEST_FILE}"
    if not exists(manifest_path):
        # A preprocess run writes its manifest last: no manifest, no finished run.
        raise JobError(mistakes.not_preprocess_output("--data_dir", data_dir, MANIFEST_FILE))
    try:
        manifest = json.loads(read_bytes(manifest_path))
    except ValueError as e:
        raise JobError(f"{manifest_path} is not valid JSON: {e}") from None
    version = manifest.get(VERSION)
    if version != SCHEMA_VERSION:
        raise JobError(f"{manifest_path} has schema_version {version!r}, this code reads "
                       f"{SCHEMA_VERSION}: re-run `cutout preprocess` with this version")
    image_size = manifest.get(IMAGE_SIZE)
    if not isinstance(image_size, int) or image_size <= 0:
        raise JobError(f"{manifest_path} has no valid image_size (got {image_size!r})")
    shards = {}
    for split in splits:
        shards[split] = list(glob(shard_pattern(data_dir, split)))
        if not shards[split]:
            raise JobError(f"no shards match {shard_pattern(data_dir, split)}: the "
                           f"{split!r} split is empty or the data dir is wrong")
    return manifest, shards

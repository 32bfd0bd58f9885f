"""The tf.Transform analysis as a Beam stage: per-image pixel statistics in, `transform/` out.

tf.Transform writes through tf.io.gfile, which can't be pointed at a GCS emulator; it writes to
a local temporary folder and the files are copied to the destination with Beam's FileSystems, so
a gs:// output is written (and tested) the same way as everything else.
"""
from __future__ import annotations

import os
import shutil
import tempfile
import uuid

import apache_beam as beam
from apache_beam.options.pipeline_options import PipelineOptions

from model import transform
from pipelines.core import fileio
from pipelines.core.options import make_pipeline


def _copy_tree(local_dir: str, dest_dir: str) -> None:
    copied = 0
    for folder, _, names in os.walk(local_dir):
        for name in names:
            full = os.path.join(folder, name)
            rel = os.path.relpath(full, local_dir).replace(os.sep, "/")
            with open(full, "rb") as f:
                fileio.write_bytes(fileio.join(dest_dir, *rel.split("/")), f.read())
            copied += 1
    if not copied:
        raise RuntimeError(f"the tf.Transform output in {local_dir} is empty: nothing to copy")


class _WriteTransformFn(beam.DoFn):
    """Copies tf.Transform's local output to the destination, then removes the run's local
    temporary folder (None: nothing of ours to remove)."""

    def __init__(self, dest_dir: str, local_temp_root: str | None):
        self._dest_dir = dest_dir
        self._local_temp_root = local_temp_root

    def process(self, local_dir):
        if local_dir != self._dest_dir:
            _copy_tree(local_dir, self._dest_dir)
        if self._local_temp_root:
            shutil.rmtree(self._local_temp_root, ignore_errors=True)
        yield self._dest_dir


class AnalyzeNormalization(beam.PTransform):
    """PCollection of `transform.image_statistics(...)` dicts -> writes `dest_dir` (a tf.Transform
    output folder); emits `dest_dir` once written."""

    def __init__(self, dest_dir: str, temp_dir: str | None = None, local_runner: bool = True):
        super().__init__()
        self._dest_dir = dest_dir
        self._temp_dir = temp_dir
        # Off the local runner, workers share no disk: tf.Transform then writes straight to the
        # destination (real GCS through tf.io.gfile) and its temp files go under temp_dir.
        self._local_runner = local_runner

    def expand(self, stats):
        import tensorflow_transform.beam as tft_beam
        from tensorflow_transform.tf_metadata import dataset_metadata, schema_utils

        if self._local_runner:
            # Every worker shares this disk: tf.Transform's files stay local (tf.io.gfile can't
            # reach every store, an emulator included) and are copied through FileSystems.
            temp_root = tempfile.mkdtemp(prefix="cutout-tft-")
            local_out = (os.path.join(temp_root, "transform_out")
                         if fileio.is_gcs(self._dest_dir) else self._dest_dir)
        else:
            if not self._temp_dir:
                raise ValueError("a temp folder the workers share (--temp_location) is needed")
            temp_root = fileio.join(self._temp_dir, f"cutout-tft-{uuid.uuid4().hex}")
            local_out = self._dest_dir
        metadata = dataset_metadata.DatasetMetadata(
            schema_utils.schema_from_feature_spec(transform.raw_feature_spec()))
        with tft_beam.Context(temp_dir=fileio.join(temp_root, "tft_tmp"),
                              force_tf_compat_v1=False):
            transform_fn = ((stats, metadata)
                            | "Analyze" >> tft_beam.AnalyzeDataset(transform.preprocessing_fn))
            written = transform_fn | "WriteLocal" >> tft_beam.WriteTransformFn(local_out)
        # WriteTransformFn emits one element once the files are in place.
        return (written
                | "AfterWrite" >> beam.Map(lambda _: local_out)
                | "Copy" >> beam.ParDo(_WriteTransformFn(
                    self._dest_dir, temp_root if self._local_runner else None)))


def write_transform_from_stats(stats: list[dict], dest_dir: str) -> str:
    """Runs the analysis locally on given statistics (tests and small tools)."""
    with make_pipeline(PipelineOptions([])) as p:
        _ = (p | beam.Create(stats, reshuffle=False) | AnalyzeNormalization(dest_dir))
    return dest_dir

"""The preprocess job reads archives and folders from gs:// and writes its outputs there, through
a real GCS emulator server; and its graph builds for Dataflow without submitting."""
import json
import os

import pytest

from pipelines.core import fileio
from pipelines.core.rejects import JobError
from pipelines.preprocess import job as preprocess
from tests.cutout_support import upload_tree


def test_gcs_sources_and_output(synthetic_raw, preprocessed, gcs_bucket):
    raw, _ = synthetic_raw
    _, local_manifest = preprocessed
    upload_tree(raw / "people_segmentation", f"{gcs_bucket}/raw/people_segmentation")
    with open(raw / "P3M-10k.zip", "rb") as f:
        fileio.write_bytes(f"{gcs_bucket}/raw/P3M-10k.zip", f.read())
    out = f"{gcs_bucket}/out"
    manifest = preprocess.run([
        "--source", f"p3m10k={gcs_bucket}/raw/P3M-10k.zip",
        "--source", f"people_seg={gcs_bucket}/raw/people_segmentation",
        "--output_dir", out, "--image_size", "48",
        # A temp location on GCS too, as users pass out of habit: the local runner keeps
        # tf.Transform's files local all the same, and still publishes transform/ to OUT.
        "--temp_location", f"{gcs_bucket}/tmp"])
    # Same counts as the local run of the same sources.
    for source in ("p3m10k", "people_seg"):
        assert manifest["counts"][source] == local_manifest["counts"][source]
    names = {p[len(out) + 1:] for p, _ in fileio.list_files(out)}
    assert "manifest.json" in names
    assert "transform/transform_fn/saved_model.pb" in names
    assert any(n.startswith("train/train-") and n.endswith(".tfrecord.gz") for n in names)
    assert any(n.startswith("_rejected/rejected-") for n in names)
    assert json.loads(fileio.read_bytes(f"{out}/manifest.json")) == manifest
    with pytest.raises(JobError, match="not empty"):
        preprocess.run(["--source", f"p3m10k={gcs_bucket}/raw/P3M-10k.zip", "--output_dir", out])


def test_graph_builds_for_dataflow_offline(synthetic_raw, gcs_bucket):
    """--dry_run builds and pickles the whole job for the DataflowRunner without submitting."""
    raw, _ = synthetic_raw
    with open(raw / "P3M-10k.zip", "rb") as f:
        fileio.write_bytes(f"{gcs_bucket}/raw/P3M-10k.zip", f.read())
    setup_py = os.path.join(os.path.dirname(__file__), "..", "..", "setup.py")
    result = preprocess.run([
        "--source", f"p3m10k={gcs_bucket}/raw/P3M-10k.zip",
        "--output_dir", f"{gcs_bucket}/dataflow_out",
        "--runner", "DataflowRunner", "--dry_run=True", "--project", "cutout-test",
        "--region", "europe-west4", "--temp_location", f"{gcs_bucket}/tmp",
        "--setup_file", os.path.abspath(setup_py)])
    assert result == {}
    # Nothing was written: a dry run never runs the job.
    assert fileio.list_files(f"{gcs_bucket}/dataflow_out") == []
    with pytest.raises(JobError, match="can't reach the local path"):
        preprocess.run(["--source", f"p3m10k={raw}/P3M-10k.zip",
                        "--output_dir", f"{gcs_bucket}/dataflow_out2",
                        "--runner", "DataflowRunner", "--dry_run=True", "--project", "p",
                        "--region", "r", "--temp_location", f"{gcs_bucket}/tmp"])

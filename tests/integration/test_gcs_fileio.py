"""The project's file helpers round-trip bytes through a real GCS emulator server."""
import os

from google.cloud import storage

from pipelines.core import fileio


def test_write_read_list_through_emulator(gcs_bucket):
    payload = os.urandom(200_000)
    path = fileio.join(gcs_bucket, "a", "b", "blob.bin")
    fileio.write_bytes(path, payload, mime_type="image/png")
    fileio.write_bytes(fileio.join(gcs_bucket, "a", "c.txt"), b"hello")

    assert fileio.read_bytes(path) == payload
    assert fileio.exists(path)
    assert not fileio.exists(fileio.join(gcs_bucket, "a", "missing"))
    assert fileio.list_files(gcs_bucket + "/a") == [
        (f"{gcs_bucket}/a/b/blob.bin", len(payload)), (f"{gcs_bucket}/a/c.txt", 5)]

    # The bytes really live in the server: read them back with the plain client.
    client = storage.Client(project="cutout-test")
    blob = client.bucket(gcs_bucket[5:]).get_blob("a/b/blob.bin")
    assert blob.download_as_bytes() == payload
    assert blob.content_type == "image/png"


def test_refuses_non_empty_output(gcs_bucket, tmp_path):
    fileio.ensure_empty_or_absent(gcs_bucket + "/out")
    fileio.write_bytes(gcs_bucket + "/out/x", b"1")
    try:
        fileio.ensure_empty_or_absent(gcs_bucket + "/out")
    except ValueError as e:
        assert "not empty" in str(e)
    else:
        raise AssertionError("a non-empty gs:// output was accepted")
    fileio.ensure_empty_or_absent(str(tmp_path / "absent"))
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "f").write_bytes(b"x")
    try:
        fileio.ensure_empty_or_absent(str(tmp_path / "full"))
    except ValueError:
        pass
    else:
        raise AssertionError("a non-empty local output was accepted")

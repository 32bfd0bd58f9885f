"""fileio.escapes: the one inside-DEST test behind every write under DEST."""
import os

import pytest

from model.errors import JobError
from pipelines.core import dest_guard, fileio, reject_io


@pytest.fixture
def dest_and_outside(tmp_path):
    dest, outside = tmp_path / "dest", tmp_path / "outside"
    (dest / "sub").mkdir(parents=True)
    outside.mkdir()
    os.symlink(outside, dest / "linked")
    return str(dest), str(outside)


def test_paths_inside_dest_do_not_escape(dest_and_outside):
    dest, _ = dest_and_outside
    root = fileio.resolved(dest)
    assert not fileio.escapes(os.path.join(dest, "a.png"), root)
    assert not fileio.escapes(os.path.join(dest, "sub", "a.png"), root)
    assert not fileio.escapes(os.path.join(dest, "new", "deeper", "a.png"), root)


def test_a_folder_linked_elsewhere_escapes(dest_and_outside):
    dest, _ = dest_and_outside
    root = fileio.resolved(dest)
    assert fileio.escapes(os.path.join(dest, "linked", "a.png"), root)
    assert fileio.escapes(os.path.join(dest, "..", "elsewhere.png"), root)


def test_gcs_paths_and_no_root_never_escape(dest_and_outside):
    dest, _ = dest_and_outside
    assert not fileio.escapes("gs://bucket/dest/a.png", fileio.resolved(dest))
    assert not fileio.escapes(os.path.join(dest, "linked", "a.png"), None)


def test_the_three_callers_refuse_the_same_path_in_their_own_words(dest_and_outside):
    dest, _ = dest_and_outside
    root, bad = fileio.resolved(dest), os.path.join(dest, "linked", "a.png")
    with pytest.raises(JobError, match="outside"):
        dest_guard.checked_path(bad, root)
    with pytest.raises(PermissionError, match="outside"):
        reject_io.check_inside(bad, root)
    good = os.path.join(dest, "sub", "a.png")
    assert dest_guard.checked_path(good, root) == good
    assert reject_io.check_inside(good, root) == good

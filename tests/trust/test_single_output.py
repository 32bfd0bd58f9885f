"""Issue 20, class 3: `cutout one` writes or replaces only a regular file or a missing path. A
FIFO, a socket, a device or a link to one is refused with one line (exit 2), never opened for
writing (a FIFO opened for writing would block: the timeout is the proof)."""
import os
import socket
import stat

import pytest

from tests.trust import support as ts


def _one(tmp_path, model_dir, out, *extra):
    photo = tmp_path / "photo.png"
    if not photo.exists():
        photo.write_bytes(ts.PHOTO)
    return ts.run_module(ts.ONE, photo, out, "--model", model_dir, *extra, timeout=150)


@pytest.mark.timeout(200)
@pytest.mark.parametrize("kind", ["fifo", "link_to_dev_null", "link_to_fifo", "socket",
                                  "dangling_link_into_dev"])
def test_an_output_that_is_no_regular_file_is_refused(tmp_path, model_dir, kind):
    out = tmp_path / "out.png"
    sock = None
    if kind == "fifo":
        os.mkfifo(out)
    elif kind == "link_to_dev_null":
        os.symlink("/dev/null", out)
    elif kind == "link_to_fifo":
        os.mkfifo(tmp_path / "pipe")
        os.symlink(tmp_path / "pipe", out)
    elif kind == "socket":
        sock = socket.socket(socket.AF_UNIX)
        sock.bind(str(out))
    else:
        os.symlink("/dev/cutout-test-missing", out)
    before = os.lstat(out)
    try:
        proc = _one(tmp_path, model_dir, out)
    finally:
        if sock:
            sock.close()
    line = ts.one_line_error(proc)
    assert "out.png" in line
    after = os.lstat(out)
    assert (stat.S_IFMT(after.st_mode), after.st_ino) == (stat.S_IFMT(before.st_mode),
                                                          before.st_ino)
    assert stat.S_ISCHR(os.stat("/dev/null").st_mode)


@pytest.mark.timeout(200)
def test_the_mask_beside_an_output_is_checked_too(tmp_path, model_dir):
    os.mkfifo(tmp_path / "out.mask.png")
    proc = _one(tmp_path, model_dir, tmp_path / "out.png", "--output", "both")
    assert "out.mask.png" in ts.one_line_error(proc)
    assert not (tmp_path / "out.png").exists()   # nothing written when one target is refused
    assert stat.S_ISFIFO(os.lstat(tmp_path / "out.mask.png").st_mode)


@pytest.mark.timeout(200)
def test_a_regular_file_or_a_missing_path_is_written(tmp_path, model_dir):
    (tmp_path / "old.png").write_bytes(b"old")
    for name in ("old.png", "new.png"):
        proc = _one(tmp_path, model_dir, tmp_path / name)
        assert proc.returncode == 0, proc.stderr[-3000:]
        assert (tmp_path / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

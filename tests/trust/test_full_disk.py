"""Issue 20, class 6: a full disk (a real 2 MiB tmpfs) is one line or rejects, never a traceback;
the inputs not done are countable (rejects, or a re-run that finishes them); DEST/_tmp/ holds
nothing of a finished or dead run."""
import os
import subprocess

import numpy as np
import pytest
from PIL import Image

from tests import cutout_support as cs
from tests.trust import support as ts


@pytest.fixture
def small_disk(tmp_path):
    disk = tmp_path / "disk"
    disk.mkdir()
    proc = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(disk)],
                          capture_output=True, text=True)
    if proc.returncode != 0:
        pytest.skip(f"can't mount a tmpfs here (needs root): {proc.stderr.strip()}")
    try:
        yield disk
    finally:
        subprocess.run(["umount", "-l", str(disk)], check=False)


def _noisy_photos(folder, n):
    rng = np.random.default_rng(3)
    for i in range(n):
        rgb = rng.integers(0, 255, (300, 300, 3), dtype=np.uint8)
        rgb[80:220, 80:220] = 230
        cs.write(os.path.join(folder, f"n{i:02d}.png"), cs.encode(Image.fromarray(rgb), "PNG"))


def _tmp_files(dest):
    return [f for _, _, fs in os.walk(os.path.join(dest, "_tmp")) for f in fs]


@pytest.mark.timeout(600)
def test_outputs_that_fill_the_disk(tmp_path, small_disk, model_dir):
    arena = ts.Arena(tmp_path)
    _noisy_photos(arena.src, 10)   # ~10 x 360 kB of cut-outs on a 2 MiB disk
    arena.seal()
    dest = small_disk / "out"
    proc = ts.run_module(ts.RB, "--input", arena.src, "--output_dir", dest, "--model",
                         model_dir, "--png_compression", "fast", timeout=400)
    if proc.returncode != 0:
        line = ts.one_line_error(proc, proc.returncode)
        assert "space" in line.lower() or "disk" in line.lower()
    else:
        written = len(ts.outputs(dest))
        rejected = ts.dest_rejects(dest)
        assert written + len(rejected) == 10 and set(rejected.values()) == {"write_failed"}
    assert "Traceback" not in proc.stderr
    assert _tmp_files(dest) == []
    subprocess.run(["mount", "-o", "remount,size=40m", str(small_disk)], check=True)
    again = ts.run_module(ts.RB, "--input", arena.src, "--output_dir", dest, "--model",
                          model_dir, "--png_compression", "fast", timeout=400)
    assert again.returncode == 0, again.stderr[-3000:]
    assert len(ts.outputs(dest)) == 10
    latest = {line["input"]: line for line in ts.index_lines(dest)}
    assert sorted(n for line in latest.values() for n in line["outputs"]) == sorted(
        ts.outputs(dest))
    assert _tmp_files(dest) == []
    arena.check()


@pytest.mark.timeout(300)
def test_a_disk_already_full_is_one_line_before_any_work(tmp_path, small_disk, model_dir):
    arena = ts.Arena(tmp_path)
    arena.photos()
    arena.seal()
    filler = small_disk / "filler"
    with open(filler, "wb") as f:
        try:
            while True:
                f.write(b"\0" * 65536)
        except OSError:
            pass
    dest = small_disk / "out"
    proc = ts.run_module(ts.RB, "--input", arena.src, "--output_dir", dest, "--model", model_dir,
                         timeout=200)
    line = ts.one_line_error(proc)
    assert "space" in line.lower()
    assert ts.everything(small_disk) <= {"filler", "out"} and _tmp_files(dest) == []
    arena.check()

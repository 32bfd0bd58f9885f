"""Issue 20, class 9 (warnings): a decompression bomb is a reject (`too_many_pixels`), and
Pillow's DecompressionBombWarning never reaches the terminal."""
import os

import pytest
from PIL import Image

from tests.trust import support as ts


PILLOW_DEFAULT_LIMIT = int(1024 * 1024 * 1024 // 4 // 3)  # PIL.Image's default


def _bomb(path):
    """A PNG just over Pillow's pixel limit (a warning, not yet its error), tiny on disk."""
    # Pillow's own default, not Image.MAX_IMAGE_PIXELS: another test in this process may have
    # raised that global (imaging._let_pillow_open); the job runs in a fresh process.
    side = int((PILLOW_DEFAULT_LIMIT * 1.05) ** 0.5) + 1
    Image.new("1", (side, side)).save(path, optimize=True)


@pytest.mark.timeout(400)
def test_a_bomb_is_a_reject_and_no_warning_is_printed(tmp_path, model_dir):
    arena = ts.Arena(tmp_path)
    arena.photos(["a.png"])
    _bomb(arena.src / "bomb.png")
    arena.seal()
    proc = arena.rb("--model", model_dir)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert ts.dest_rejects(arena.dest) == {"bomb.png": "too_many_pixels"}
    assert "Warning" not in proc.stderr and "Warning" not in proc.stdout
    one = ts.run_module(ts.ONE, arena.src / "bomb.png", tmp_path / "o.png", "--model",
                        model_dir, timeout=200)
    assert "too_many_pixels" in ts.one_line_error(one, 1)
    assert not os.path.exists(tmp_path / "o.png")
    arena.check()

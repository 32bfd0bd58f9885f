"""Every entry point turns a bad flag value into one line on stderr and exit status 2 (issue 19):
the jobs (`python -m pipelines.<job>`), training, the one-image tool, and the `cutout` command.
The shared flags (--inference_threads, --max_pixels, --max_file_bytes) are checked once, for every
job that takes them (pipelines.core.options.check_shared_flags)."""
import os
import subprocess
import sys

import pytest

from tests.cutout_support import REPO_ROOT

CUTOUT = os.path.join(os.path.dirname(sys.executable), "cutout")


def _inputs(tmp_path) -> dict:
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "a.jpg").write_bytes(b"x")
    (tmp_path / "model").mkdir()
    return {"in": str(tmp_path / "in"), "model": str(tmp_path / "model"),
            "out": str(tmp_path / "out")}


CASES = {
    "preprocess --image_size 0": (
        [sys.executable, "-m", "pipelines.preprocess", "--source", "folder={in}",
         "--output_dir", "{out}", "--image_size", "0"], "preprocess: error: --image_size 0"),
    "remove_background --inference_threads -1": (
        [sys.executable, "-m", "pipelines.remove_background", "--input", "{in}",
         "--output_dir", "{out}", "--model", "{model}", "--inference_threads", "-1"],
        "remove_background: error: --inference_threads -1"),
    "evaluate --inference_threads -1": (
        [sys.executable, "-m", "pipelines.evaluate", "--pred_dir", "{in}", "--gt_dir", "{in}",
         "--report_dir", "{out}", "--inference_threads", "-1"],
        "evaluate: error: --inference_threads -1"),
    "evaluate --max_file_bytes 0": (
        [sys.executable, "-m", "pipelines.evaluate", "--pred_dir", "{in}", "--gt_dir", "{in}",
         "--report_dir", "{out}", "--max_file_bytes", "0"],
        "evaluate: error: --max_file_bytes 0"),
    "model.train --epochs 0": (
        [sys.executable, "-m", "model.train", "--data_dir", "{in}", "--model_dir", "{out}",
         "--epochs", "0"], "model.train: error: --epochs must be >= 1"),
    "cutout one --max_pixels 0": (
        [sys.executable, "-m", "pipelines.cutout", "{in}/a.jpg", "{out}.png", "--model",
         "{model}", "--max_pixels", "0"], "cutout: error: --max_pixels 0"),
    "cutout remove --max_pixels 0": (
        [CUTOUT, "remove", "--input", "{in}", "--output_dir", "{out}", "--model", "{model}",
         "--max_pixels", "0"], "cutout remove: error: --max_pixels 0"),  # named as typed
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_a_bad_flag_value_is_one_line_and_exit_2(case, tmp_path):
    command, first_words = CASES[case]
    paths = _inputs(tmp_path)
    command = [part.format(**paths) for part in command]
    env = dict(os.environ, PYTHONPATH=REPO_ROOT)
    proc = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True,
                          timeout=300)
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert len(lines) == 1 and lines[0].startswith(first_words), proc.stderr[-2000:]
    assert not os.path.exists(paths["out"])  # refused before any work

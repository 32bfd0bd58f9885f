"""Strict flags, help habits and the positional forms, as users type them (`cutout ...` and
`python -m ...` in subprocesses): a misspelt flag is one line naming it and the nearest known
flag, exit 2, before any work (nothing created, no model read)."""
import json
import os
import subprocess
import sys

import pytest
from PIL import Image

from tests.cutout_support import REPO_ROOT as ROOT

CUTOUT = os.path.join(os.path.dirname(sys.executable), "cutout")
MODULES = {"preprocess": "pipelines.preprocess", "train": "model.train",
           "remove": "pipelines.remove_background", "evaluate": "pipelines.evaluate",
           "one": "pipelines.cutout", "review": "pipelines.remove_background.review_page"}


def _cutout(args, cwd, timeout=120):
    return subprocess.run([CUTOUT, *args], cwd=cwd, capture_output=True, text=True,
                          timeout=timeout)


def _python_m(module, args, cwd, timeout=120):
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([ROOT, os.environ.get("PYTHONPATH", "")]))
    return subprocess.run([sys.executable, "-m", module, *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=timeout)


def _photos(folder, n=3):
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        Image.new("RGB", (40, 30), (20 * i, 200, 30)).save(folder / f"p{i}.jpg")


# command -> (a command line with one misspelt flag, the flag, the suggestion, what it would create)
MISSPELT = {
    "preprocess": (["--source", "folder=raw", "--output_dir", "out", "--image_sise", "64"],
                   "--image_sise", "--image_size", "out"),
    "train": (["--data_dir", "data", "--model_dir", "mdl", "--epoch", "1"],
              "--epoch", "--epochs", "mdl"),
    "remove": (["--input", "raw", "--output_dir", "dest", "--model", "m/export",
                "--backgroud", "white"], "--backgroud", "--background", "dest"),
    "evaluate": (["--data_dir", "data", "--model", "m/export", "--report_dir", "rep",
                  "--splitt", "test"], "--splitt", "--split", "rep"),
    "one": (["raw/p0.jpg", "o.png", "--model", "m/export", "--refin", "none"],
            "--refin", "--refine", "o.png"),
    "review": (["dest", "--bellow", "0.5"], "--bellow", "--below", "dest"),
}


@pytest.mark.parametrize("via", ["cutout", "python -m"])
@pytest.mark.parametrize("command", sorted(MISSPELT))
def test_a_misspelt_flag_is_one_line_and_exit_2_before_any_work(command, via, tmp_path):
    _photos(tmp_path / "raw")
    argv, flag, suggestion, created = MISSPELT[command]
    proc = (_cutout([command, *argv], tmp_path) if via == "cutout"
            else _python_m(MODULES[command], argv, tmp_path))
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, lines
    assert f"unknown flag {flag} (did you mean {suggestion}?)" in lines[0]
    prog = (f"cutout {command}" if via == "cutout" or command == "review"
            else f"python -m {MODULES[command]}")
    assert lines[0].startswith(f"{prog}: error:"), lines[0]
    assert not (tmp_path / created).exists()  # nothing claimed, nothing written


def test_no_prefix_abbreviations(tmp_path):
    # argparse would take --epoch for --epochs, and --out for --output_dir.
    proc = _cutout(["train", "--data_dir", "d", "--model_dir", "m", "--epoch", "1"], tmp_path)
    assert proc.returncode == 2 and "did you mean --epochs?" in proc.stderr
    proc = _cutout(["remove", "--input", "i", "--out", "dest", "-m", "m"], tmp_path)
    assert proc.returncode == 2 and "unknown flag --out " in proc.stderr
    assert not (tmp_path / "dest").exists()


def test_another_commands_flag_is_named_as_such(tmp_path):
    proc = _cutout(["preprocess", "--source", "folder=x", "-o", "out", "--model", "m"], tmp_path)
    assert proc.returncode == 2
    assert "cutout preprocess does not take --model" in proc.stderr


@pytest.mark.parametrize("command,listed,unlisted", [
    ("preprocess", ["--source", "--output_dir", "--max_file_bytes"],
     ["--model", "--inference_threads"]),
    ("evaluate", ["--data_dir", "--model", "--report_dir"], ["--output_dir", "--max_pixels"]),
    ("remove", ["--input", "-o OUTPUT_DIR, --output_dir", "-m MODEL, --model", "IN", "OUT"],
     []),
    ("train", ["--data_dir", "--epochs"], ["--runner"]),
    ("one", ["-m MODEL, --model", "-o OUTPUT_DIR, --output_dir"], ["--runner"]),
])
def test_help_shows_the_command_its_own_flags_required_and_defaults(command, listed, unlisted,
                                                                     tmp_path):
    proc = _cutout([command, "--help"], tmp_path)
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    assert out.startswith(f"usage: cutout {command} "), out[:80]
    for flag in listed:
        assert flag in out, flag
    options = out.split("Standard Beam options")[0]
    for flag in unlisted:
        assert f"{flag} " not in options, flag
    assert "(required)" in out and "(default: " in out
    if command in ("preprocess", "evaluate", "remove"):
        beam = out.split("Standard Beam options")[1]
        for flag in ("--runner", "--project", "--region", "--temp_location", "--setup_file",
                     "--sdk_container_image", "--direct_num_workers", "--direct_running_mode",
                     "--dry_run"):
            assert flag in beam, flag


def test_python_m_help_names_the_module(tmp_path):
    proc = _python_m("pipelines.remove_background", ["--help"], tmp_path)
    assert proc.returncode == 0
    assert proc.stdout.startswith("usage: python -m pipelines.remove_background ")


def test_version(tmp_path):
    proc = _cutout(["--version"], tmp_path)
    assert proc.returncode == 0
    assert proc.stdout.strip().startswith("cutout ") and proc.stdout.strip() != "cutout"


def _plan(tmp_path, args):
    proc = _cutout(["remove", *args, "--plan_only"], tmp_path, timeout=300)
    assert proc.returncode == 0, proc.stderr
    return json.loads((tmp_path / "dest" / "_summary.json").read_text())


def test_positional_short_and_beam_flags_reach_the_job(tmp_path):
    _photos(tmp_path / "raw")
    # IN OUT, and Beam's own runner options pass through to Beam.
    summary = _plan(tmp_path, ["raw", "dest", "--runner", "DirectRunner",
                               "--direct_num_workers", "1", "--direct_running_mode", "in_memory"])
    assert summary["planned"] == 3
    assert summary["options"]["input"] == "raw"
    assert summary["options"]["output_dir"].endswith("dest")
    # -i / -o, and --flag=value
    (tmp_path / "dest" / "_summary.json").unlink()
    summary = _plan(tmp_path, ["-i", "raw", "-o=dest", "--max_pixels=100000"])
    assert summary["planned"] == 3 and summary["options"]["max_pixels"] == 100000


@pytest.mark.parametrize("args,words", [
    (["raw", "dest", "--input", "raw"], "give IN OUT or --input and --output_dir, not both"),
    (["raw", "dest", "-o", "d2"], "not both"),
    (["raw"], "give IN OUT (2 paths; got 1"),
    (["raw", "dest", "more"], "give IN OUT (2 paths; got 3"),
    (["--input", "raw", "--input", "raw2", "-o", "dest"], "--input is given twice"),
])
def test_remove_positional_form_mistakes(args, words, tmp_path):
    proc = _cutout(["remove", *args, "-m", "m/export"], tmp_path)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and words in lines[0], lines
    assert not (tmp_path / "dest").exists()

"""The `cutout` console command as a newcomer meets it: every subcommand's help, the whole demo
chain through it without the native libraries' alarming start-up lines, and a job run from a
folder that holds a `model/` folder of the user's own."""
import json
import os
import subprocess
import sys

import pytest
from PIL import Image

from model import console
from pipelines import cli
from tests.cutout_support import REPO_ROOT as ROOT

CUTOUT = os.path.join(os.path.dirname(sys.executable), "cutout")
# What a newcomer must not see on a correct CPU-only run.
ALARMING = ("cuInit", "CUDA error", "absl::InitializeLog", "oneDNN custom operations",
            "cpu_feature_guard", "Discarding unparseable args", "semi_persistent_directory",
            "You are passing instance dicts", "Resource module is not available")


def _run(args, cwd, timeout=300):
    proc = subprocess.run([CUTOUT, *args], cwd=cwd, capture_output=True, text=True,
                          timeout=timeout)
    assert proc.returncode == 0, f"cutout {args[0]} failed:\n{proc.stdout}\n{proc.stderr}"
    return proc.stdout + proc.stderr


def _assert_quiet(output):
    seen = [line for line in output.splitlines() if any(a in line for a in ALARMING)]
    assert not seen, f"alarming start-up lines: {seen[:3]}"


@pytest.mark.parametrize("command", sorted(cli.COMMANDS))
def test_every_subcommand_prints_its_flags(command, tmp_path):
    out = _run([command, "--help"], cwd=tmp_path)
    expected = {"preprocess": "--source", "train": "--data_dir", "remove": "--input_list",
                "evaluate": "--pred_dir", "one": "--output", "review": "--below",
                "export": "export_dir"}[command]
    assert expected in out
    _assert_quiet(out)


def test_unknown_command_is_one_clear_line_and_exit_2(tmp_path):
    proc = subprocess.run([CUTOUT, "shrink"], cwd=tmp_path, capture_output=True, text=True)
    assert proc.returncode == 2
    assert "unknown command 'shrink'" in proc.stderr


def test_noise_filter_drops_only_known_notices():
    assert console.is_noise("E0000 00:00:1796275910.673015    5102 cuda_platform.cc:52] failed "
                            "call to cuInit: INTERNAL: CUDA error", gpu=False)
    assert console.is_noise("WARNING: All log messages before absl::InitializeLog() is called "
                            "are written to STDERR")
    assert not console.is_noise("E0000 00:00:17.1 5102 bfc_allocator.cc:485] Allocator ran out "
                                "of memory")
    assert not console.is_noise("WARNING remove_background: 3 inputs rejected")


def test_python_level_notices_are_dropped_and_the_rest_passes_whole():
    # Python's own stderr goes through the same filter as fd 2 (model/console.py's pump).
    notices = console.NoticeFilter(gpu=False)
    lines = []
    for text in ("WARNING Worker: severity: WARN message: \"Discarding unparseable args: "
                 "['--output_dir=x']\"", "WARNING You are passing instance dicts and "
                 "DatasetMetadata to TFT which will not provide optimal performance.",
                 "WARNING remove_background: 3 inputs rejected",
                 "Traceback (most recent call last):", "  a partial line"):
        if notices.keep(text):
            lines.append(text)
    assert lines == ["WARNING remove_background: 3 inputs rejected",
                     "Traceback (most recent call last):", "  a partial line"]


@pytest.mark.parametrize("module", ["model.train", "pipelines.remove_background",
                                    "pipelines.synthetic"])
def test_python_m_entry_points_are_quiet_and_take_verbose(module, tmp_path):
    # `python -m` is what Dataflow and the tests run: quiet too, and --verbose is not a job flag.
    env = dict(os.environ, PYTHONPATH=ROOT)
    env.pop("TF_CPP_MIN_LOG_LEVEL", None)
    quiet = subprocess.run([sys.executable, "-m", module, "--help"], cwd=tmp_path, env=env,
                           capture_output=True, text=True, timeout=120)
    assert quiet.returncode == 0 and "--" in quiet.stdout
    _assert_quiet(quiet.stdout + quiet.stderr)
    loud = subprocess.run([sys.executable, "-m", module, "--help", "--verbose"], cwd=tmp_path,
                          env=env, capture_output=True, text=True, timeout=120)
    assert loud.returncode == 0, loud.stderr
    if module == "model.train":  # the one whose --help loads TensorFlow
        assert "absl::InitializeLog" in loud.stderr or "cuInit" in loud.stderr


def test_verbose_shows_the_native_notices(tmp_path):
    proc = subprocess.run([CUTOUT, "train", "--help", "--verbose"], cwd=tmp_path,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0
    assert "absl::InitializeLog" in proc.stderr or "cuInit" in proc.stderr


def test_the_demo_chain_through_the_cutout_command_from_a_folder_holding_model(tmp_path):
    # The user's working folder holds a `model/` folder of their own (their --model_dir), which
    # once shadowed the project's `model` package.
    work = tmp_path / "work"
    (work / "model").mkdir(parents=True)
    out = _run(["one", "--help"], cwd=work)  # imports model.export through pipelines
    from pipelines.synthetic import datasets as synthetic

    synthetic.write_all(str(work / "raw"), pairs=24, seed=3)
    logs = [_run(["preprocess", "--source", "p3m10k=raw/P3M-10k.zip",
                  "--output_dir", "data", "--image_size", "64"], cwd=work)]
    logs.append(_run(["train", "--data_dir", "data", "--model_dir", "model", "--epochs", "1",
                      "--base_filters", "4", "--cpu_replicas", "2"], cwd=work, timeout=900))
    assert os.path.exists(work / "model" / "export" / "saved_model.pb")
    # multi_processing: Beam forwards its workers' start-up logs ("Discarding unparseable
    # args" for every job flag) to this process as log records.
    logs.append(_run(["remove", "--input", "raw/photos", "--output_dir", "cutouts",
                      "--model", "model/export", "--direct_num_workers", "2",
                      "--direct_running_mode", "multi_processing"], cwd=work))
    photos = sorted(os.listdir(work / "raw" / "photos"))
    assert sorted(os.listdir(work / "cutouts")) >= sorted(
        os.path.splitext(p)[0] + ".png" for p in photos if not p.startswith("."))
    logs.append(_run(["evaluate", "--data_dir", "data", "--model", "model/export", "--split",
                      "test", "--report_dir", "report"], cwd=work))
    report = json.loads((work / "report" / "metrics.json").read_text())
    assert report["count"] > 0 and 0 <= report["overall"]["iou"] <= 1
    first = [p for p in sorted((work / "raw" / "photos").iterdir())
             if p.suffix.lower() in (".jpg", ".png")][0]
    logs.append(_run(["one", str(first), "one.png", "--model", "model/export"], cwd=work))
    assert Image.open(work / "one.png").mode == "RGBA"
    for log in [out] + logs:
        _assert_quiet(log)

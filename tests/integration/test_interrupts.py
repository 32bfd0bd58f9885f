"""Ctrl-C and SIGTERM mid-run, as users send them: `cutout remove` on the local runner with two
worker processes is interrupted once it has written some outputs. One line on stderr, exit 130
(143 for SIGTERM), no traceback, no `DEST/_tmp/`, no process of the job left running; the same
command then finishes the rest."""
import json
import os
import re
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
from PIL import Image

from model import interrupts
from tests import cutout_support as cs

CUTOUT = os.path.join(os.path.dirname(sys.executable), "cutout")
PHOTOS = 48


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    return cs.export_brightness_model(str(tmp_path_factory.mktemp("model") / "export"))


@pytest.fixture(scope="module")
def photos(tmp_path_factory):
    folder = tmp_path_factory.mktemp("photos")
    rng = np.random.default_rng(0)
    for i in range(PHOTOS):
        rgb = cs.scene(900, 700)
        rgb = np.clip(rgb.astype(int) + rng.integers(-20, 20, rgb.shape), 0, 255)
        Image.fromarray(rgb.astype(np.uint8)).save(folder / f"p{i:02d}.jpg", quality=90)
    return folder


def _outputs(dest):
    return sorted(p for p in os.listdir(dest) if p.endswith(".png")) if dest.exists() else []


def _session_processes(sid: int) -> list[str]:
    """Processes still alive in the job's session (the job was started as its leader)."""
    alive = []
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat", "rb") as f:
                fields = f.read().rsplit(b")", 1)[1].split()
        except OSError:
            continue
        if int(fields[3]) == sid and fields[0] != b"Z":  # session id; not a zombie
            alive.append(name)
    return alive


def _interrupt_mid_run(photos, dest, model_dir, sig, whole_group=False):
    """Starts `cutout remove` in a session of its own, sends `sig` once an output exists;
    returns (exit status, stderr, outputs written before the signal landed)."""
    proc = subprocess.Popen(
        [CUTOUT, "remove", str(photos), str(dest), "-m", model_dir, "--direct_num_workers", "2",
         "--direct_running_mode", "multi_processing", "--max_batch_size", "2"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    deadline = time.monotonic() + 240
    while not _outputs(dest) and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.1)
    assert proc.poll() is None, "the job ended before it could be interrupted"
    assert _outputs(dest), "no output within 240 s"
    if whole_group:  # what a terminal's Ctrl-C does: every process of the foreground group
        os.killpg(proc.pid, sig)
    else:
        os.kill(proc.pid, sig)
    _, err = proc.communicate(timeout=120)
    time.sleep(0.5)
    assert _session_processes(proc.pid) == [], "processes of the job are still running"
    return proc.returncode, err


@pytest.mark.timeout(900)
@pytest.mark.parametrize("sig,status,whole_group", [(signal.SIGINT, 130, True),
                                                    (signal.SIGTERM, 143, False)])
def test_an_interrupted_remove_is_one_line_and_the_same_command_finishes(
        photos, model_dir, tmp_path, sig, status, whole_group):
    dest = tmp_path / "dest"
    code, err = _interrupt_mid_run(photos, dest, model_dir, sig, whole_group)
    assert code == status, err
    assert "Traceback" not in err, err
    lines = [line for line in err.splitlines() if line.startswith("cutout remove: interrupted")]
    assert len(lines) == 1 and err.strip().splitlines()[-1] == lines[0], err
    assert re.match(r"cutout remove: interrupted after [\d,]+ outputs?; ", lines[0]), lines[0]
    assert lines[0].endswith("; run the same command again to finish")
    done = int(lines[0].split("after ")[1].split()[0])
    assert 1 <= done <= len(_outputs(dest)) < PHOTOS, (done, len(_outputs(dest)))
    assert not (dest / "_tmp").exists()
    rerun = subprocess.run([CUTOUT, "remove", str(photos), str(dest), "-m", model_dir],
                           capture_output=True, text=True, timeout=600)
    assert rerun.returncode == 0, rerun.stderr
    assert len(_outputs(dest)) == PHOTOS


def _index_lines(dest) -> dict:
    counts: dict = {}
    for name in sorted(os.listdir(dest / "_index")):
        for line in (dest / "_index" / name).read_text().splitlines():
            for output in json.loads(line)["outputs"]:
                counts[output] = counts.get(output, 0) + 1
    return counts


@pytest.mark.timeout(900)
def test_after_an_interrupt_and_a_rerun_every_output_has_exactly_one_index_line(
        photos, model_dir, tmp_path):
    dest = tmp_path / "dest"
    code, _ = _interrupt_mid_run(photos, dest, model_dir, signal.SIGINT)
    assert code == 130
    rerun = subprocess.run([CUTOUT, "remove", str(photos), str(dest), "-m", model_dir],
                           capture_output=True, text=True, timeout=600)
    assert rerun.returncode == 0, rerun.stderr
    assert _index_lines(dest) == {name: 1 for name in _outputs(dest)}


def test_the_message_and_the_descendants(tmp_path):
    assert interrupts.message("cutout train", 3, "epochs") == \
        "cutout train: interrupted after 3 epochs; run the same command again to finish"
    assert interrupts.message("cutout one", 1) == \
        "cutout one: interrupted after 1 output; run the same command again to finish"
    assert interrupts.message("cutout evaluate", None) == \
        "cutout evaluate: interrupted; run the same command again to finish"
    # In a process of its own: stopping the test runner's descendants would stop the session's
    # other children too (the GCS emulator, a browser).
    code = ("import os, subprocess, sys\n"
            "from model import interrupts\n"
            "child = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)'])\n"
            "assert child.pid in interrupts.descendants(os.getpid())\n"
            "interrupts.stop_descendants(grace_s=5)\n"
            "assert child.pid not in interrupts.descendants(os.getpid())  # ended, reaped\n"
            "print('stopped')\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120, env=dict(os.environ, PYTHONPATH=cs.REPO_ROOT))
    assert proc.returncode == 0 and proc.stdout.strip() == "stopped", proc.stderr[-2000:]


def _wait_for(predicate, proc, timeout_s=300):
    deadline = time.monotonic() + timeout_s
    while not predicate() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.2)
    assert proc.poll() is None, "the job ended before it could be interrupted"
    assert predicate(), f"not reached within {timeout_s} s"


@pytest.mark.timeout(900)
def test_an_interrupted_train_names_its_epochs_and_the_same_command_resumes(tmp_path):
    from tests.integration.conftest import write_data_dir

    write_data_dir(str(tmp_path / "data"), {"train": 8, "val": 4, "test": 2}, 32)
    command = [CUTOUT, "train", "--data_dir", "data", "--model_dir", "mdl", "--epochs", "40",
               "--base_filters", "4", "--batch_size", "4"]
    proc = subprocess.Popen(command, cwd=tmp_path, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True)
    metrics = tmp_path / "mdl" / "metrics.csv"
    _wait_for(lambda: metrics.exists() and len(metrics.read_text().splitlines()) >= 2, proc)
    os.killpg(proc.pid, signal.SIGINT)  # a terminal's Ctrl-C
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err[-2000:]
    assert "Traceback" not in err
    last = err.strip().splitlines()[-1]
    epochs = len(metrics.read_text().splitlines()) - 1  # the header row
    assert last == (f"cutout train: interrupted after {epochs} epoch{'s' * (epochs != 1)}; "
                    "run the same command again to finish"), last
    assert _session_processes(proc.pid) == []


@pytest.mark.timeout(900)
def test_an_interrupted_preprocess_leaves_out_empty_for_the_same_command(tmp_path):
    from pipelines.synthetic import datasets as synthetic

    synthetic.write_all(str(tmp_path / "raw"), pairs=60, seed=1)
    command = [CUTOUT, "preprocess", *cs.preprocess_args(tmp_path / "raw", tmp_path / "out")]
    log = tmp_path / "stderr.txt"
    with open(log, "w") as stderr:
        proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=stderr, text=True,
                                start_new_session=True)
        _wait_for(lambda: "cutout preprocess: 3 source(s)" in log.read_text(), proc)
        time.sleep(4)  # into the pipeline's work
        assert proc.poll() is None, "the job ended before it could be interrupted"
        os.kill(proc.pid, signal.SIGTERM)
        proc.wait(timeout=120)
    err = log.read_text()
    assert proc.returncode == 143, err[-2000:]
    assert "Traceback" not in err
    assert err.strip().splitlines()[-1] == ("cutout preprocess: interrupted; run the same "
                                            "command again to finish")
    assert _session_processes(proc.pid) == []
    out = tmp_path / "out"
    assert not out.exists() or list(os.scandir(out)) == []  # the unfinished run's files removed
    again = subprocess.run(command, capture_output=True, text=True, timeout=600)
    assert again.returncode == 0, again.stderr[-2000:]
    assert (tmp_path / "out" / "manifest.json").exists()

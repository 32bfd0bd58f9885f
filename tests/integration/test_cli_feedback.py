"""What `cutout remove` tells the person who runs it: what it is about to do before the long part,
a progress line for a small run that takes longer than the interval, and a re-run with nothing
to do that says so and keeps the summary of the run that did the work. On a terminal, a status
line comes at once, before Beam and TensorFlow load, and the job's first line replaces it."""
import json
import os
import pty
import re
import subprocess
import sys

import pytest
from PIL import Image

from tests import cutout_support as cs

CUTOUT = os.path.join(os.path.dirname(sys.executable), "cutout")


def test_remove_says_what_it_does_and_a_rerun_with_nothing_to_do_keeps_the_summary(tmp_path):
    model = cs.export_brightness_model(str(tmp_path / "mdl" / "export"))
    (tmp_path / "raw").mkdir()
    for i in range(3):
        Image.fromarray(cs.scene(48, 40)).save(tmp_path / "raw" / f"p{i}.jpg")
    # A 1 s interval: the run (start-up included) is longer, though it has 3 photos only.
    env = dict(os.environ, CUTOUT_PROGRESS_SECONDS="1")
    first = subprocess.run([CUTOUT, "remove", "raw", "dest", "-m", "mdl/export"], cwd=tmp_path,
                           env=env, capture_output=True, text=True, timeout=300)
    assert first.returncode == 0, first.stderr
    err = first.stderr.strip().splitlines()
    assert err[0] == (f"cutout remove: listing raw -> {tmp_path / 'dest'} (model "
                      f"{model}, {cs.IMAGE_SIZE} px; --output cutout)"), err
    assert any(line.startswith("remove_background: 3 / 3 images") for line in err), err
    again = subprocess.run([CUTOUT, "remove", "raw", "dest", "-m", "mdl/export"], cwd=tmp_path,
                           capture_output=True, text=True, timeout=300)
    assert again.returncode == 0, again.stderr
    assert "remove_background: nothing to do: all 3 inputs have their outputs in" in again.stdout
    runs = sorted(os.listdir(tmp_path / "dest" / "_summary"))
    assert len(runs) == 2
    summaries = [json.loads((tmp_path / "dest" / "_summary" / run).read_text()) for run in runs]
    assert [(s["written"], s["skipped"]) for s in summaries] == [(3, 0), (0, 3)]
    latest = json.loads((tmp_path / "dest" / "_summary.json").read_text())
    assert latest == summaries[1] and latest["run"] + ".json" == runs[1]


def test_nothing_to_do_is_told_without_starting_beam_and_only_when_true(tmp_path, monkeypatch):
    from pipelines.core import options as pipeline_options
    from pipelines.remove_background import job as rb

    model = cs.export_brightness_model(str(tmp_path / "mdl" / "export"))
    for i in range(3):
        cs.write(str(tmp_path / "raw" / "sub" / f"p{i}.png"),
                 cs.encode(Image.fromarray(cs.scene(24, 16)), "PNG"))
    (tmp_path / "raw" / ".DS_Store").write_bytes(b"junk")
    args = ["--input", str(tmp_path / "raw"), "--output_dir", str(tmp_path / "dest"),
            "--model", model]
    assert rb.run(args)["written"] == 3

    def no_pipeline(options):
        raise AssertionError("a pipeline was started")

    monkeypatch.setattr(pipeline_options, "make_pipeline", no_pipeline)
    summary = rb.run(args)
    assert (summary["inputs"], summary["skipped"], summary["written"],
            summary["ignored_os_files"]) == (3, 3, 0, 1)
    # Whatever leaves the answer open goes to the pipeline: an output without its index line
    # (a run interrupted before its index was written), a new input.
    index = sorted((tmp_path / "dest" / "_index").iterdir())
    saved = index[0].read_bytes()
    index[0].write_bytes(b"")
    with pytest.raises(AssertionError, match="a pipeline was started"):
        rb.run(args)
    index[0].write_bytes(saved)
    cs.write(str(tmp_path / "raw" / "new.png"), cs.encode(Image.fromarray(cs.scene()), "PNG"))
    with pytest.raises(AssertionError, match="a pipeline was started"):
        rb.run(args)


def _on_a_terminal(argv, cwd) -> tuple[int, str]:
    """Runs argv with stdout and stderr on a pseudo-terminal; its exit status and every byte it
    wrote there, as text."""
    master, slave = pty.openpty()
    proc = subprocess.Popen(argv, cwd=cwd, stdin=subprocess.DEVNULL, stdout=slave, stderr=slave)
    os.close(slave)
    out = b""
    while True:
        try:
            chunk = os.read(master, 65536)
        except OSError:  # EIO: every writer has closed the terminal
            break
        if not chunk:
            break
        out += chunk
    os.close(master)
    return proc.wait(timeout=300), out.decode("utf-8", "replace")


def _shown(text: str) -> list[str]:
    """The lines a terminal shows: a line erased by '\\r ESC[K' shows what follows only."""
    return [re.split(r"\r\x1b\[K", line)[-1] for line in text.replace("\r\n", "\n").split("\n")
            if line.strip()]


@pytest.mark.timeout(300)
def test_on_a_terminal_the_status_comes_first_and_the_jobs_line_replaces_it(tmp_path):
    model = cs.export_brightness_model(str(tmp_path / "mdl" / "export"))
    cs.write(str(tmp_path / "raw" / "p.png"), cs.encode(Image.fromarray(cs.scene(24, 16)), "PNG"))
    status, text = _on_a_terminal([CUTOUT, "remove", "raw", "dest", "-m", "mdl/export"], tmp_path)
    assert status == 0, text
    first = ("cutout remove: starting: raw -> dest, model mdl/export (loading Beam and "
             "TensorFlow, then checking the flags, inputs and model)")
    assert text.startswith(first + "\r\x1b[Kcutout remove: listing raw -> "), text[:400]
    assert _shown(text)[0] == (f"cutout remove: listing raw -> {tmp_path / 'dest'} (model "
                               f"{model}, {cs.IMAGE_SIZE} px; --output cutout)")
    # A refused run still ends as one line on the terminal: its error replaces the status.
    status, text = _on_a_terminal([CUTOUT, "remove", "raw", "other", "-m", "nowhere"], tmp_path)
    assert status == 2 and text.startswith("cutout remove: starting: raw -> other"), text
    assert len(_shown(text)) == 1 and _shown(text)[0].startswith("cutout remove: error: "), text
    status, text = _on_a_terminal([CUTOUT, "remove", "--help"], tmp_path)
    assert status == 0 and "starting" not in text and "usage: cutout remove" in text


def test_the_status_is_written_before_the_jobs_module_loads(monkeypatch, capfd):
    """The order that makes it come at once: the launcher writes it, then imports the job (and
    with it Beam and TensorFlow)."""
    from model import console
    from pipelines import cli

    monkeypatch.setattr(os, "isatty", lambda fd: fd == 2)
    monkeypatch.setattr(console, "quiet", lambda verbose: None)  # leave this process's fd 2
    monkeypatch.setattr(sys, "stderr", sys.stderr)               # restored after the test
    seen = {}

    def import_module(name):
        seen["before_import"] = capfd.readouterr().err
        raise SystemExit(0)

    monkeypatch.setattr(cli.importlib, "import_module", import_module)
    with pytest.raises(SystemExit):
        cli.main(["evaluate", "--pred_dir", "p", "--data_dir", "d", "--report_dir", "r"])
    assert seen["before_import"] == ("cutout evaluate: starting: p -> r (loading Beam and "
                                     "TensorFlow, then checking the flags, inputs and model)")

"""What `cutout remove` tells the person who runs it: what it is about to do before the long part,
a progress line for a small run that takes longer than the interval, and a re-run with nothing
to do that says so and keeps the summary of the run that did the work."""
import json
import os
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

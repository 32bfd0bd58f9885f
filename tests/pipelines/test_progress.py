"""Progress lines on long local runs: the counts that several worker processes share through a
local folder, the line a person reads, and a real multi-process job that prints them."""
import os
import re

from PIL import Image

from pipelines.core import progress
from pipelines.remove_background import job as rb
from tests import cutout_support as cs

LINE = re.compile(r"^remove_background: ([\d,]+) / ([\d,]+) images")


def _tracker(tmp_path, interval_s):
    folder = tmp_path / "progress"
    folder.mkdir()
    return progress.Tracker("job", "images", str(folder), interval_s)


def _count(tracker, kind, n, first=1000.0):
    name = f"{kind}-{os.urandom(4).hex()}"
    with open(os.path.join(tracker.folder, name), "w") as f:
        f.write(f"{n} {first}")


def test_the_line_says_done_total_rate_and_time_left():
    assert progress.format_line("remove_background", "images", 1200, 3000, 200.0) == (
        "remove_background: 1,200 / 3,000 images (40%), 6.0 images/s, about 5m 00s left")
    assert progress.format_line("preprocess", "pairs", 300, 300, 75.0, final=True) == (
        "preprocess: 300 / 300 pairs, 4.0 pairs/s, 1m 15s")
    assert progress.format_line("job", "images", 5, 0, 1.0) == "job: 5 images, 5.0 images/s"


def test_counts_of_every_worker_add_up(tmp_path):
    tracker = _tracker(tmp_path, 10)
    _count(tracker, progress.TOTAL, 200)
    _count(tracker, progress.TOTAL, 100)
    _count(tracker, progress.DONE, 40, first=1005.0)
    _count(tracker, progress.DONE, 20, first=1002.0)
    (tmp_path / "progress" / "done-x.tmp").write_text("999 1")  # a file being replaced
    assert progress.totals(tracker.folder) == (60, 300, 1002.0)


def test_at_most_one_line_per_interval_and_one_last_line(tmp_path, capsys):
    tracker = _tracker(tmp_path, 10)
    _count(tracker, progress.TOTAL, 100)
    _count(tracker, progress.DONE, 10, first=1000.0)
    progress.report(tracker, now=1005.0)   # 5 s of work: too soon
    progress.report(tracker, now=1010.0)   # the first line
    progress.report(tracker, now=1015.0)   # too soon after it
    _count(tracker, progress.DONE, 90, first=1000.0)
    progress.report(tracker, now=1016.0)   # all done: the last line, at once
    progress.report(tracker, now=1030.0)   # and nothing after it
    lines = capsys.readouterr().err.splitlines()
    assert lines == ["job: 10 / 100 images (10%), 1.0 images/s, about 1m 30s left",
                     "job: 100 / 100 images, 6.2 images/s, 16s"]


def test_a_run_shorter_than_the_interval_prints_nothing(tmp_path, capsys):
    tracker = _tracker(tmp_path, 10)
    _count(tracker, progress.TOTAL, 5)
    _count(tracker, progress.DONE, 5, first=1000.0)
    progress.report(tracker, now=1003.0)
    assert capsys.readouterr().err == ""


def test_a_small_run_longer_than_the_interval_since_its_start_says_so(tmp_path, capsys):
    # 10 photos, all done within a second, after 15 s of start-up (imports, model loading).
    tracker = progress.Tracker("job", "images", str(tmp_path), 10, started=985.0)
    _count(tracker, progress.TOTAL, 10)
    _count(tracker, progress.DONE, 10, first=1000.0)
    progress.report(tracker, now=1000.5)
    progress.report(tracker, now=1001.0)
    assert capsys.readouterr().err.splitlines() == ["job: 10 / 10 images, 20.0 images/s, 0s"]


def test_no_counting_steps_on_workers_elsewhere(monkeypatch):
    from types import SimpleNamespace

    from apache_beam.options.pipeline_options import PipelineOptions

    def pipeline(*args):
        return SimpleNamespace(options=PipelineOptions(list(args)))

    assert progress.tracker_for(pipeline("--runner", "DataflowRunner"), "job") is None
    assert progress.tracker_for(pipeline(), "job") is not None
    monkeypatch.setenv(progress.INTERVAL_ENV, "-1")
    assert progress.tracker_for(pipeline(), "job") is None


def test_a_multi_process_run_of_a_few_hundred_images_prints_progress(tmp_path, capfd,
                                                                     monkeypatch):
    model = cs.export_brightness_model(str(tmp_path / "model" / "export"))
    photo = cs.encode(Image.fromarray(cs.scene(24, 16)), "PNG")
    for i in range(240):
        cs.write(str(tmp_path / "in" / f"{i // 60}" / f"p{i:03d}.png"), photo)
    monkeypatch.setenv(progress.INTERVAL_ENV, "0")  # a line at every update, not every 10 s
    summary = rb.run(["--input", str(tmp_path / "in"), "--output_dir", str(tmp_path / "out"),
                      "--model", model, "--direct_num_workers", "2",
                      "--direct_running_mode", "multi_processing"])
    assert summary["written"] == 240
    lines = [m for m in map(LINE.match, capfd.readouterr().err.splitlines()) if m]
    assert len(lines) >= 2, "no progress lines"
    assert {m.group(2) for m in lines} == {"240"}
    done = [int(m.group(1).replace(",", "")) for m in lines]
    assert done == sorted(done) and done[-1] == 240
    assert lines[-1].string.endswith("s") and "left" not in lines[-1].string

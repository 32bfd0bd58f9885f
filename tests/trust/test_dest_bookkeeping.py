"""Issue 20, classes 1, 6 (own temporaries) and 9: DEST's bookkeeping is written only inside DEST.

Every attack is a real link or a real odd entry in DEST's bookkeeping space and a real run of
`python -m pipelines.remove_background`: the run is refused with one line (exit 2) before any
work, nothing appears beside DEST (the sentinel), the inputs are unchanged.
"""
import glob
import json
import os
import signal
import socket
import time

import pytest

from tests.trust import support as ts

BOOKKEEPING_FOLDERS = ("_index", "_rejected", "_review", "_tmp")
BOOKKEEPING_FILES = ("_job.json", "_summary.json")


@pytest.mark.timeout(200)
@pytest.mark.parametrize("entry", BOOKKEEPING_FOLDERS)
@pytest.mark.parametrize("overwrite", [False, True])
def test_a_bookkeeping_folder_linked_out_of_dest_is_refused(tmp_path, model_dir, entry,
                                                             overwrite):
    arena = ts.Arena(tmp_path)
    arena.photos()
    arena.seal()
    arena.dest.mkdir()
    victim = arena.sentinel / "victim"
    victim.mkdir()
    (victim / "run-00000-of-00001.jsonl").write_text("not yours\n")  # index-named
    os.symlink("../sentinel/victim", arena.dest / entry)
    proc = arena.rb("--model", model_dir, "--review_below", "0.5",
                    *(["--overwrite"] if overwrite else []))
    line = ts.one_line_error(proc)
    assert entry in line and "link" in line
    assert ts.everything(victim) == {"run-00000-of-00001.jsonl"}
    assert (victim / "run-00000-of-00001.jsonl").read_text() == "not yours\n"
    assert os.path.islink(arena.dest / entry)
    assert ts.everything(arena.dest) == {entry}   # no _job.json: refused before any work
    assert ts.everything(arena.sentinel) == {"victim", "victim/run-00000-of-00001.jsonl"}
    assert arena.inputs_unchanged()


@pytest.mark.timeout(200)
@pytest.mark.parametrize("entry", BOOKKEEPING_FILES)
def test_a_bookkeeping_file_linked_out_of_dest_is_refused(tmp_path, model_dir, entry):
    arena = ts.Arena(tmp_path)
    arena.photos()
    arena.seal()
    arena.dest.mkdir()
    target = arena.sentinel / "precious.json"
    target.write_text("{}")
    os.symlink(target, arena.dest / entry)
    line = ts.one_line_error(arena.rb("--model", model_dir))
    assert entry in line
    assert target.read_text() == "{}" and ts.everything(arena.sentinel) == {"precious.json"}
    assert ts.everything(arena.dest) == {entry}
    assert arena.inputs_unchanged()


def _odd_entry(path, kind):
    if kind == "file":
        path.write_text("x")
    elif kind == "folder":
        path.mkdir()
    elif kind == "fifo":
        os.mkfifo(path)
    elif kind == "socket":
        sock = socket.socket(socket.AF_UNIX)
        sock.bind(str(path))
        return sock
    return None


@pytest.mark.timeout(200)
@pytest.mark.parametrize("entry,kind", [("_index", "file"), ("_tmp", "fifo"),
                                        ("_rejected", "socket"), ("_summary.json", "folder"),
                                        ("_job.json", "fifo"), ("_review", "file")])
def test_a_bookkeeping_entry_of_the_wrong_kind_is_refused(tmp_path, model_dir, entry, kind):
    arena = ts.Arena(tmp_path)
    arena.photos()
    arena.seal()
    arena.dest.mkdir()
    sock = _odd_entry(arena.dest / entry, kind)
    try:
        line = ts.one_line_error(arena.rb("--model", model_dir, "--review_below", "0.5"))
    finally:
        if sock:
            sock.close()
    assert entry in line
    assert ts.everything(arena.dest) == {entry}
    arena.check()


@pytest.mark.timeout(300)
def test_overwrite_deletes_only_its_own_bookkeeping_files(tmp_path, model_dir):
    arena = ts.Arena(tmp_path)
    arena.photos()
    arena.seal()
    assert arena.rb("--model", model_dir).returncode == 0
    mine = {"_index/notes.jsonl": "keep me\n", "_index/README": "keep me\n",
            "_rejected/by-hand.jsonl": "keep me\n"}
    for name, text in mine.items():
        (arena.dest / name).write_text(text)
    proc = arena.rb("--model", model_dir, "--overwrite")
    assert proc.returncode == 0, proc.stderr[-3000:]
    for name, text in mine.items():
        assert (arena.dest / name).read_text() == text
    arena.check()


@pytest.mark.timeout(400)
def test_overwrite_on_other_inputs_keeps_the_index_lines_of_outputs_it_did_not_redo(
        tmp_path, model_dir):
    arena = ts.Arena(tmp_path)
    arena.photos(["a.png", "b.png", "c.png", "d.png"])
    arena.seal()
    assert arena.rb("--model", model_dir).returncode == 0
    assert len(ts.index_lines(arena.dest)) == 4
    proc = arena.rb("--model", model_dir, "--overwrite", input_=arena.src / "a.png")
    assert proc.returncode == 0, proc.stderr[-3000:]
    latest = {}
    for line in ts.index_lines(arena.dest):
        latest[os.path.basename(line["input"])] = line
    assert sorted(latest) == ["a.png", "b.png", "c.png", "d.png"]
    assert set(ts.outputs(arena.dest)) == {"a.png", "b.png", "c.png", "d.png"}
    arena.check()


def _stale_run(dest, name, pid, host=None):
    folder = dest / "_tmp" / name
    folder.mkdir(parents=True)
    (folder / "owner.json").write_text(json.dumps(
        {"pid": pid, "host": host or socket.gethostname()}))
    (folder / ".tmp-half-written.png").write_bytes(b"\x89PNG half")
    return folder


@pytest.mark.timeout(300)
def test_start_up_sweeps_only_temporaries_of_dead_runs(tmp_path, model_dir):
    arena = ts.Arena(tmp_path)
    arena.photos()
    arena.seal()
    arena.dest.mkdir()
    live = _stale_run(arena.dest, "20261204T000000Z-aaaaaa", os.getpid())
    dead_pid = _dead_pid()
    dead = _stale_run(arena.dest, "20261204T000001Z-bbbbbb", dead_pid)
    other_host = _stale_run(arena.dest, "20261204T000002Z-cccccc", dead_pid, host="elsewhere")
    unowned = arena.dest / "_tmp" / "someone-elses"
    unowned.mkdir()
    (unowned / "x").write_text("x")
    proc = arena.rb("--model", model_dir)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert (live / ".tmp-half-written.png").exists()       # a running job's: kept
    assert (other_host / ".tmp-half-written.png").exists()  # can't prove it dead: kept
    assert (unowned / "x").exists()                           # not provably a run's: kept
    assert not dead.exists()                                  # provably dead: swept
    assert sorted(os.listdir(arena.dest / "_tmp")) == sorted(
        [live.name, other_host.name, unowned.name])           # this run's own folder gone
    arena.check()


@pytest.mark.timeout(300)
def test_a_second_job_on_the_same_dest_leaves_a_running_jobs_temporaries(tmp_path, model_dir):
    """A real job, paused (SIGSTOP) once its run folder exists, while a second job on the same
    DEST starts, sweeps and finishes; resumed, the first finishes with every output indexed."""
    arena = ts.Arena(tmp_path)
    arena.photos(["a1.png", "a2.png", "a3.png"], folder=arena.src / "first")
    arena.photos(["b1.png", "b2.png"], folder=arena.src / "second")
    arena.seal()
    first = ts.start_module(ts.RB, "--input", arena.src / "first", "--output_dir", arena.dest,
                            "--model", model_dir)
    try:
        deadline = time.monotonic() + 120
        while not glob.glob(str(arena.dest / "_tmp" / "*" / "owner.json")):
            assert first.poll() is None and time.monotonic() < deadline, first.stderr.read()
            time.sleep(0.05)
        os.killpg(first.pid, signal.SIGSTOP)
        [run_folder] = os.listdir(arena.dest / "_tmp")
        second = arena.rb("--model", model_dir, input_=arena.src / "second")
        assert second.returncode == 0, second.stderr[-3000:]
        assert os.listdir(arena.dest / "_tmp") == [run_folder]   # the paused job's: kept
    finally:
        os.killpg(first.pid, signal.SIGCONT)
    _, stderr = first.communicate(timeout=200)
    assert first.returncode == 0, stderr[-3000:]
    assert set(ts.outputs(arena.dest)) == {"a1.png", "a2.png", "a3.png", "b1.png", "b2.png"}
    indexed = sorted(os.path.basename(line["input"]) for line in ts.index_lines(arena.dest))
    assert indexed == ["a1.png", "a2.png", "a3.png", "b1.png", "b2.png"]
    assert not os.path.exists(arena.dest / "_tmp")              # the last run out cleans up
    arena.check()


def _dead_pid() -> int:
    """The pid of a process that has exited (and been reaped)."""
    import subprocess

    proc = subprocess.Popen(["true"])
    proc.wait()
    return proc.pid


@pytest.mark.timeout(300)
def test_preprocess_refuses_an_output_folder_holding_a_link(tmp_path):
    """OUT/_rejected linked to an empty folder elsewhere: "empty" by its files, but the job's
    rejects would land elsewhere."""
    out, victim = tmp_path / "out", tmp_path / "sentinel"
    out.mkdir()
    victim.mkdir()
    os.symlink(victim, out / "_rejected")
    raw = tmp_path / "raw"
    (raw / "images").mkdir(parents=True)
    (raw / "masks").mkdir()
    proc = ts.run_module(ts.PREPROCESS, "--source", f"folder={raw}", "--output_dir", out,
                         "--image_size", "32")
    assert "link" in ts.one_line_error(proc)
    assert ts.everything(victim) == set()

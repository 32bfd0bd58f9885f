"""Issue 11: remove_background, the one-image tool and evaluate on a hostile local filesystem.

Each case is made of real entries in a temporary folder (symbolic links, named pipes, links to
/dev/zero, names that are not UTF-8) and checks the promise: inputs unchanged (hashes), nothing
written outside DEST, every good input written, every bad entry rejected with its reason, or one
line and exit status 2 before any work; and the job ends within a bound.
"""
import json
import os
import shutil
import sys

import numpy as np
import pytest
from PIL import Image

from pipelines.evaluate import job as evaluate
from pipelines.remove_background import job as rb
from pipelines.serving import cutout
from pipelines.core.rejects import REASONS, JobError
from tests import cutout_support as cs

ROOT = cs.REPO_ROOT

PHOTO = cs.encode(Image.fromarray(cs.scene()), "PNG")


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    return cs.export_brightness_model(str(tmp_path_factory.mktemp("model") / "export"))


hashes = cs.hashes


def all_files(folder) -> set:
    return {os.path.relpath(os.path.join(d, n), folder)
            for d, _, ns in os.walk(folder) for n in ns}


def photos(folder, names=("a.png", "b.png")) -> None:
    for name in names:
        cs.write(os.path.join(folder, name), PHOTO)


def run_rb(input_, dest, model, *extra, flag="--input"):
    return rb.run([flag, str(input_), "--output_dir", str(dest), "--model", model,
                   *map(str, extra)])


def rb_rejects(dest) -> dict:
    return {os.path.basename(r["path"]): r["reason"] for r in cs.dest_rejects(dest)}


# --- 1, 2: overlaps compared with links resolved -------------------------------------------

@pytest.mark.timeout(180)
def test_dest_that_is_a_link_to_the_input_folder_is_refused(tmp_path, model_dir):
    src = tmp_path / "in"
    photos(src, ["keep.png"])
    before = hashes(src)
    os.symlink(src, tmp_path / "dest")
    for extra in ((), ("--overwrite",)):
        with pytest.raises(JobError, match="links resolved"):
            run_rb(src, tmp_path / "dest", model_dir, *extra)
    assert hashes(src) == before and all_files(src) == {"keep.png"}
    assert rb.main(["--input", str(src), "--output_dir", str(tmp_path / "dest"),
                    "--model", model_dir]) == 2


@pytest.mark.timeout(240)
def test_dest_linked_into_the_input_makes_no_cutouts_of_cutouts(tmp_path, model_dir):
    src = tmp_path / "in"
    photos(src)
    (src / "res").mkdir()
    os.symlink(src / "res", tmp_path / "dest")
    before = hashes(src)
    assert run_rb(src, tmp_path / "dest", model_dir)["written"] == 2
    again = run_rb(src, tmp_path / "dest", model_dir)
    assert (again["inputs"], again["skipped"], again["rejected"]) == (2, 2, 0)
    assert not (src / "res" / "res").exists()
    assert {k: v for k, v in hashes(src).items() if not k.startswith("res/")} == before


# --- 3: no write resolves outside DEST ------------------------------------------------------

@pytest.mark.timeout(180)
def test_a_linked_folder_inside_dest_receives_nothing(tmp_path, model_dir):
    src, dest, elsewhere = tmp_path / "in", tmp_path / "out", tmp_path / "elsewhere"
    photos(src, ["a.png", "sub/x.png"])
    elsewhere.mkdir()
    dest.mkdir()
    os.symlink(elsewhere, dest / "sub")
    result = run_rb(src, dest, model_dir)
    assert (result["written"], result["rejected"]) == (1, 1)
    assert rb_rejects(dest) == {"x.png": "unsafe_path"}
    assert os.listdir(elsewhere) == []
    assert (dest / "a.png").is_file()


# --- 4: one odd entry is one reject --------------------------------------------------------

def _hostile_entries(folder):
    """A FIFO, a link to /dev/zero, a dangling link and a link loop, beside two good photos."""
    photos(folder)
    os.mkfifo(folder / "pipe.png")
    os.symlink("/dev/zero", folder / "zero.png")
    os.symlink(folder / "missing.png", folder / "dangling.png")
    os.symlink(folder / "loop.png", folder / "loop.png")
    return {"pipe.png": "not_a_regular_file", "zero.png": "not_a_regular_file",
            "dangling.png": "broken_link", "loop.png": "broken_link"}


@pytest.mark.timeout(240)
def test_pipes_devices_and_broken_links_are_rejects_not_hangs(tmp_path, model_dir):
    src, dest = tmp_path / "in", tmp_path / "out"
    src.mkdir()
    expected = _hostile_entries(src)
    before = hashes(src)
    # Listed explicitly (a folder's listing of links is issue 14's): the read step rejects each.
    listing = tmp_path / "list.txt"
    listing.write_text("\n".join(["a.png", "b.png", *expected]) + "\n")
    result = run_rb(listing, dest, model_dir, "--input_root", src, flag="--input_list")
    assert rb_rejects(dest) == expected
    assert (result["written"], result["rejected"]) == (2, 4)
    assert {"a.png", "b.png"} <= all_files(dest)
    assert hashes(src) == before
    # The folder's own listing: the pipe and the device reach the read step and are rejected.
    folder = run_rb(src, tmp_path / "out2", model_dir)
    reasons = rb_rejects(tmp_path / "out2")
    assert {k: reasons.get(k) for k in ("pipe.png", "zero.png")} == {
        "pipe.png": "not_a_regular_file", "zero.png": "not_a_regular_file"}
    assert folder["written"] == 2 and hashes(src) == before


@pytest.mark.timeout(240)
def test_the_folder_listing_rejects_what_it_can_not_list(tmp_path, model_dir):
    src, dest = tmp_path / "in", tmp_path / "out"
    src.mkdir()
    expected = _hostile_entries(src)
    open(os.path.join(os.fsencode(src), b"bad\xff.png"), "wb").write(PHOTO)
    result = run_rb(src, dest, model_dir)
    reasons = rb_rejects(dest)
    assert {k: reasons.get(k) for k in expected} == expected
    assert "unencodable_name" in reasons.values() and result["written"] == 2


@pytest.mark.timeout(180)
def test_files_over_max_file_bytes_are_rejected_unread(tmp_path, model_dir):
    src, dest = tmp_path / "in", tmp_path / "out"
    photos(src, ["small.png"])
    cs.write(src / "big.png", PHOTO + b"\0" * 4096)
    result = run_rb(src, dest, model_dir, "--max_file_bytes", len(PHOTO) + 100)
    assert rb_rejects(dest) == {"big.png": "too_large"}
    assert result["written"] == 1


# --- 4 (issue 6): DEST remembers what its outputs are ---------------------------------------

@pytest.mark.timeout(240)
def test_a_rerun_with_another_output_kind_is_refused_unless_overwrite(tmp_path, model_dir):
    src, dest = tmp_path / "in", tmp_path / "out"
    photos(src)
    assert run_rb(src, dest, model_dir, "--output", "mask")["written"] == 2
    masks = hashes(dest)
    with pytest.raises(JobError, match="output=mask.*output=cutout"):
        run_rb(src, dest, model_dir)
    with pytest.raises(JobError, match="background"):
        run_rb(src, dest, model_dir, "--output", "mask", "--background", "white")
    assert hashes(dest) == masks
    redone = run_rb(src, dest, model_dir, "--overwrite")
    assert redone["written"] == 2
    assert Image.open(dest / "a.png").mode == "RGBA"
    assert json.load(open(dest / "_job.json"))["output"] == "cutout"


# --- 6: temporaries can't be confused with outputs ------------------------------------------

@pytest.mark.timeout(240)
def test_an_input_named_like_a_temporary_keeps_its_output(tmp_path, model_dir):
    src, dest = tmp_path / "in", tmp_path / "out"
    photos(src, [".tmp-photo.png", "b.png"])
    assert run_rb(src, dest, model_dir)["written"] == 2
    kept = hashes(dest)[".tmp-photo.png"]
    again = run_rb(src, dest, model_dir)
    assert (again["skipped"], again["written"]) == (2, 0)
    assert hashes(dest)[".tmp-photo.png"] == kept
    assert not (dest / "_tmp").exists()


# --- 7, 8: refused before any work ------------------------------------------------------------

@pytest.mark.timeout(120)
def test_a_dest_that_cannot_be_written_is_refused_before_any_work(tmp_path, model_dir):
    src = tmp_path / "in"
    photos(src)
    (tmp_path / "file").write_bytes(b"x")
    with pytest.raises(JobError, match="is a file"):
        run_rb(src, tmp_path / "file", model_dir)
    with pytest.raises(JobError, match="can't write"):
        run_rb(src, tmp_path / "file" / "below", model_dir)
    if os.geteuid() != 0:  # root writes through a read-only mode
        ro = tmp_path / "ro"
        ro.mkdir(mode=0o555)
        with pytest.raises(JobError, match="can't write"):
            run_rb(src, ro, model_dir)
    with pytest.raises(JobError, match="can't write"):  # read-only for root too
        run_rb(src, "/proc/cutout-out", model_dir)


def _damaged_model(model_dir, tmp_path, name, damage):
    copy = tmp_path / "model"
    shutil.copytree(model_dir, copy)
    path = copy / name
    path.write_bytes(damage(path.read_bytes()))
    return str(copy), str(path)


@pytest.mark.timeout(120)
@pytest.mark.parametrize("name,damage", [
    ("saved_model.pb", lambda data: os.urandom(64) * 8),
    ("saved_model.pb", lambda data: data[:len(data) // 2]),
    ("variables/variables.data-00000-of-00001", lambda data: data[:len(data) // 2]),
    ("variables/variables.index", lambda data: data[:len(data) - 20]),
])
def test_a_damaged_model_is_one_line_naming_the_file(tmp_path, model_dir, capsys, name, damage):
    src = tmp_path / "in"
    photos(src)
    model, path = _damaged_model(model_dir, tmp_path, name, damage)
    assert rb.main(["--input", str(src), "--output_dir", str(tmp_path / "out"),
                    "--model", model]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and path in err[0], err
    assert not (tmp_path / "out").exists()


# --- 5: the one-image tool never overwrites its input -----------------------------------------

@pytest.mark.timeout(120)
def test_cutout_refuses_to_write_over_its_input_or_into_a_folder(tmp_path, model_dir, capsys):
    img = tmp_path / "self.png"
    img.write_bytes(PHOTO)
    os.symlink(img, tmp_path / "alias.png")
    (tmp_path / "x.mask.png").write_bytes(PHOTO)
    for argv in ([str(img), str(img)], [str(img), str(tmp_path / "alias.png")],
                 [str(img), str(tmp_path)],
                 [str(tmp_path / "x.mask.png"), str(tmp_path / "x.png"), "--output", "both"]):
        assert cutout.main(argv + ["--model", model_dir]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and err[0].startswith("cutout: error:"), err
    assert img.read_bytes() == PHOTO and (tmp_path / "x.mask.png").read_bytes() == PHOTO
    os.mkfifo(tmp_path / "pipe.png")
    assert cutout.main([str(tmp_path / "pipe.png"), str(tmp_path / "o.png"),
                        "--model", model_dir]) == 1
    assert "not_a_regular_file" in capsys.readouterr().err


# --- 9: evaluate -----------------------------------------------------------------------------

def _mask(value_box=255, colour=None) -> bytes:
    mask = np.zeros((24, 32), np.uint8)
    mask[6:18, 8:24] = value_box
    if colour is None:
        return cs.encode(Image.fromarray(mask, "L"), "PNG")
    rgb = np.zeros((24, 32, 3), np.uint8)
    rgb[mask > 0] = colour
    return cs.encode(Image.fromarray(rgb, "RGB"), "PNG")


def _eval(gt, pred, report, *extra):
    return evaluate.run(["--gt_dir", str(gt), "--pred_dir", str(pred), "--report_dir",
                         str(report), "--metrics", "iou,mae", "--no_baselines", *extra])


def _eval_rejects(report) -> dict:
    return {(os.path.basename(r.get("path", "")), r["reason"]) for r in cs.read_rejects(report)}


@pytest.mark.timeout(300)
def test_evaluate_on_hostile_folders(tmp_path):
    gt, pred, report = tmp_path / "gt", tmp_path / "pred", tmp_path / "report"
    for d in (gt, pred):
        d.mkdir()
        cs.write(d / "good.png", _mask())
    cs.write(gt / "red.png", _mask(colour=(255, 0, 0)))          # a colour ground truth
    cs.write(pred / "red.png", _mask())
    cs.write(gt / "onbg.png", _mask())
    cs.write(pred / "onbg.png", _mask(colour=(20, 200, 40)))     # composited, no alpha
    for d in (gt, pred):
        os.mkfifo(d / "pipe.png")
        os.symlink("/dev/zero", d / "zero.png")
        os.symlink(d / "nowhere.png", d / "dangling.png")
        os.symlink(d / "loop.png", d / "loop.png")
        open(os.path.join(os.fsencode(d), b"bad\xff.png"), "wb").write(_mask())
    os.symlink(gt, gt / "cycle")                                   # a folder loop
    before = hashes(gt), hashes(pred)
    result = _eval(gt, pred, report)
    assert result["count"] == 1 and result["overall"]["iou"] == 1.0
    found = _eval_rejects(report)
    for name, reason in [("red.png", "gt_not_grayscale"), ("onbg.png", "no_alpha"),
                         ("pipe.png", "not_a_regular_file"), ("zero.png", "not_a_regular_file"),
                         ("dangling.png", "broken_link"), ("loop.png", "broken_link"),
                         ("cycle", "broken_link"), ("bad\\xff.png", "unencodable_name")]:
        assert (name, reason) in found, (name, reason, found)
    assert all(reason in REASONS for _, reason in found)
    assert (hashes(gt), hashes(pred)) == before
    assert sorted(os.listdir(tmp_path)) == ["gt", "pred", "report"]  # nothing elsewhere


@pytest.mark.timeout(120)
def test_evaluate_refuses_a_report_folder_linked_to_its_inputs(tmp_path):
    gt, pred = tmp_path / "gt", tmp_path / "pred"
    for d in (gt, pred):
        cs.write(d / "a.png", _mask())
    os.symlink(pred, tmp_path / "report")
    with pytest.raises(JobError, match="overlap"):
        _eval(gt, pred, tmp_path / "report")
    with pytest.raises(JobError, match="overlap"):
        _eval(gt, pred, gt / "report")
    assert evaluate.main(["--gt_dir", str(gt), "--pred_dir", str(pred),
                          "--report_dir", str(tmp_path / "report")]) == 2


# --- 11: memory -------------------------------------------------------------------------------

@pytest.mark.timeout(300)
def test_a_link_to_dev_zero_does_not_grow_memory(tmp_path, model_dir):
    src = tmp_path / "in"
    photos(src)
    os.symlink("/dev/zero", src / "zero.png")
    job = [sys.executable, "-m", "pipelines.remove_background", "--input", str(src),
           "--output_dir", str(tmp_path / "out"), "--model", model_dir]
    rc, _, stderr, peak = cs.run_measuring_peak(job, cwd=ROOT, timeout=240,
                                                env=dict(os.environ, PYTHONPATH=ROOT))
    assert rc == 0, stderr[-2000:]
    print(f"remove_background over a /dev/zero link: peak RSS {peak / 2**20:.0f} MiB")
    assert peak < 1.5 * 2**30
    assert rb_rejects(tmp_path / "out") == {"zero.png": "not_a_regular_file"}

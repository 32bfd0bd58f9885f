"""`pipelines.remove_background` end to end (in-process, local runner) with a real exported model:
every image kind, bookkeeping, collisions, odd names, re-runs after a crash, gs:// through the
emulator, and the one-image tool giving the same bytes."""
import io
import json
import os
import shutil
import socket
import subprocess
import sys

import numpy as np
import pytest
from google.cloud import storage
from PIL import Image

from pipelines.core import fileio
from pipelines.remove_background import job as rb
from pipelines.serving import cutout, inference
from tests import cutout_support as cs

ROOT = cs.REPO_ROOT



@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    return cs.export_brightness_model(str(tmp_path_factory.mktemp("model") / "export"))


def run_job(input_, dest, model, *extra, input_flag="--input"):
    return rb.run([input_flag, str(input_), "--output_dir", str(dest), "--model", model,
                   *map(str, extra)])


rejects_of = cs.dest_rejects


def reasons_by_name(dest):
    return {os.path.basename(r["path"]): r["reason"] for r in rejects_of(dest)}


def _exif_rotated_jpeg():
    """An upright portrait (box near the top) stored sideways with EXIF orientation 6."""
    upright = cs.scene(48, 64, box=(8, 6, 40, 26))
    stored = Image.fromarray(upright).transpose(Image.Transpose.ROTATE_90)
    exif = Image.Exif()
    exif[0x0112] = 6
    return cs.encode(stored, "JPEG", quality=95, exif=exif.tobytes()), upright


def _animated_gif(rgb):
    first = Image.fromarray(rgb).convert("P", palette=Image.Palette.ADAPTIVE)
    # The second frame is inverted: reading it instead would invert the alpha.
    second = Image.fromarray(255 - rgb).convert("P", palette=Image.Palette.ADAPTIVE)
    buf = io.BytesIO()
    first.save(buf, "GIF", save_all=True, append_images=[second], duration=100, loop=0)
    return buf.getvalue()


def make_kinds(folder):
    """Every input kind the job must handle -> {relative output name: (upright RGB, own alpha)}."""
    rgb = cs.scene()
    img = Image.fromarray(rgb)
    expected = {}

    def add(rel, data, upright=rgb, own_alpha=None):
        cs.write(os.path.join(folder, rel), data)
        expected[os.path.splitext(rel)[0] + ".png"] = (upright, own_alpha)

    add("plain.jpg", cs.encode(img, "JPEG", quality=95))
    add("nested/deeper/eight_bit.png", cs.encode(img, "PNG"))
    gray16 = rgb.mean(axis=-1).round().astype(np.uint16) * 257
    add("sixteen_bit.png", cs.encode(Image.fromarray(gray16), "PNG"),
        upright=np.repeat((gray16 // 257).astype(np.uint8)[..., None], 3, axis=-1))
    add("palette.png", cs.encode(img.convert("P", palette=Image.Palette.ADAPTIVE), "PNG"))
    own = np.full(rgb.shape[:2], 255, np.uint8)
    own[:, :16] = 0  # the input's own transparency: the left quarter
    add("nested/with_alpha.png", cs.encode(Image.fromarray(np.dstack([rgb, own]), "RGBA"),
                                           "PNG"), own_alpha=own)
    add("photo.webp", cs.encode(img, "WEBP", lossless=True))
    add("anim.gif", _animated_gif(rgb))
    add("scan.tiff", cs.encode(img, "TIFF"))
    add("gray.jpg", cs.encode(img.convert("L"), "JPEG", quality=95),
        upright=np.repeat(np.asarray(img.convert("L"))[..., None], 3, axis=-1))
    add("cmyk.jpg", cs.encode(img.convert("CMYK"), "JPEG", quality=95))
    data, upright = _exif_rotated_jpeg()
    add("rotated.jpg", data, upright=upright)
    return expected


def make_bad(folder):
    good = cs.encode(Image.fromarray(cs.scene()), "JPEG", quality=95)
    cs.write(os.path.join(folder, "bad", "truncated.jpg"), good[:len(good) // 2])
    cs.write(os.path.join(folder, "bad", "empty.jpg"), b"")
    cs.write(os.path.join(folder, "bad", "notes.txt"), b"not a picture at all\n")
    # OS junk is ignored and counted, never processed nor rejected.
    cs.write(os.path.join(folder, ".DS_Store"), b"\x00\x00\x00\x01Bud1" + bytes(100))
    cs.write(os.path.join(folder, "__MACOSX", "._x.jpg"), b"\x00\x05\x16\x07")
    cs.write(os.path.join(folder, "bad", "._truncated.jpg"), b"\x00\x05\x16\x07")
    cs.write(os.path.join(folder, "dup", "x.jpg"), good)
    cs.write(os.path.join(folder, "dup", "x.png"), cs.encode(Image.fromarray(cs.scene()), "PNG"))
    cs.write(os.path.join(folder, "big.png"), cs.encode(Image.new("RGB", (200, 200)), "PNG"))
    cs.write(os.path.join(folder, "_private", "x.jpg"), good)
    return {"truncated.jpg": "undecodable", "empty.jpg": "empty_file",
            "notes.txt": "not_an_image",
            "x.jpg": "output_name_collision", "x.png": "output_name_collision",
            "big.png": "too_many_pixels", "x.jpg@_private": "reserved_output_name"}


def check_cutout(path, upright, own_alpha=None, tolerance=16):
    cut = np.asarray(Image.open(path))
    assert cut.ndim == 3 and cut.shape[2] == 4, f"{path}: not RGBA"
    assert cut.shape[:2] == upright.shape[:2], f"{path}: {cut.shape} vs {upright.shape}"
    expected = cs.expected_alpha(upright)
    if own_alpha is not None:
        expected = inference.combine_alpha(expected, Image.fromarray(own_alpha))
    cs.assert_alpha_matches(cut[..., 3], expected)
    keep = cs.interior(expected) & (expected > 0)
    diff = np.abs(cut[..., :3].astype(int) - upright.astype(int))[keep]
    assert diff.max() <= tolerance, f"{path}: visible pixels changed by {diff.max()}"
    return cut


def test_every_kind_bookkeeping_and_rejects(tmp_path, model_dir, capsys):
    src, dest = tmp_path / "photos", tmp_path / "out"
    expected = make_kinds(src)
    bad = make_bad(src)
    code = rb.main(["--input", str(src), "--output_dir", str(dest), "--model", model_dir,
                    "--max_pixels", "10000"])
    assert code == 0  # rejects are data, not failure
    printed = capsys.readouterr().out
    assert "remove_background:" in printed and "rejected" in printed

    for rel, (upright, own_alpha) in expected.items():
        check_cutout(dest / rel, upright, own_alpha)
    # 16-bit was scaled (30 and 220 survive), not clipped (which would make everything 255).
    sixteen = np.asarray(Image.open(dest / "sixteen_bit.png"))
    assert sixteen[..., :3].min() < 40 and 200 < sixteen[24, 32, 0] < 240
    # EXIF: the stored picture is 64x48, the cut-out is upright 48x64 with the box at the top.
    rotated = np.asarray(Image.open(dest / "rotated.png"))
    assert rotated.shape[:2] == (64, 48) and rotated[10:20, 15:30, 3].min() > 240

    written = {os.path.relpath(os.path.join(d, n), dest) for d, _, ns in os.walk(dest)
               for n in ns}
    bookkeeping = {"_summary.json", "_job.json",
                   os.path.join("_rejected", "rejected-00000-of-00001.jsonl")}
    index = {w for w in written if w.startswith("_index" + os.sep)}   # one file: this run's
    assert len(index) == 1 and next(iter(index)).endswith("-00000-of-00001.jsonl")
    runs = {w for w in written if w.startswith("_summary" + os.sep)}   # this run's summary
    assert len(runs) == 1
    assert written == set(expected) | bookkeeping | index | runs

    rejects = rejects_of(dest)
    got = {}
    for r in rejects:
        assert set(r) == {"source", "path", "reason", "detail"} and r["source"] == str(src)
        name = os.path.basename(r["path"])
        got[name + "@_private" if "/_private/" in r["path"] else name] = r["reason"]
    assert got == bad
    summary = json.load(open(dest / "_summary.json"))
    assert summary["written"] == summary["files_written"] == len(expected)
    assert summary["rejected"] == len(rejects) == len(bad)
    assert summary["inputs"] == len(expected) + len(bad) and summary["skipped"] == 0
    assert summary["ignored_os_files"] == 3
    assert summary["rejected_by_reason"] == {
        "empty_file": 1, "not_an_image": 1, "output_name_collision": 2,
        "reserved_output_name": 1, "too_many_pixels": 1, "undecodable": 1}


def _outputs_state(dest):
    return {os.path.relpath(os.path.join(d, n), dest): (os.stat(os.path.join(d, n)).st_mtime_ns,
                                                        os.stat(os.path.join(d, n)).st_ino)
            for d, _, ns in os.walk(dest) for n in ns if not n.startswith(".")
            and "_rejected" not in d and "_index" not in d and "_review" not in d
            and "_tmp" not in d and "_summary" not in d
            and n not in ("_summary.json", "_job.json")}


def _small_set(folder, count=4):
    img = Image.fromarray(cs.scene())
    for i in range(count):
        cs.write(os.path.join(folder, f"set{i % 2}", f"p{i}.jpg"), cs.encode(img, "JPEG"))


def test_rerun_skips_existing_and_overwrite_redoes(tmp_path, model_dir):
    src, dest = tmp_path / "in", tmp_path / "out"
    _small_set(src)
    first = run_job(src, dest, model_dir)
    assert (first["written"], first["skipped"]) == (4, 0)
    before = _outputs_state(dest)
    again = run_job(src, dest, model_dir)
    assert (again["written"], again["skipped"], again["rejected"]) == (0, 4, 0)
    assert _outputs_state(dest) == before  # nothing rewritten
    redo = run_job(src, dest, model_dir, "--overwrite")
    assert (redo["written"], redo["skipped"]) == (4, 0)
    after = _outputs_state(dest)
    assert set(after) == set(before) and all(after[k] != before[k] for k in before)


def test_rerun_after_a_crash_completes_the_rest_and_rewrites_nothing(tmp_path, model_dir):
    src = tmp_path / "in"
    _small_set(src)
    reference = tmp_path / "reference"
    run_job(src, reference, model_dir)
    # The crashed run: two outputs made it, a third was being written (its temporary file).
    dest = tmp_path / "out"
    for rel in ("set0/p0.png", "set1/p1.png"):
        os.makedirs(os.path.dirname(dest / rel), exist_ok=True)
        shutil.copy2(reference / rel, dest / rel)
    survivors = _outputs_state(dest)
    # Temporaries live in the run's own DEST/_tmp/<run>/ (no input's output can be named like
    # one), with its owner: a process that has exited, so the next start-up may sweep it.
    crashed = dest / "_tmp" / "20261204T000000Z-0a0b0c"
    crashed.mkdir(parents=True)
    owner = subprocess.Popen(["true"])
    owner.wait()
    (crashed / "owner.json").write_text(json.dumps({"pid": owner.pid,
                                                    "host": socket.gethostname()}))
    (crashed / ".tmp-0123456789abcdef0123456789abcdef-p2.png").write_bytes(b"\x89PNG\r\npa")
    result = run_job(src, dest, model_dir)
    assert (result["written"], result["skipped"], result["rejected"]) == (2, 2, 0)
    state = _outputs_state(dest)
    assert {k: state[k] for k in survivors} == survivors  # untouched
    for rel in ("set0/p0.png", "set1/p1.png", "set0/p2.png", "set1/p3.png"):
        assert (dest / rel).read_bytes() == (reference / rel).read_bytes()
    assert not list(dest.rglob(".tmp-*"))  # the crashed write's leftover is gone
    assert not crashed.exists()


def test_killed_run_then_rerun_finishes_and_rewrites_nothing(tmp_path, model_dir):
    """A real crash: the job is killed (SIGKILL, workers and all) while it writes; the re-run
    writes only what is missing, and no partial file is left anywhere."""
    import signal
    import subprocess
    import sys
    import time

    from PIL import Image

    src = tmp_path / "in"
    src.mkdir()
    rng = np.random.default_rng(5)
    total = 60
    for i in range(total):
        noise = rng.integers(0, 256, (600, 800, 3), dtype=np.uint8)  # slow to compress
        Image.fromarray(noise).save(src / f"p{i:02d}.png", compress_level=0)
    dest = tmp_path / "out"
    cmd = [sys.executable, "-m", "pipelines.remove_background", "--input", str(src),
           "--output_dir", str(dest), "--model", model_dir, "--png_compression", "default",
           "--max_batch_size", "2"]
    proc = subprocess.Popen(cmd, start_new_session=True, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    deadline = time.time() + 240
    try:
        while time.time() < deadline and proc.poll() is None:
            done = list(dest.glob("p*.png")) if dest.exists() else []
            if len(done) >= 3:
                break
            time.sleep(0.05)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    finished = sorted(p.name for p in dest.glob("p*.png"))
    assert 3 <= len(finished) < total, "the kill did not land mid-run"
    for path in dest.glob("p*.png"):
        Image.open(path).load()  # every visible output is whole
    before = _outputs_state(dest)
    result = run_job(src, dest, model_dir)
    assert result["skipped"] == len(finished)
    assert result["written"] == total - len(finished) and result["rejected"] == 0
    after = _outputs_state(dest)
    assert {k: after[k] for k in before} == before  # nothing that survived was rewritten
    assert sorted(p.name for p in dest.glob("p*.png")) == [f"p{i:02d}.png" for i in range(total)]
    assert not list(dest.rglob(".tmp-*")) and not (dest / "_tmp").exists()


def test_mask_both_and_background(tmp_path, model_dir):
    src = tmp_path / "in"
    rgb = cs.scene()
    cs.write(src / "a" / "photo.jpg", cs.encode(Image.fromarray(rgb), "JPEG", quality=95))
    expected = cs.expected_alpha(rgb)

    both = tmp_path / "both"
    run_job(src, both, model_dir, "--output", "both", "--background", "white")
    cut = Image.open(both / "a" / "photo.png")
    mask = Image.open(both / "a" / "photo.mask.png")
    assert cut.mode == "RGB" and mask.mode == "L" and mask.size == cut.size == (64, 48)
    cs.assert_alpha_matches(np.asarray(mask), expected)
    arr = np.asarray(cut)
    assert arr[2, 2].min() == 255                 # background became white
    assert abs(int(arr[24, 32, 0]) - cs.BRIGHT) < 8  # the object is kept

    mask_only = tmp_path / "mask"
    run_job(src, mask_only, model_dir, "--output", "mask", "--png_compression", "default")
    only = Image.open(mask_only / "a" / "photo.png")
    assert only.mode == "L"
    assert np.array_equal(np.asarray(only), np.asarray(mask))
    assert sorted(os.listdir(mask_only / "a")) == ["photo.png"]


def test_input_list_with_odd_names(tmp_path, model_dir):
    root = tmp_path / "data"
    dest = tmp_path / "out"
    img = cs.encode(Image.fromarray(cs.scene()), "JPEG")
    good = cs.write(root / "ok" / "one.jpg", img)
    cs.write(root / "ok" / "two.jpg", img)
    long_name = "l" * 251 + ".jpg"  # fine as a file; its mask name (260 bytes) is not
    cs.write(root / long_name, img)
    cs.write(tmp_path / "outside.jpg", img)
    cs.write(dest / "inside.jpg", img)
    listing = tmp_path / "list.txt"
    listing.write_text("\n".join([
        good, "ok/two.jpg", "", "ok/../../outside.jpg", str(tmp_path / "outside.jpg"),
        good, "ok/missing.jpg", long_name, str(dest / "inside.jpg"), "  "]) + "\n")
    result = run_job(listing, dest, model_dir, "--input_root", root, "--output", "both",
                     input_flag="--input_list")
    assert sorted(os.listdir(dest / "ok")) == ["one.mask.png", "one.png", "two.mask.png",
                                               "two.png"]
    rejects = sorted((r["path"], r["reason"]) for r in rejects_of(dest))
    assert rejects == sorted([
        (str(root / "ok/../../outside.jpg"), "unsafe_path"),
        (str(tmp_path / "outside.jpg"), "outside_input_root"),
        (good, "duplicate_input"),
        (str(root / "ok/missing.jpg"), "read_failed"),
        (str(root / long_name), "name_too_long"),
        (str(dest / "inside.jpg"), "inside_output_dir")])
    assert (result["written"], result["files_written"], result["rejected"]) == (2, 4, 6)
    # Nothing landed outside DEST.
    assert sorted(os.listdir(tmp_path)) == ["data", "list.txt", "out", "outside.jpg"]


def test_dest_inside_the_input_folder_is_left_out_of_the_inputs(tmp_path, model_dir):
    src = tmp_path / "photos"
    _small_set(src, count=2)
    dest = src / "cutouts"
    assert run_job(src, dest, model_dir)["written"] == 2
    again = run_job(src, dest, model_dir)
    assert (again["inputs"], again["skipped"]) == (2, 2)  # no cut-outs of cut-outs
    assert not (dest / "cutouts").exists()
    with pytest.raises(rb.JobError, match="inside"):
        run_job(src, src, model_dir)
    with pytest.raises(rb.JobError, match="inside"):
        run_job(src / "set0", src, model_dir)


def test_glob_input_keeps_paths_relative_to_the_folder_before_the_wildcard(tmp_path, model_dir):
    src = tmp_path / "in"
    _small_set(src)
    cs.write(src / "set0" / "skip.png", cs.encode(Image.fromarray(cs.scene()), "PNG"))
    result = run_job(str(src) + "/set*/*.jpg", tmp_path / "out", model_dir)
    assert result["written"] == 4
    assert sorted(os.listdir(tmp_path / "out" / "set0")) == ["p0.png", "p2.png"]


def test_jobs_that_cannot_run_fail_clearly(tmp_path, model_dir, capsys):
    src = tmp_path / "in"
    _small_set(src, count=1)
    (tmp_path / "empty").mkdir()
    cases = [
        (["--input", str(src), "--output_dir", str(tmp_path / "o"), "--model",
          str(tmp_path / "nope")], "no model export at"),
        (["--input", str(tmp_path / "empty"), "--output_dir", str(tmp_path / "o"), "--model",
          model_dir], "no inputs matched"),
        (["--input", str(src) + "/*.gif", "--output_dir", str(tmp_path / "o"), "--model",
          model_dir], "no inputs matched"),
        (["--input", str(tmp_path / "missing"), "--output_dir", str(tmp_path / "o"), "--model",
          model_dir], "does not exist: check the path"),
        (["--input_list", str(tmp_path / "l.txt"), "--output_dir", str(tmp_path / "o"),
          "--model", model_dir], "--input_root"),
        (["--input", str(src), "--output_dir", str(tmp_path / "o"), "--model", model_dir,
          "--background", "not-a-colour"], "bad colour"),
    ]
    for argv, message in cases:
        assert rb.main(argv) == 2, argv
        assert message in capsys.readouterr().err, argv
    # The real command's exit status.
    proc = subprocess.run([sys.executable, "-m", "pipelines.remove_background", "--input",
                           str(src), "--output_dir", str(tmp_path / "o"), "--model",
                           str(tmp_path / "nope")], cwd=ROOT, capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 2 and "no model export at" in proc.stderr


def test_gcs_input_output_and_model(gcs_bucket, model_dir):
    for path, _ in fileio.list_files(model_dir):
        fileio.write_bytes(f"{gcs_bucket}/models/export/{os.path.relpath(path, model_dir)}",
                           fileio.read_bytes(path))
    rgb = cs.scene()
    data = cs.encode(Image.fromarray(rgb), "JPEG", quality=95)
    for rel in ("a.jpg", "sub/b.jpg"):
        fileio.write_bytes(f"{gcs_bucket}/in/{rel}", data, mime_type="image/jpeg")
    fileio.write_bytes(f"{gcs_bucket}/in/broken.jpg", data[:100], mime_type="image/jpeg")
    dest = f"{gcs_bucket}/out"
    result = run_job(f"{gcs_bucket}/in", dest, f"{gcs_bucket}/models/export")
    assert (result["written"], result["rejected"]) == (2, 1)
    client = storage.Client(project="cutout-test")
    bucket = client.bucket(gcs_bucket[len("gs://"):])
    for name in ("out/a.png", "out/sub/b.png"):
        blob = bucket.get_blob(name)
        assert blob.content_type == "image/png"
        cut = np.asarray(Image.open(io.BytesIO(blob.download_as_bytes())))
        cs.assert_alpha_matches(cut[..., 3], cs.expected_alpha(rgb))
    assert [r["reason"] for r in rejects_of_gcs(dest)] == ["undecodable"]
    again = run_job(f"{gcs_bucket}/in", dest, f"{gcs_bucket}/models/export")
    assert (again["written"], again["skipped"]) == (0, 2)


def rejects_of_gcs(dest):
    return [json.loads(line) for path, _ in fileio.match(dest + "/_rejected/*.jsonl")
            for line in fileio.read_bytes(path).decode().splitlines()]


def test_cutout_tool_gives_the_pipelines_bytes(tmp_path, model_dir):
    src, dest = tmp_path / "in", tmp_path / "out"
    inputs = make_kinds(src)
    run_job(src, dest, model_dir, "--output", "both")
    model = inference.load_saved_model(model_dir)
    for rel in inputs:
        stem = os.path.splitext(rel)[0]
        [source] = [p for p in src.glob(stem + ".*")]
        data = source.read_bytes()
        assert cutout.remove_background_bytes(data, model) == (dest / rel).read_bytes(), rel
        assert cutout.remove_background_bytes(data, model, output="mask") == \
            (dest / (stem + ".mask.png")).read_bytes(), rel
    # The library with a path, and the command line.
    data = (src / "rotated.jpg").read_bytes()
    assert cutout.remove_background_bytes(data, model_dir) == (dest / "rotated.png").read_bytes()
    out = tmp_path / "cli" / "rotated.png"
    proc = subprocess.run([sys.executable, "-m", "pipelines.cutout", str(src / "rotated.jpg"),
                           str(out), "--model", model_dir, "--output", "both"], cwd=ROOT,
                          capture_output=True, text=True, timeout=180)
    assert proc.returncode == 0, proc.stderr
    assert out.read_bytes() == (dest / "rotated.png").read_bytes()
    assert (tmp_path / "cli" / "rotated.mask.png").read_bytes() == \
        (dest / "rotated.mask.png").read_bytes()
    bad = subprocess.run([sys.executable, "-m", "pipelines.cutout", str(src / "missing.jpg"),
                          str(out), "--model", model_dir], cwd=ROOT, capture_output=True,
                         text=True, timeout=180)
    assert bad.returncode == 2 and "missing.jpg does not exist" in bad.stderr  # a mistake


def test_job_builds_for_dataflow_offline(gcs_bucket, tmp_path, model_dir):
    """--dry_run builds and pickles the whole job for the DataflowRunner, submitting nothing."""
    src = tmp_path / "in"
    _small_set(src, count=1)
    setup_py = os.path.join(ROOT, "setup.py")
    dataflow = ["--runner", "DataflowRunner", "--dry_run=True", "--project", "cutout-test",
                "--region", "europe-west4", "--temp_location", f"{gcs_bucket}/tmp",
                "--setup_file", setup_py]
    with pytest.raises(rb.JobError, match="can't reach the local path"):
        rb.run(["--input", str(src), "--output_dir", f"{gcs_bucket}/out", "--model", model_dir]
               + dataflow)
    from tests.cutout_support import upload_tree

    upload_tree(str(src), f"{gcs_bucket}/in")
    upload_tree(model_dir, f"{gcs_bucket}/export")
    result = rb.run(["--input", f"{gcs_bucket}/in", "--output_dir", f"{gcs_bucket}/out",
                     "--model", f"{gcs_bucket}/export"] + dataflow)
    assert result is None
    assert fileio.list_files(f"{gcs_bucket}/out") == []


def test_multi_process_local_runner(tmp_path, model_dir):
    """Two worker processes: the handler, configs and DoFns pickle, each worker loads the model."""
    src = tmp_path / "in"
    _small_set(src, count=3)
    result = run_job(src, tmp_path / "out", model_dir, "--direct_running_mode",
                     "multi_processing", "--direct_num_workers", "2")
    assert (result["written"], result["rejected"]) == (3, 0)
    cut = np.asarray(Image.open(tmp_path / "out" / "set0" / "p0.png"))
    cs.assert_alpha_matches(cut[..., 3], cs.expected_alpha(cs.scene()))


def test_single_file_input_and_the_longest_names(tmp_path, model_dir):
    src = tmp_path / "in"
    longest = "n" * 251 + ".jpg"  # its cut-out name is 255 bytes: the most a filesystem holds
    cs.write(src / longest, cs.encode(Image.fromarray(cs.scene()), "JPEG"))
    result = run_job(src / longest, tmp_path / "out", model_dir)
    assert result["written"] == 1
    assert os.listdir(tmp_path / "out").count("n" * 251 + ".png") == 1


def test_folders_whose_names_look_like_globs_are_taken_literally(tmp_path, model_dir):
    src = tmp_path / "photos [2023]"
    _small_set(src)
    dest = tmp_path / "cut-outs [v1]"
    result = run_job(src, dest, model_dir)
    assert result["written"] == 4 and result["rejected"] == 0
    again = run_job(src, dest, model_dir)  # DEST's listing sees its own files too
    assert again["skipped"] == 4 and again["written"] == 0
    single = run_job(src / "set0" / "p0.jpg", tmp_path / "one", model_dir)
    assert single["written"] == 1

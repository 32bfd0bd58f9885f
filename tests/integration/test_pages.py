"""The project's pages in a real browser (headless Chromium, tests/browser.py): each loads from
disk with no server and no network, shows the expected number of items, and every image on it
loads. A screenshot of each is saved in the test's tmp folder."""
import json
import os

import numpy as np
from PIL import Image

from pipelines.remove_background import review_page as rp
from pipelines.remove_background.index import REVIEW_DIR
from tests import cutout_support as cs
from tests.unit.test_review_page import fake_dest


def test_review_page_shows_photo_and_cutout_of_each_output(tmp_path, browser):
    _, dest = fake_dest(tmp_path, {f"p{i}": i / 10 for i in range(7)}, review=("p1", "p2", "p5"))
    done = rp.build_review_page(dest)
    assert (done["entries"], done["pages"]) == (3, 1)
    seen = browser.open(done["page"], ".entry", screenshot=tmp_path / "review.png")
    assert seen["items"] == 3
    assert seen["images"] == 6 and seen["broken"] == []
    assert seen["off_machine"] == []
    assert "page 1 of 1" in seen["text"]
    ranks = [line for line in seen["text"].splitlines() if line.startswith("#")]
    assert ranks == ["#1 confidence 0.100", "#2 confidence 0.200", "#3 confidence 0.500"]
    # The caption's link reaches the full-size output, relative to the page.
    href = browser.evaluate("document.querySelector('.entry a').getAttribute('href')")
    assert href == "../p1.png"
    assert os.path.isfile(os.path.join(dest, REVIEW_DIR, href))
    assert Image.open(tmp_path / "review.png").size[0] == 1280


def test_review_page_of_100000_entries_opens_on_page_1_of_1000(tmp_path, browser):
    """Paging: the page reads one data file of 100 entries, whatever the total. The entries
    share two thumbnails (the count is what is tested here, not the pictures)."""
    dest = str(tmp_path / "dest")
    rgb = cs.scene(64, 48)
    photo_bytes, cut_bytes = rp.make_thumbnails(cs.encode(Image.fromarray(rgb), "JPEG"),
                                                cs.encode(Image.fromarray(rgb), "PNG"))
    cs.write(os.path.join(dest, REVIEW_DIR, "thumbs", "shared.jpg"), photo_bytes)
    cs.write(os.path.join(dest, REVIEW_DIR, "thumbs", "shared.webp"), cut_bytes)
    entries = [{"input": f"gs://bucket/in/{i:06d}.jpg", "output": f"{i:06d}.png",
                "confidence": i / 100000, "photo_thumb": "thumbs/shared.jpg",
                "cutout_thumb": "thumbs/shared.webp"} for i in range(100000)]
    page = rp.write_review_page(dest, entries)
    assert os.path.getsize(page) < 20000      # the page holds the counts, not the entries
    assert len(os.listdir(os.path.join(dest, REVIEW_DIR, rp.DATA_DIR))) == 1000

    seen = browser.open(page, ".entry", screenshot=tmp_path / "review-100000.png")
    assert seen["items"] == 100 and seen["images"] == 200 and seen["broken"] == []
    assert "page 1 of 1000" in seen["text"] and "100,000 outputs" in seen["text"]
    loaded = browser.evaluate("Array.from(document.scripts).map(s => s.getAttribute('src'))"
                              ".filter(Boolean)")
    assert loaded == ["pages/00001.js"]

    browser.evaluate("document.querySelector('.next').click()")
    browser.evaluate("new Promise(r => setTimeout(r, 300))")
    seen = browser.wait_for(".entry")
    assert "page 2 of 1000" in seen["text"] and "#101 confidence 0.001" in seen["text"]
    browser.evaluate("location.hash = 'page=1000'")
    browser.evaluate("new Promise(r => setTimeout(r, 300))")
    seen = browser.wait_for(".entry")
    assert seen["items"] == 100 and "page 1000 of 1000" in seen["text"]
    assert "#100000 confidence 1.000" in seen["text"]
    assert json.loads(json.dumps(seen["off_machine"])) == []


def test_report_page_shows_tables_worst_images_and_confidence(tmp_path, browser):
    from pipelines.evaluate import page as eval_page
    from pipelines.evaluate.contact_sheet import MODEL_COLUMNS
    from tests.unit.test_eval_page import fake_report, worst_rows

    model = tmp_path / "model"
    os.makedirs(model / "export")
    cs.write(model / "training_curves.png", cs.encode(Image.new("RGB", (840, 300), "white"),
                                                      "PNG"))
    rows = [(f"src/img{i}", "src", {"iou": i / 12}, i / 12) for i in range(12)]
    page = eval_page.write_report_page(str(tmp_path / "R"), fake_report(), rows, worst_rows(4),
                                       MODEL_COLUMNS, str(model / "export"))
    seen = browser.open(page, "tr.worst", screenshot=tmp_path / "report.png")
    assert seen["items"] == 4
    assert seen["images"] == 4 * 4 + 1 and seen["broken"] == []
    assert seen["off_machine"] == []
    assert "The model is worse than a centred ellipse on IoU (0.195 vs 0.235)" in seen["text"]
    assert browser.evaluate("document.querySelectorAll('svg.scatter circle').length") == 12
    assert browser.evaluate("document.querySelectorAll('table.per-source tbody tr').length") == 6


# --- The pages as the jobs write them ---

def test_evaluate_writes_the_report_page_and_prints_per_source(preprocessed, tmp_path, browser,
                                                               capsys):
    from pipelines.evaluate import job as evaluate
    from pipelines.evaluate.page import baseline_verdicts

    out, _ = preprocessed
    model = tmp_path / "model"
    export = cs.export_brightness_model(str(model / "export"))
    (model / "metrics.csv").write_text("epoch,loss,val_iou\n0,1.0,0.4\n1,0.5,0.6\n")
    report = evaluate.run(["--data_dir", str(out), "--model", export, "--report_dir",
                           str(tmp_path / "R"), "--metrics", "iou,mae", "--sheet_rows", "5"])
    printed = capsys.readouterr().out.splitlines()
    sources = sorted(report["per_source"])
    table = [line.split()[0] for line in printed if line.startswith("  ")]
    assert table == ["source", "(overall)", *sources]
    assert report["files"]["page"] == "report.html"
    seen = browser.open(tmp_path / "R" / "report.html", "tr.worst",
                        screenshot=tmp_path / "report.png")
    assert seen["items"] == 5 and seen["images"] == 5 * 4 and seen["broken"] == []
    assert seen["off_machine"] == []
    assert "2 epochs; best val IoU 0.600 at epoch 2" in seen["text"]
    points = browser.evaluate("document.querySelectorAll('svg.scatter circle').length")
    assert points == report["count"]
    verdicts = baseline_verdicts(report)
    assert all(v in seen["text"] for v in verdicts)
    assert ("beats every baseline" in seen["text"]) == (not verdicts)


def test_report_page_on_a_bucket_opens_from_a_copy(gcs_bucket, tmp_path, browser):
    """Folder mode with everything on gs:// (the emulator): the page and its pictures are
    objects beside each other, and a copy of the folder opens with every picture."""
    from pipelines.core import fileio
    from pipelines.evaluate import job as evaluate

    box = np.zeros((20, 30), np.uint8)
    box[5:15, 5:25] = 255
    gt, pred, report_dir = (f"{gcs_bucket}/gt", f"{gcs_bucket}/pred", f"{gcs_bucket}/R")
    for name in ("a", "b"):
        fileio.write_bytes(f"{gt}/set/{name}.png", cs.encode(Image.fromarray(box, "L"), "PNG"))
        fileio.write_bytes(f"{pred}/set/{name}.png", cs.encode(Image.fromarray(box, "L"), "PNG"))
    evaluate.run(["--pred_dir", pred, "--gt_dir", gt, "--report_dir", report_dir,
                  "--metrics", "iou"])
    copy = tmp_path / "copy"
    for path, _ in fileio.list_files(report_dir):
        cs.write(copy / fileio.relative_to(path, report_dir), fileio.read_bytes(path))
    names = sorted(os.listdir(copy / "report_files"))
    assert names == [f"worst-0{n}-{c}.png" for n in (1, 2)
                     for c in ("errors", "ground-truth", "prediction")]
    seen = browser.open(copy / "report.html", "tr.worst", screenshot=tmp_path / "report.png")
    assert seen["items"] == 2 and seen["images"] == 6 and seen["broken"] == []


def test_remove_with_review_below_writes_the_review_page(tmp_path, browser, capsys):
    from pipelines.remove_background import job as rb

    src, dest = tmp_path / "in", tmp_path / "out"
    cs.write(src / "sure.jpg", cs.encode(Image.fromarray(cs.scene()), "JPEG"))
    grey = np.full((48, 64, 3), 128, np.uint8)                 # alpha 0.5: confidence 0
    cs.write(src / "grey.png", cs.encode(Image.fromarray(grey), "PNG"))
    model = cs.export_brightness_model(str(tmp_path / "model" / "export"))
    rb.run(["--input", str(src), "--output_dir", str(dest), "--model", model,
            "--review_below", "0.5"])
    page = dest / REVIEW_DIR / "index.html"
    # The worker that wrote grey.png made its thumbnails: the page at the end made none.
    assert (f"review page {page} (1 outputs under review; thumbnails: 1 made by the workers (or "
            "an earlier run), 0 made now, 0 not possible)") in capsys.readouterr().out
    seen = browser.open(page, ".entry", screenshot=tmp_path / "review.png")
    assert seen["items"] == 1 and seen["images"] == 2 and seen["broken"] == []
    assert "grey.png" in seen["text"] and "sure" not in seen["text"]


def test_cutout_review_command(tmp_path):
    import subprocess
    import sys

    _, dest = fake_dest(tmp_path, {"a": 0.1, "b": 0.9})
    run = [sys.executable, "-m", "pipelines.cli", "review"]
    helped = subprocess.run(run + ["--help"], capture_output=True, text=True, timeout=120)
    assert helped.returncode == 0 and helped.stdout.startswith("usage: cutout review")
    done = subprocess.run(run + [dest, "--below", "0.5"], capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[-1] == (f"review: 1 output on 1 page: "
                                            f"{dest}/{REVIEW_DIR}/index.html")
    wrong = subprocess.run(run + [str(tmp_path / "nothing")], capture_output=True, text=True,
                           timeout=120)
    assert wrong.returncode == 2 and len(wrong.stderr.strip().splitlines()) == 1


def test_review_page_on_a_bucket_opens_from_a_copy(gcs_bucket, tmp_path, browser):
    """A DEST on gs:// (the emulator): the page, its data and thumbnails are written beside the
    review lists, and a copy of DEST opens with every picture and a working output link."""
    from pipelines.core import fileio

    _, local = fake_dest(tmp_path, {"a": 0.1, "b": 0.3, "c": 0.9}, review=("a", "b"))
    dest = f"{gcs_bucket}/dest"
    for path, _ in fileio.list_files(local):
        fileio.write_bytes(f"{dest}/{fileio.relative_to(path, local)}", fileio.read_bytes(path))
    done = rp.build_review_page(dest)
    assert done["page"] == f"{dest}/{REVIEW_DIR}/index.html" and done["entries"] == 2
    copy = tmp_path / "copy"
    for path, _ in fileio.list_files(dest):
        cs.write(copy / fileio.relative_to(path, dest), fileio.read_bytes(path))
    seen = browser.open(copy / REVIEW_DIR / "index.html", ".entry",
                        screenshot=tmp_path / "review.png")
    assert seen["items"] == 2 and seen["images"] == 4 and seen["broken"] == []
    href = browser.evaluate("document.querySelector('.entry a').getAttribute('href')")
    assert (copy / REVIEW_DIR / href).resolve() == (copy / "a.png").resolve()

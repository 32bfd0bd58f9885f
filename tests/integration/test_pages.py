"""The project's pages in a real browser (headless Chromium, tests/browser.py): each loads from
disk with no server and no network, shows the expected number of items, and every image on it
loads. A screenshot of each is saved in the test's tmp folder."""
import json
import os

from PIL import Image

from pipelines import review_page as rp
from pipelines.rb_index import REVIEW_DIR
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
    from pipelines import eval_page
    from pipelines.eval_contact_sheet import MODEL_COLUMNS
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

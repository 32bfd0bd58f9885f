"""The review page's pieces (pipelines/review_page.py): which outputs, in what order, their
thumbnails, the page's data files. The page in a real browser: tests/integration/test_pages.py."""
import io
import json
import os

import numpy as np
import pytest
from PIL import Image

from pipelines.remove_background import review_page as rp
from pipelines.remove_background.index import INDEX_DIR, REVIEW_DIR
from pipelines.core.rejects import JobError
from tests import cutout_support as cs


def fake_dest(tmp_path, confidences: dict, review=(), index_runs=1, mode="cutout"):
    """A DEST as remove_background leaves it, without a model: photos under tmp/in, outputs (the
    photo with the scene's alpha, or the mask) under tmp/dest, index lines, review lines."""
    src, dest = tmp_path / "in", tmp_path / "dest"
    lines = []
    for stem, conf in confidences.items():
        rgb = cs.scene(64, 48)
        photo = cs.write(src / f"{stem}.jpg", cs.encode(Image.fromarray(rgb), "JPEG"))
        alpha = cs.expected_alpha(rgb)
        out = (Image.fromarray(alpha, "L") if mode == "mask"
               else Image.fromarray(np.dstack([rgb, alpha]), "RGBA"))
        name = f"{stem}.png"
        cs.write(dest / name, cs.encode(out, "PNG"))
        lines.append({"input": photo, "outputs": [name], "width": 64, "height": 48,
                      "confidence": conf, "model": "m", "refine": "none"})
    for run in range(index_runs):
        cs.write(dest / INDEX_DIR / f"2026010{run}T000000Z-abc-00000-of-00001.jsonl",
                 "".join(json.dumps(line) + "\n" for line in lines).encode())
    if review:
        chosen = [{k: line[k] for k in ("input", "confidence", "outputs")}
                  for line in lines if os.path.basename(line["input"])[:-4] in review]
        cs.write(dest / REVIEW_DIR / "20260100T000000Z-abc-00000-of-00001.jsonl",
                 "".join(json.dumps(line) + "\n" for line in chosen).encode())
    return str(src), str(dest)


def test_entries_lowest_confidence_first_from_review_or_below(tmp_path):
    src, dest = fake_dest(tmp_path, {"a": 0.9, "b": 0.2, "c": 0.5, "d": 0.2}, review=("a", "b"))
    listed = rp.review_entries(dest)
    assert [os.path.basename(e["input"]) for e in listed] == ["b.jpg", "a.jpg"]
    below = rp.review_entries(dest, below=0.6)
    assert [(os.path.basename(e["input"]), e["confidence"]) for e in below] == [
        ("b.jpg", 0.2), ("d.jpg", 0.2), ("c.jpg", 0.5)]
    assert below[0]["output"] == "b.png"


def test_shown_output_is_the_cutout_of_a_pair():
    assert rp.shown_output(["x.mask.png", "x.png"]) == "x.png"
    assert rp.shown_output(["x.mask.png"]) == "x.mask.png"
    assert rp.shown_output([]) is None


@pytest.mark.parametrize("mode", ["cutout", "mask", "composited"])
def test_thumbnails_keep_the_cutouts_alpha(mode):
    rgb = cs.scene(640, 480)
    alpha = cs.expected_alpha(rgb)
    output = {"cutout": Image.fromarray(np.dstack([rgb, alpha]), "RGBA"),
              "mask": Image.fromarray(alpha, "L"),
              "composited": Image.fromarray(rgb, "RGB")}[mode]
    photo, cut = rp.make_thumbnails(cs.encode(Image.fromarray(rgb), "JPEG"),
                                    cs.encode(output, "PNG"))
    photo_img, cut_img = Image.open(io.BytesIO(photo)), Image.open(io.BytesIO(cut))
    assert (photo_img.format, cut_img.format) == ("JPEG", "WEBP")
    assert photo_img.size == cut_img.size == (160, 120)
    if mode == "composited":
        assert cut_img.mode == "RGB"
    else:
        a = np.asarray(cut_img.convert("RGBA").getchannel("A"))
        assert a[60, 80] > 200 and a[5, 5] < 50     # the box kept, the background transparent


def test_page_data_in_pages_of_100_and_stale_pages_removed(tmp_path):
    dest = str(tmp_path / "dest")
    entries = [{"input": f"/in/{i}.jpg", "output": f"{i}.png", "confidence": i / 1000}
               for i in range(250)]
    rp.write_review_page(dest, entries)
    data = sorted(os.listdir(os.path.join(dest, REVIEW_DIR, rp.DATA_DIR)))
    assert data == ["00001.js", "00002.js", "00003.js"]
    third = open(os.path.join(dest, REVIEW_DIR, rp.DATA_DIR, "00003.js")).read()
    assert third.startswith("cutoutReview.show(") and third.rstrip().endswith(");")
    shown = json.loads(third[len("cutoutReview.show("):third.rindex(")")])
    assert shown["page"] == 3 and len(shown["entries"]) == 50
    assert shown["entries"][0]["in"] == "/in/200.jpg"
    html = open(os.path.join(dest, REVIEW_DIR, rp.PAGE_FILE)).read()
    assert '"total": 250' in html and '"pages": 3' in html
    rp.write_review_page(dest, entries[:10])                  # fewer now: pages 2, 3 go
    assert os.listdir(os.path.join(dest, REVIEW_DIR, rp.DATA_DIR)) == ["00001.js"]


def test_build_reuses_current_thumbnails_and_deletes_unused(tmp_path):
    _, dest = fake_dest(tmp_path, {"a": 0.1, "b": 0.2, "c": 0.3})
    first = rp.build_review_page(dest, below=0.25)
    assert (first["entries"], first["thumbnails_made"], first["thumbnail_problems"]) == (2, 2, 0)
    again = rp.build_review_page(dest, below=0.25)
    assert (again["thumbnails_made"], again["thumbnails_reused"]) == (0, 2)
    fewer = rp.build_review_page(dest, below=0.15)
    assert (fewer["entries"], fewer["thumbnails_deleted"]) == (1, 2)   # b's photo and cut-out
    thumbs = [n for _, _, names in os.walk(os.path.join(dest, REVIEW_DIR, rp.THUMB_DIR))
              for n in names]
    assert len(thumbs) == 2


def test_unreadable_output_is_shown_with_its_reason(tmp_path):
    _, dest = fake_dest(tmp_path, {"a": 0.1, "b": 0.2})
    os.remove(os.path.join(dest, "a.png"))
    done = rp.build_review_page(dest, below=1)
    assert done["thumbnail_problems"] == 1
    page = open(os.path.join(dest, REVIEW_DIR, rp.DATA_DIR, "00001.js")).read()
    first = json.loads(page[len("cutoutReview.show("):page.rindex(")")])["entries"][0]
    assert first["p"] is None and first["why"].startswith("output: ")


def test_a_folder_without_index_is_one_line_exit_2(tmp_path, capsys):
    assert rp.main([str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "has no index" in err[0]
    with pytest.raises(JobError, match="--below"):
        rp.build_review_page(str(tmp_path), below=2)

"""remove_background's index and review list: one line per output, kept across re-runs,
cleared by --overwrite (pipelines/remove_background/index.py)."""
import json
import os

import numpy as np
import pytest
from PIL import Image

from pipelines.remove_background import job as rb
from pipelines.remove_background.index import INDEX_DIR, REVIEW_DIR, read_index
from tests import cutout_support as cs


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    return cs.export_brightness_model(str(tmp_path_factory.mktemp("model") / "export"))


def files_in(folder):
    """The index's or review list's files (_review/ also holds the review page)."""
    return sorted(n for n in os.listdir(folder) if n.endswith(".jsonl")) \
        if os.path.isdir(folder) else []


def lines(folder):
    return [json.loads(line) for name in files_in(folder)
            for line in open(os.path.join(folder, name)).read().splitlines()]


def test_index_review_rerun_and_overwrite(tmp_path, model_dir, capsys):
    src, dest = tmp_path / "in", tmp_path / "out"
    cs.write(str(src / "a" / "sure.jpg"), cs.encode(Image.fromarray(cs.scene()), "JPEG"))
    two = cs.scene()
    two[:, 30:34] = cs.DARK                                    # the box cut in two pieces
    cs.write(str(src / "a" / "two.png"), cs.encode(Image.fromarray(two), "PNG"))
    grey = np.full((48, 64, 3), 128, np.uint8)                 # alpha 0.5 everywhere
    cs.write(str(src / "b" / "grey.png"), cs.encode(Image.fromarray(grey), "PNG"))
    args = ["--input", str(src), "--output_dir", str(dest), "--model", model_dir,
            "--review_below", "0.7"]

    first = rb.run(args)
    assert first["below_review"] == 2
    assert "2 with confidence under 0.7" in capsys.readouterr().out
    assert (dest / REVIEW_DIR / "index.html").is_file()      # the review page (test_pages.py)
    index = {r["input"]: r for r in lines(dest / INDEX_DIR)}
    assert set(index) == {str(src / n) for n in ("a/sure.jpg", "a/two.png", "b/grey.png")}
    sure = index[str(src / "a" / "sure.jpg")]
    assert sure["outputs"] == ["a/sure.png"] and (sure["width"], sure["height"]) == (64, 48)
    assert sure["model"] == model_dir and sure["refine"] == "guided"
    assert sure["confidence"] > 0.9
    assert index[str(src / "b" / "grey.png")]["confidence"] == 0.0
    assert 0.3 < index[str(src / "a" / "two.png")]["confidence"] < 0.7
    review = lines(dest / REVIEW_DIR)
    assert sorted(r["input"] for r in review) == [str(src / "a" / "two.png"),
                                                  str(src / "b" / "grey.png")]
    first_files = files_in(dest / INDEX_DIR)
    first_bytes = open(dest / INDEX_DIR / first_files[0], "rb").read()

    # A re-run with one new input: a second file with its line; the first run's file is kept.
    cs.write(str(src / "b" / "new.jpg"), cs.encode(Image.fromarray(cs.scene()), "JPEG"))
    second = rb.run(args)
    assert (second["written"], second["skipped"], second["below_review"]) == (1, 3, 0)
    files = files_in(dest / INDEX_DIR)
    assert len(files) == 2 and first_files[0] in files
    assert open(dest / INDEX_DIR / first_files[0], "rb").read() == first_bytes
    merged = read_index(str(dest))
    assert len(merged) == 4 and merged[str(src / "b" / "new.jpg")]["outputs"] == ["b/new.png"]
    assert len(files_in(dest / REVIEW_DIR)) == 2           # the first run's review list stays

    # --overwrite redoes everything: its lines win; the earlier index files stay (issue 20: an
    # overwrite over fewer inputs must not drop the lines of outputs it did not redo), the
    # earlier review lists go.
    third = rb.run(args + ["--overwrite"])
    assert (third["written"], third["below_review"]) == (4, 2)
    assert len(files_in(dest / INDEX_DIR)) == 3
    newest = [json.loads(line) for line in
              open(dest / INDEX_DIR / files_in(dest / INDEX_DIR)[-1]).read().splitlines()]
    assert len(newest) == 4 and read_index(str(dest)) == {r["input"]: r for r in newest}
    assert len(files_in(dest / REVIEW_DIR)) == 1 and len(lines(dest / REVIEW_DIR)) == 2

    # --overwrite without --review_below clears the earlier review lists too.
    rb.run(args[:-2] + ["--overwrite", "--refine", "none"])
    assert files_in(dest / REVIEW_DIR) == []
    assert [p for p in (dest / REVIEW_DIR).rglob("*") if p.is_file()] == []   # page too
    assert {r["refine"] for r in read_index(str(dest)).values()} == {"none"}


def test_bad_review_threshold_is_refused(tmp_path, model_dir):
    with pytest.raises(rb.JobError, match="review_below"):
        rb.run(["--input", str(tmp_path), "--output_dir", str(tmp_path / "o"), "--model",
                model_dir, "--review_below", "2"])

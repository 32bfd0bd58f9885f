"""evaluate's folder mode with --refine guided: predictions refined with their photos first."""
import json

import numpy as np
import pytest
from PIL import Image

from pipelines.evaluate import job as evaluate
from pipelines.core.rejects import JobError


def _save(path, array, mode):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array, mode).save(path)


def test_refined_predictions_score_better_at_the_edges(tmp_path):
    h, w = 96, 128
    rng = np.random.default_rng(0)
    for name in ("p1", "p2"):
        x0 = int(rng.integers(40, 60))
        gt = np.zeros((h, w), np.uint8)
        gt[20:80, x0:x0 + 50] = 255
        photo = np.full((h, w, 3), 40, np.uint8)
        photo[gt > 0] = 210
        # what a 16 px model upsampled 8x gives: the right shape, blurred edges
        small = Image.fromarray(gt).resize((16, 12), Image.Resampling.BILINEAR)
        pred = np.asarray(small.resize((w, h), Image.Resampling.BILINEAR))
        _save(tmp_path / "gt" / "s" / f"{name}.png", gt, "L")
        _save(tmp_path / "pred" / "s" / f"{name}.png", pred, "L")
        _save(tmp_path / "img" / "s" / f"{name}.png", photo, "RGB")
    _save(tmp_path / "gt" / "s" / "lost.png", np.zeros((h, w), np.uint8), "L")
    _save(tmp_path / "pred" / "s" / "lost.png", np.zeros((h, w), np.uint8), "L")
    common = ["--pred_dir", str(tmp_path / "pred"), "--gt_dir", str(tmp_path / "gt"),
              "--metrics", "iou,boundary_iou,sad,grad", "--no_baselines"]
    plain = evaluate.run(common + ["--report_dir", str(tmp_path / "plain")])
    refined = evaluate.run(common + ["--report_dir", str(tmp_path / "refined"), "--refine",
                                     "guided", "--image_dir", str(tmp_path / "img"),
                                     "--model_input_size", "16"])
    assert plain["count"] == 3 and refined["count"] == 2
    assert refined["rejected_counts"] == {"missing_image": 1}
    assert "refined" in refined["resolution"]
    plain_two = json.load(open(tmp_path / "plain" / "metrics.json"))
    assert plain_two["options"]["refine"] == "none"
    # the two photos' scores: the refined ones are sharper where the photo's edges are
    rows = {}
    for name in ("plain", "refined"):
        text = (tmp_path / name / "per_image.csv").read_text().splitlines()
        header = text[0].split(",")
        rows[name] = {line.split(",")[0]: dict(zip(header, line.split(","))) for line in text[1:]}
    for key in ("s/p1", "s/p2"):
        before, after = rows["plain"][key], rows["refined"][key]
        assert float(after["sad"]) < float(before["sad"])
        assert float(after["grad"]) < float(before["grad"])
        assert float(after["boundary_iou"]) >= float(before["boundary_iou"])


def test_refine_needs_photos_and_folder_mode(tmp_path):
    (tmp_path / "gt").mkdir()
    with pytest.raises(JobError, match="image_dir"):
        evaluate.run(["--pred_dir", str(tmp_path), "--gt_dir", str(tmp_path / "gt"),
                      "--report_dir", str(tmp_path / "r"), "--refine", "guided"])
    with pytest.raises(JobError, match="folder mode"):
        evaluate.run(["--data_dir", str(tmp_path), "--model", str(tmp_path),
                      "--report_dir", str(tmp_path / "r"), "--refine", "guided",
                      "--image_dir", str(tmp_path)])

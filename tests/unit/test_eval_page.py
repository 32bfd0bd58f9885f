"""Evaluate's page and printed summary (pipelines/eval_page.py): the sentence when the model does
not beat a baseline, the tables, the files beside the page. In a browser:
tests/integration/test_pages.py."""
import os

import numpy as np

from pipelines.evaluate import page as eval_page
from pipelines.evaluate.contact_sheet import MODEL_COLUMNS, make_thumbs


def fake_report(model_iou=0.195, model_mae=0.30, ellipse_iou=0.235, ellipse_mae=0.25):
    def block(iou, mae, scale=1.0):
        return {"overall": {"iou": iou, "mae": mae},
                "per_source": {"cod10k": {"iou": iou * scale, "mae": mae},
                               "p3m10k": {"iou": iou, "mae": mae * scale}}}

    model = block(model_iou, model_mae, 0.9)
    return {"mode": "model", "count": 20, "resolution": "scored at the stored training "
            "resolution 32x32", "metrics": ["iou", "mae"],
            "overall": model["overall"], "per_source": model["per_source"],
            "per_source_count": {"cod10k": 8, "p3m10k": 12},
            "baselines": {"all_foreground": block(0.100, 0.60),
                          "centred_ellipse": block(ellipse_iou, ellipse_mae)},
            "rejected_counts": {}, "files": {"per_image": "per_image.csv",
                                             "contact_sheet": "contact_sheet.png",
                                             "rejected": "_rejected/*.jsonl"},
            "notes": ["", "", "baselines: ..."], "model": "/m/export", "split": "test",
            "data_dir": "/data", "confidence": {"spearman": 0.5, "bad": 3,
                                                "bad_iou_below": 0.5, "lowest_10pct": 2,
                                                "bad_in_lowest_10pct_share": 2 / 3}}


def test_a_model_worse_than_a_baseline_is_said_in_a_sentence():
    verdicts = eval_page.baseline_verdicts(fake_report())
    assert verdicts == ["The model is worse than a centred ellipse on IoU (0.195 vs 0.235) "
                        "and MAE (0.300 vs 0.250)."]


def test_lower_is_better_metrics_and_ties_are_read_the_right_way():
    verdicts = eval_page.baseline_verdicts(fake_report(model_iou=0.5, model_mae=0.25))
    assert verdicts == ["The model is no better than a centred ellipse on MAE (0.250 vs 0.250)."]


def test_a_model_that_beats_every_baseline_gets_no_such_sentence():
    report = fake_report(model_iou=0.8, model_mae=0.05)
    assert eval_page.baseline_verdicts(report) == []
    html = eval_page.render_report(report, [], [], MODEL_COLUMNS).decode()
    assert "worse than" not in html and "no better than" not in html
    assert "beats every baseline" in html


def test_summary_text_has_the_per_source_table_and_the_verdict():
    lines = eval_page.summary_text(fake_report(), "R/report.html").splitlines()
    assert lines[1].split() == ["source", "count", "IoU", "MAE", "all", "foreground", "IoU",
                                "centred", "ellipse", "IoU"]
    assert lines[2].split() == ["(overall)", "20", "0.195", "0.300", "0.100", "0.235"]
    assert lines[3].split() == ["cod10k", "8", "0.176", "0.300", "0.100", "0.235"]
    assert lines[4].split() == ["p3m10k", "12", "0.195", "0.270", "0.100", "0.235"]
    assert lines[5] == ("evaluate: The model is worse than a centred ellipse on IoU "
                        "(0.195 vs 0.235) and MAE (0.300 vs 0.250).")
    assert lines[6] == "evaluate: report page R/report.html"


def worst_rows(n=3, cell=32):
    rng = np.random.default_rng(0)
    return [(f"src/img{i}", 0.1 * i, make_thumbs(rng.random((cell, cell)), rng.random((cell, cell)),
                                                 cell, rng.integers(0, 255, (cell, cell, 3),
                                                                    dtype=np.uint8)))
            for i in range(n)]


def test_page_files_beside_it_and_stale_ones_removed(tmp_path):
    report_dir, model = str(tmp_path / "R"), tmp_path / "model"
    os.makedirs(model / "export")
    (model / "training_curves.png").write_bytes(open(__file__, "rb").read()[:10])  # copied as is
    (model / "metrics.csv").write_text("epoch,loss,val_iou\n0,1.0,0.5\n1,0.8,0.7\n2,0.7,0.6\n")
    rows = [(f"src/img{i}", "src", {"iou": 0.1 * i}, 0.2 * i) for i in range(5)]
    page = eval_page.write_report_page(report_dir, fake_report(), rows, worst_rows(3),
                                       MODEL_COLUMNS, str(model / "export"))
    files = sorted(os.listdir(os.path.join(report_dir, eval_page.FILES_DIR)))
    assert len(files) == 13 and "training_curves.png" in files
    assert "worst-03-cut-out.png" in files
    html = open(page).read()
    assert "3 epochs; best val IoU 0.700 at epoch 2" in html
    assert html.count("<circle") == 5
    assert "The model is worse than a centred ellipse on IoU (0.195 vs 0.235)" in html
    eval_page.write_report_page(report_dir, fake_report(), rows, worst_rows(1), MODEL_COLUMNS)
    assert sorted(os.listdir(os.path.join(report_dir, eval_page.FILES_DIR))) == [
        "worst-01-cut-out.png", "worst-01-ground-truth.png", "worst-01-image.png",
        "worst-01-prediction.png"]


def test_model_folder_is_the_parent_of_the_export():
    assert eval_page.model_folder("gs://b/run/model/export/") == "gs://b/run/model"
    assert eval_page.model_folder("/m/export") == "/m"
    assert eval_page.model_folder(None) is None

"""pipelines.evaluate.report: aggregation of scored images and the report's files."""
import numpy as np
import pytest

from model import metrics
from pipelines.core import rejects
from pipelines.evaluate import report as eval_report, scoring as eval_scoring


def test_score_and_aggregate():
    gt = np.zeros((20, 20))
    gt[5:15, 5:15] = 1
    names = tuple(metrics.METRICS)
    perfect = eval_scoring.score_prediction("a/1", "a", gt.copy(), gt, names, True, 64)
    inverted = eval_scoring.score_prediction("b/2", "b", 1 - gt, gt, names, True, 64)
    assert perfect.scores["model"]["iou"] == 1.0 and inverted.scores["model"]["iou"] == 0.0
    assert perfect.scores["all_foreground"] == metrics.score_all(np.ones((20, 20)), gt)
    acc = eval_report.add_scored(eval_report.empty_accumulator(), perfect)
    acc = eval_report.merge_accumulators([acc, eval_report.add_scored({}, inverted), {}])
    summary = eval_report.summarise(acc, names)
    assert set(summary) == {eval_report.OVERALL, "a", "b"}
    assert summary[eval_report.OVERALL]["model"]["count"] == 2
    assert summary[eval_report.OVERALL]["model"]["means"]["iou"] == 0.5
    assert summary["a"]["model"]["means"]["mae"] == 0.0
    assert summary["a"]["model"]["dataset_max_f"] == pytest.approx(1.0)
    # The dataset curve's max is at most the mean of the per-image maxima.
    overall = summary[eval_report.OVERALL]["model"]
    assert overall["dataset_max_f"] <= overall["means"]["max_f_measure"] + 1e-12


def test_per_image_csv_and_rejects_lines():
    rows = [("b", "s", {"iou": 0.5, "mae": 0.25}), ("a", "t", {"iou": 1.0, "mae": 0.0})]
    text = eval_report.per_image_csv(rows, ("iou", "mae")).decode()
    assert text.splitlines() == ["key,source,iou,mae", "a,t,1.0,0.0", "b,s,0.5,0.25"]
    lines = rejects.shard_text(
        [rejects.json_line(rejects.record("P", "p", "not_an_image", "d", key="k",
                                          prediction="p"))]).decode()
    assert lines == ('{"detail": "d", "key": "k", "path": "p", "prediction": "p", '
                     '"reason": "not_an_image", "source": "P"}\n')


def test_build_report_in_folder_mode():
    from pipelines.evaluate.config import Config

    gt = np.zeros((10, 10))
    gt[2:8, 2:8] = 1
    names = ("iou", "mae")
    config = Config(mode=eval_report.MODE_FOLDERS, report_dir="R", metric_names=names,
                    pred_dir="P", gt_dir="G")
    acc = eval_report.add_scored({}, eval_scoring.score_prediction("s/k", "s", gt, gt, names,
                                                                  True, 16))
    records = [rejects.record("P", "P/s/m.png", "size_mismatch", "2x2 vs 3x3", key="s/m",
                              prediction="P/s/m.png", ground_truth="G/s/m.png"),
               rejects.record("P", "P/s/n.png", "not_an_image", "prediction: junk", key="s/n")]
    report = eval_report.build_report(config, eval_report.summarise(acc, names), records,
                                      {"resolution": "full", "extra": {"gt_dir": "G"}})
    assert report["count"] == 1 and report["overall"] == {"iou": 1.0, "mae": 0.0}
    assert report["higher_is_better"] == {"iou": True, "mae": False}
    assert list(report["baselines"]) == list(metrics.BASELINES)
    assert report["dataset_max_f_measure"] is None          # max_f_measure was not asked for
    assert report["rejected"] == [records[1]]               # size mismatches have their own list
    assert report["rejected_counts"] == {"not_an_image": 1, "size_mismatch": 1}
    assert report["size_mismatches"] == [{"key": "s/m", "prediction": "P/s/m.png",
                                          "ground_truth": "G/s/m.png", "detail": "2x2 vs 3x3"}]
    assert report["gt_dir"] == "G" and report["options"]["pred_dir"] == "P"


def test_spearman_matches_scipy_with_ties():
    from scipy.stats import spearmanr

    rng = np.random.default_rng(3)
    x = rng.integers(0, 5, 40).astype(float)
    y = x + rng.normal(0, 2, 40)
    assert eval_report.spearman(x, y) == pytest.approx(spearmanr(x, y).correlation)
    assert eval_report.spearman([1, 1, 1], [1, 2, 3]) is None


def test_confidence_analysis_finds_the_bad_among_the_lowest():
    # 20 outputs: the two least confident are bad, a third bad one is confident.
    pairs = [(0.05, 0.1), (0.1, 0.3)] + [(0.5 + i / 40, 0.9) for i in range(17)] + [(0.99, 0.2)]
    got = eval_report.confidence_analysis(pairs)
    assert (got["count"], got["bad"], got["lowest_10pct"], got["bad_in_lowest_10pct"]) == \
        (20, 3, 2, 2)
    assert got["bad_in_lowest_10pct_share"] == pytest.approx(2 / 3)
    assert got["spearman"] > 0
    assert eval_report.confidence_analysis([(0.5, 0.9)])["bad_in_lowest_10pct_share"] is None


def test_per_image_csv_with_confidence():
    rows = [("a", "s", {"iou": 0.5}, 0.25)]
    assert eval_report.per_image_csv(rows, ("iou",)).decode().splitlines() == \
        ["key,source,iou,confidence", "a,s,0.5,0.25"]

"""pipelines.evaluate.pairing: folder mode's pairing of predictions with ground truth."""
from pipelines.evaluate import pairing as eval_pairing


def test_match_files():
    gt = ["a/x.png", "a/y.png", "a/z.png", "top.png", "b/w.png", "b/w.jpg", "notes.txt",
          ".hidden.png"]
    pred = ["a/x.jpg",                      # any image extension
            "a/y.png", "a/y.mask.png",      # remove_background --output both: the mask wins
            "top.png",
            "b/w.png",
            "a/extra.png",                  # no ground truth
            "_rejected/r.jsonl", "_summary.json", "a/.tmp-1-x.png", "readme.md"]
    m = eval_pairing.match_files(gt, pred)
    assert m.pairs == [("a/x", "a/x.png", "a/x.jpg"), ("a/y", "a/y.png", "a/y.mask.png"),
                       ("b/w", "b/w.png", "b/w.png"), ("top", "top.png", "top.png")]
    assert m.missing_predictions == ["a/z.png"]
    assert m.unmatched_predictions == ["a/extra.png"]
    assert m.ignored_predictions == [{"path": "a/y.png", "used": "a/y.mask.png"}]
    assert m.ignored_ground_truth == [{"path": "b/w.jpg", "used": "b/w.png"}]
    assert m.skipped_files == {"ground_truth": {"hidden": 1, "not_an_image": 1},
                               "predictions": {"bookkeeping": 2, "hidden": 1, "not_an_image": 1}}
    assert eval_pairing.source_of("a/x") == "a"
    assert eval_pairing.source_of("top") == eval_pairing.TOP_SOURCE


def test_match_keeps_a_gt_named_like_a_mask():
    m = eval_pairing.match_files(["q.mask.png"], ["q.mask.png"])
    assert m.pairs == [("q.mask", "q.mask.png", "q.mask.png")]


def test_folder_rejects_name_every_finding():
    m = eval_pairing.match_files(["a/x.png", "a/z.png", "b/w.png", "b/w.jpg"],
                                 ["a/x.png", "a/x.mask.png", "a/extra.png"])
    rejects = eval_pairing.folder_rejects(m, "G", "P")
    assert [r["reason"] for r in rejects] == [
        "missing_prediction", "missing_prediction", "unmatched_prediction",
        "ignored_prediction", "ignored_ground_truth"]
    assert rejects[0] == {"key": "a/z", "reason": "missing_prediction",
                          "detail": "no prediction with this stem", "ground_truth": "G/a/z.png",
                          "source": "G", "path": "G/a/z.png"}
    assert rejects[2]["key"] == "a/extra" and rejects[2]["prediction"] == "P/a/extra.png"
    assert rejects[3]["prediction"] == "P/a/x.png"
    assert rejects[3]["detail"] == "a/x.mask.png was scored"
    assert rejects[4]["key"] == "b/w" and rejects[4]["ground_truth"] == "G/b/w.jpg"

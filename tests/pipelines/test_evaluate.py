"""The evaluation job end to end on the local runner: a model on the preprocessed test split, and
folders of masks against ground truth. Test models come from the exporter."""
import csv
import json
import os
import shutil

import numpy as np
import pytest
from PIL import Image

from model import metrics
from pipelines.evaluate import config as evaluate_config, job as evaluate
from pipelines.evaluate.contact_sheet import contact_sheet_size
from tests import cutout_support as cs
from pipelines.evaluate.scoring import EvalExample, EvalModelHandler


def _export_constant_model(export_dir, image_size, value=1.0):
    """A model whose output is exactly `value` everywhere: a 1x1 convolution with a zero kernel
    and bias `value`, no activation (the exporter only asks for outputs in [0, 1])."""
    import keras

    from model.export import export_model

    model = keras.Sequential([keras.Input((image_size, image_size, 3)),
                              keras.layers.Conv2D(1, 1)])
    model.layers[0].set_weights([np.zeros((1, 1, 3, 1), np.float32),
                                 np.array([value], np.float32)])
    export_model(model, str(export_dir), image_size, mean=[120, 110, 100], std=[60, 60, 60])
    return str(export_dir)


@pytest.fixture(scope="module")
def constant_one_model(preprocessed, tmp_path_factory):
    _, manifest = preprocessed
    return _export_constant_model(tmp_path_factory.mktemp("model") / "export",
                                  manifest["image_size"])


@pytest.fixture(scope="module")
def model_report(preprocessed, constant_one_model, tmp_path_factory):
    out, _ = preprocessed
    report_dir = tmp_path_factory.mktemp("report")
    report = evaluate.run(["--data_dir", str(out), "--model", constant_one_model,
                           "--split", "test", "--report_dir", str(report_dir),
                           "--batch_size", "8"])
    return report_dir, report


def test_constant_one_model_scores_like_the_all_foreground_baseline(preprocessed, model_report):
    _, manifest = preprocessed
    report_dir, report = model_report
    on_disk = json.loads((report_dir / "metrics.json").read_text())
    assert on_disk == json.loads(json.dumps(report))
    assert report["count"] == manifest["totals"]["test"] > 0
    assert report["rejected_counts"] == {} and report["rejected"] == []
    names = list(metrics.METRICS)
    assert list(report["overall"]) == names == report["metrics"]
    base = report["baselines"]["all_foreground"]
    assert report["overall"] == base["overall"]          # exactly, metric by metric
    assert report["per_source"] == base["per_source"]
    assert report["dataset_max_f_measure"] == base["dataset_max_f_measure"]
    # ...and it is what an all-ones mask scores: IoU = foreground share, recall 1.
    assert 0 < report["overall"]["iou"] < 1
    assert set(report["baselines"]) == {"all_foreground", "centred_ellipse"}
    assert report["baselines"]["centred_ellipse"]["overall"] != report["overall"]


def test_report_says_resolution_and_per_source(preprocessed, model_report):
    _, manifest = preprocessed
    _, report = model_report
    size = manifest["image_size"]
    assert f"scored at the stored training resolution {size}x{size}" in report["resolution"]
    assert report["image_size"] == report["model_input_size"] == size
    sources = {s for s, by_split in manifest["counts"].items() if by_split["test"]}
    assert set(report["per_source"]) == sources == set(report["per_source_count"])
    assert sum(report["per_source_count"].values()) == report["count"]
    for values in report["per_source"].values():
        assert list(values) == list(metrics.METRICS)


def test_per_image_csv_and_contact_sheet(model_report):
    report_dir, report = model_report
    with open(report_dir / "per_image.csv") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == report["count"]
    assert list(rows[0]) == ["key", "source", *metrics.METRICS, "confidence"]
    assert len({r["key"] for r in rows}) == len(rows)
    assert all(0 <= float(r["confidence"]) <= 1 for r in rows)
    analysis = report["confidence"]
    assert analysis["count"] == len(rows)
    assert analysis["spearman"] is None or -1 <= analysis["spearman"] <= 1   # None: constant
    assert analysis["lowest_10pct"] == int(np.ceil(0.1 * len(rows)))
    mean_iou = np.mean([float(r["iou"]) for r in rows])
    assert mean_iou == pytest.approx(report["overall"]["iou"], rel=1e-12)
    sheet = Image.open(report_dir / "contact_sheet.png")
    assert sheet.format == "PNG"
    n_rows = min(12, report["count"])
    assert sheet.size == contact_sheet_size(n_rows, 4, 128)
    worst = [r["iou"] for r in report["contact_sheet_rows"]]
    assert worst == sorted(worst) and worst[0] == min(float(r["iou"]) for r in rows)
    assert cs.read_rejects(report_dir) == []


def test_bad_inputs_fail_clearly(preprocessed, constant_one_model, tmp_path):
    out, _ = preprocessed
    r = str(tmp_path / "r")
    cases = [
        (["--data_dir", str(tmp_path / "nope"), "--model", constant_one_model],
         "does not exist"),
        (["--data_dir", str(out), "--model", str(tmp_path / "no_model")], "no model export at"),
        (["--data_dir", str(out), "--model", constant_one_model, "--split", "dev"],
         "not one of"),
        (["--data_dir", str(out)], "needs both"),
        (["--data_dir", str(out), "--model", constant_one_model, "--gt_dir", str(out)],
         "either"),
    ]
    for args, message in cases:
        with pytest.raises(evaluate.JobError, match=message):
            evaluate.run(args + ["--report_dir", r])
    # A finished preprocess folder whose split holds no shards.
    empty = tmp_path / "data"
    empty.mkdir()
    (empty / "manifest.json").write_text((out / "manifest.json").read_text())
    with pytest.raises(evaluate.JobError, match="no shards match"):
        evaluate.run(["--data_dir", str(empty), "--model", constant_one_model,
                      "--report_dir", r])
    assert evaluate.main(["--data_dir", str(empty), "--model", constant_one_model,
                          "--report_dir", r]) == 2
    assert not os.path.exists(r)


# ---------------------------------------------------------------------------------------------
# Folder mode

def _save(path, arr, mode=None, fmt=None):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(arr, mode).save(path, fmt)


def make_folders(root):
    """gt/ and pred/ covering every pairing case; returns (gt_dir, pred_dir)."""
    gt_dir, pred_dir = root / "gt", root / "pred"
    h, w = 30, 40
    box = np.zeros((h, w), np.uint8)
    box[8:24, 8:32] = 255
    ring = np.zeros((h, w), np.uint8)
    ring[4:26, 4:20] = 255
    # oracle: prediction == ground truth (a plain mask; an RGBA cut-out; a 0/1 gt mask).
    _save(gt_dir / "oracle" / "a.png", box, "L")
    _save(pred_dir / "oracle" / "a.png", box, "L")
    _save(gt_dir / "oracle" / "b.png", (ring // 255).astype(np.uint8), "L")   # 0/1 values
    rgba = np.dstack([np.full((h, w, 3), 90, np.uint8), ring])
    _save(pred_dir / "oracle" / "b.png", rgba, "RGBA")
    # inverted: prediction == 1 - ground truth (one of them a JPEG).
    _save(gt_dir / "inverted" / "c.png", box, "L")
    _save(pred_dir / "inverted" / "c.png", 255 - box, "L")
    _save(gt_dir / "inverted" / "d.png", ring, "L")
    _save(pred_dir / "inverted" / "d.jpg", np.dstack([255 - ring] * 3), "RGB", "JPEG")
    # problems: no prediction; a prediction of another size; a prediction with no gt.
    _save(gt_dir / "problems" / "e.png", box, "L")
    _save(gt_dir / "problems" / "f.png", box, "L")
    _save(pred_dir / "problems" / "f.png", np.zeros((h + 2, w), np.uint8), "L")
    _save(pred_dir / "problems" / "g.png", box, "L")
    (pred_dir / "_rejected").mkdir()
    (pred_dir / "_rejected" / "rejected.jsonl").write_text("")     # remove_background's
    return gt_dir, pred_dir


def test_folder_mode_oracle_inverted_and_problems(tmp_path):
    gt_dir, pred_dir = make_folders(tmp_path)
    report_dir = tmp_path / "report"
    report = evaluate.run(["--pred_dir", str(pred_dir), "--gt_dir", str(gt_dir),
                           "--report_dir", str(report_dir)])
    assert report["count"] == 4
    assert "full resolution" in report["resolution"]
    oracle, inverted = report["per_source"]["oracle"], report["per_source"]["inverted"]
    assert oracle["iou"] == 1.0 and oracle["dice"] == 1.0
    assert oracle["mae"] == 0.0 and oracle["sad"] == 0.0 and oracle["mse"] == 0.0
    assert inverted["iou"] == 0.0 and inverted["dice"] == 0.0
    assert inverted["mae"] > 0.95
    assert set(report["per_source"]) == {"oracle", "inverted"}
    assert report["missing_predictions"] == ["problems/e.png"]
    assert report["unmatched_predictions"] == ["problems/g.png"]
    assert [m["key"] for m in report["size_mismatches"]] == ["problems/f"]
    assert "40x32" in report["size_mismatches"][0]["detail"]
    assert report["skipped_files"]["predictions"] == {"bookkeeping": 1}
    assert report["rejected_counts"] == {"missing_prediction": 1, "size_mismatch": 1,
                                         "unmatched_prediction": 1}
    rejects = cs.read_rejects(report_dir)
    assert sorted(r["reason"] for r in rejects) == ["missing_prediction", "size_mismatch",
                                                    "unmatched_prediction"]
    with open(report_dir / "per_image.csv") as f:
        rows = list(csv.DictReader(f))
    assert [r["key"] for r in rows] == ["inverted/c", "inverted/d", "oracle/a", "oracle/b"]
    assert [r["source"] for r in rows] == ["inverted", "inverted", "oracle", "oracle"]
    sheet = Image.open(report_dir / "contact_sheet.png")
    assert sheet.size == contact_sheet_size(4, 3, 128)
    assert [r["key"] for r in report["contact_sheet_rows"]][2:] == ["oracle/a", "oracle/b"]


def test_folder_mode_with_no_predictions_fails_but_reports(tmp_path):
    gt_dir, _ = make_folders(tmp_path)
    empty = tmp_path / "empty_pred"
    empty.mkdir()
    (empty / "unrelated.png").write_bytes(b"")
    report_dir = tmp_path / "report"
    with pytest.raises(evaluate.JobError, match="nothing was scored"):
        evaluate.run(["--pred_dir", str(empty), "--gt_dir", str(gt_dir),
                      "--report_dir", str(report_dir), "--metrics", "iou"])
    report = json.loads((report_dir / "metrics.json").read_text())
    assert len(report["missing_predictions"]) == 6 and report["count"] == 0
    assert report["unmatched_predictions"] == ["unrelated.png"]
    assert not (report_dir / "contact_sheet.png").exists()


# ---------------------------------------------------------------------------------------------
# A model whose input size differs from the stored one; options that trim the work

def test_model_of_another_size_is_resized_to_and_from(preprocessed, tmp_path):
    from pipelines.serving.inference import load_saved_model
    from tests.cutout_support import IMAGE_SIZE, export_brightness_model, scene

    out, manifest = preprocessed
    size = manifest["image_size"]
    assert IMAGE_SIZE != size
    model_dir = export_brightness_model(str(tmp_path / "export"))
    # The handler alone: a bright box on a dark ground at the stored size comes back at that size.
    image = scene(size, size)
    example = EvalExample("k", "s", image, np.zeros((size, size), np.float32))
    handler = EvalModelHandler(model_dir)
    [result] = handler.run_inference([example], load_saved_model(model_dir))
    assert result.example is example and result.inference.shape == (size, size)
    assert result.inference[size // 2, size // 2] > 0.9 and result.inference[1, 1] < 0.1
    # The job: scored at the stored size, and the report says the model's size too.
    report_dir = tmp_path / "report"
    report = evaluate.run(["--data_dir", str(out), "--model", model_dir, "--split", "val",
                           "--report_dir", str(report_dir), "--metrics", "mae",
                           "--no_baselines", "--sheet_rows", "0"])
    assert report["count"] == manifest["totals"]["val"]
    assert report["model_input_size"] == IMAGE_SIZE and report["image_size"] == size
    assert f"{size}x{size}" in report["resolution"] and f"{IMAGE_SIZE}x{IMAGE_SIZE}" in \
        report["resolution"]
    assert list(report["overall"]) == ["iou", "mae"] and report["baselines"] == {}
    assert report["dataset_max_f_measure"] is None
    assert not (report_dir / "contact_sheet.png").exists()
    with open(report_dir / "per_image.csv") as f:
        assert next(csv.reader(f)) == ["key", "source", "iou", "mae", "confidence"]


def test_parse_metric_names():
    assert evaluate_config.parse_metric_names("mae, dice") == ("iou", "dice", "mae")
    assert evaluate_config.parse_metric_names("") == tuple(metrics.METRICS)
    with pytest.raises(evaluate.JobError, match="unknown metric"):
        evaluate_config.parse_metric_names("iou,nope")


# ---------------------------------------------------------------------------------------------
# Failures that must cost their examples, not the job (issue 11)

class PoisonedHandler(EvalModelHandler):
    """Our handler, failing on every batch that holds the example keyed POISONED."""
    POISONED = None

    def run_inference(self, batch, model, inference_args=None):
        if any(e.key == type(self).POISONED for e in batch):
            raise RuntimeError("this batch upsets the model")
        return super().run_inference(batch, model, inference_args)


@pytest.mark.timeout(300)
def test_a_failed_batch_is_dead_lettered_not_fatal(preprocessed, constant_one_model, tmp_path,
                                                    monkeypatch):
    out, manifest = preprocessed
    keys = sorted(_test_keys(out))
    PoisonedHandler.POISONED = keys[0]
    monkeypatch.setattr(evaluate, "EvalModelHandler", PoisonedHandler)
    report = evaluate.run(["--data_dir", str(out), "--model", constant_one_model,
                           "--report_dir", str(tmp_path / "r"), "--batch_size", "1",
                           "--metrics", "iou", "--no_baselines"])
    assert report["count"] == manifest["totals"]["test"] - 1
    assert report["rejected_counts"] == {"inference_failed": 1}
    assert report["rejected"][0]["key"] == keys[0]


def _test_keys(out):
    from model import schema
    from pipelines.evaluate.scoring import shard_records

    return [schema.decode_example(r)[schema.KEY].decode()
            for path in sorted((out / "test").glob("*.tfrecord.gz"))
            for r in shard_records(str(path), "") if isinstance(r, bytes)]


@pytest.mark.timeout(300)
def test_a_truncated_shard_is_one_reject_naming_it(preprocessed, constant_one_model, tmp_path):
    out, manifest = preprocessed
    copy = tmp_path / "data"
    shutil.copytree(out, copy)
    [shard] = sorted((copy / "test").glob("*.tfrecord.gz"))[:1]
    data = shard.read_bytes()
    shard.write_bytes(data[:len(data) // 2])
    report = evaluate.run(["--data_dir", str(copy), "--model", constant_one_model,
                           "--report_dir", str(tmp_path / "r"), "--metrics", "iou",
                           "--no_baselines"])
    assert report["rejected_counts"] == {"damaged_shard": 1}
    [damaged] = report["rejected"]
    assert damaged["path"] == str(shard) and "hex" not in damaged["detail"]
    assert len(damaged["detail"]) < 200
    assert 0 < report["count"] < manifest["totals"]["test"]

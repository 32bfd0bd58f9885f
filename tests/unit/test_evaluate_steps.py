"""The evaluation job's pure steps: parsing, baselines, pairing, aggregation, the sheet."""
import io

import numpy as np
import pytest
from PIL import Image

from model import metrics, schema
from pipelines import evaluate, imaging


def _png(arr, mode=None):
    buf = io.BytesIO()
    Image.fromarray(arr, mode).save(buf, "PNG")
    return buf.getvalue()


def _jpeg(arr):
    buf = io.BytesIO()
    Image.fromarray(arr, "RGB").save(buf, "JPEG", quality=95)
    return buf.getvalue()


def test_parse_example_inverts_the_schema_encoder():
    data = schema.encode_example({"key": "p3m10k/a/b.jpg", "image": b"\x00\xff" * 300,
                                  "orig_height": 1440, "neg": -3, "f": 0.5, "empty": b""})
    parsed = schema.decode_example(data)
    assert parsed == {"key": b"p3m10k/a/b.jpg", "image": b"\x00\xff" * 300,
                      "orig_height": 1440, "neg": -3, "f": 0.5, "empty": b""}


def test_parse_example_reads_unpacked_ints_and_floats():
    # Writers may also emit int64s as separate varint fields and floats as fixed32 fields.
    import struct

    def field(number, wire, payload):
        return schema._varint((number << 3) | wire) + payload

    ints = schema._field(3, field(1, 0, schema._varint(7)) + field(1, 0, schema._varint(2**64 - 9)))
    floats = schema._field(2, field(1, 5, struct.pack("<f", 2.5)))
    entries = (schema._field(1, schema._field(1, b"n") + schema._field(2, ints))
               + schema._field(1, schema._field(1, b"f") + schema._field(2, floats)))
    assert schema.decode_example(schema._field(1, entries)) == {"n": 7, "f": 2.5}


def test_decode_example_and_its_rejects():
    rng = np.random.default_rng(0)
    image = rng.integers(0, 255, (32, 32, 3), dtype=np.uint8)
    mask = np.zeros((32, 32), np.uint8)
    mask[8:24, 8:24] = 255
    record = schema.make_example("s/k.jpg", "s", _jpeg(image), _png(mask, "L"), 100, 80, 32)
    ex = evaluate.decode_example(record)
    assert (ex.key, ex.source, ex.image.shape, ex.image.dtype) == ("s/k.jpg", "s", (32, 32, 3),
                                                                   np.uint8)
    assert ex.mask.dtype == np.float32 and ex.mask.max() == 1.0 and ex.mask[0, 0] == 0.0
    bad = schema.make_example("s/k.jpg", "s", b"not a jpeg", _png(mask, "L"), 1, 1, 32)
    with pytest.raises(imaging.ImageError) as e:
        evaluate.decode_example(bad)
    assert e.value.reason == "image_not_an_image"
    with pytest.raises(imaging.ImageError) as e:
        evaluate.decode_example(b"\xff\xff\xff")
    assert e.value.reason == "unparseable_example"
    small = schema.make_example("s/k.jpg", "s", _jpeg(image), _png(mask[:16], "L"), 1, 1, 32)
    with pytest.raises(imaging.ImageError) as e:
        evaluate.decode_example(small)
    assert e.value.reason == "mask_size_mismatch"


def test_centred_ellipse_is_centred_and_symmetric():
    e = evaluate.centred_ellipse(40, 60)
    assert e.shape == (40, 60) and set(np.unique(e)) == {0.0, 1.0}
    assert e[20, 30] == 1 and e[0, 0] == 0 and e[20, 0] == 0 and e[0, 30] == 0
    assert np.array_equal(e, e[::-1]) and np.array_equal(e, e[:, ::-1])
    assert abs(e.mean() - np.pi / 4 * 0.8 ** 2) < 0.02  # the area of the inscribed ellipse


def test_f_curve_max_is_max_f_measure():
    rng = np.random.default_rng(1)
    gt = (rng.random((30, 40)) > 0.6).astype(np.float32)
    pred = np.clip(gt * 0.7 + rng.random((30, 40)) * 0.4, 0, 1)
    curve = metrics.f_measure_curve(pred, gt)
    assert curve.shape == (256,)
    assert float(curve.max()) == pytest.approx(metrics.max_f_measure(pred, gt), abs=1e-12)


def test_score_and_aggregate():
    gt = np.zeros((20, 20))
    gt[5:15, 5:15] = 1
    names = evaluate.parse_metric_names(None)
    perfect = evaluate.score_prediction("a/1", "a", gt.copy(), gt, names, True, 64)
    inverted = evaluate.score_prediction("b/2", "b", 1 - gt, gt, names, True, 64)
    assert perfect.scores["model"]["iou"] == 1.0 and inverted.scores["model"]["iou"] == 0.0
    assert perfect.scores["all_foreground"] == metrics.score_all(np.ones((20, 20)), gt)
    acc = evaluate.add_scored(evaluate.empty_accumulator(), perfect)
    acc = evaluate.merge_accumulators([acc, evaluate.add_scored({}, inverted), {}])
    summary = evaluate.summarise(acc, names)
    assert set(summary) == {evaluate.OVERALL, "a", "b"}
    assert summary[evaluate.OVERALL]["model"]["count"] == 2
    assert summary[evaluate.OVERALL]["model"]["means"]["iou"] == 0.5
    assert summary["a"]["model"]["means"]["mae"] == 0.0
    assert summary["a"]["model"]["dataset_max_f"] == pytest.approx(1.0)
    # The dataset curve's max is at most the mean of the per-image maxima.
    overall = summary[evaluate.OVERALL]["model"]
    assert overall["dataset_max_f"] <= overall["means"]["max_f_measure"] + 1e-12


def test_parse_metric_names():
    assert evaluate.parse_metric_names("mae, dice") == ("iou", "dice", "mae")
    assert evaluate.parse_metric_names("") == tuple(metrics.METRICS)
    with pytest.raises(evaluate.EvaluateError, match="unknown metric"):
        evaluate.parse_metric_names("iou,nope")


def test_prediction_alpha_reads_cutouts_masks_and_01():
    alpha = np.array([[0, 128], [255, 7]], np.uint8)
    rgba = np.dstack([np.full((2, 2, 3), 200, np.uint8), alpha])
    assert np.array_equal(evaluate.prediction_alpha(_png(rgba, "RGBA")), alpha)
    opaque = np.dstack([np.zeros((2, 2, 3), np.uint8), np.full((2, 2), 255, np.uint8)])
    assert np.array_equal(evaluate.prediction_alpha(_png(opaque, "RGBA")), np.full((2, 2), 255))
    assert np.array_equal(evaluate.prediction_alpha(_png(alpha, "L")), alpha)
    ones = np.array([[0, 1], [1, 0]], np.uint8)
    assert np.array_equal(evaluate.prediction_alpha(_png(ones, "L")), ones)  # alpha: as is
    assert np.array_equal(evaluate.prediction_alpha(_png(ones, "L"), "auto"), ones * 255)


def test_match_files():
    gt = ["a/x.png", "a/y.png", "a/z.png", "top.png", "b/w.png", "b/w.jpg", "notes.txt",
          ".hidden.png"]
    pred = ["a/x.jpg",                      # any image extension
            "a/y.png", "a/y.mask.png",      # remove_background --output both: the mask wins
            "top.png",
            "b/w.png",
            "a/extra.png",                  # no ground truth
            "_rejected/r.jsonl", "_summary.json", "a/.tmp-1-x.png", "readme.md"]
    m = evaluate.match_files(gt, pred)
    assert m.pairs == [("a/x", "a/x.png", "a/x.jpg"), ("a/y", "a/y.png", "a/y.mask.png"),
                       ("b/w", "b/w.png", "b/w.png"), ("top", "top.png", "top.png")]
    assert m.missing_predictions == ["a/z.png"]
    assert m.unmatched_predictions == ["a/extra.png"]
    assert m.ignored_predictions == [{"path": "a/y.png", "used": "a/y.mask.png"}]
    assert m.ignored_ground_truth == [{"path": "b/w.jpg", "used": "b/w.png"}]
    assert m.skipped_files == {"ground_truth": {"hidden": 1, "not_an_image": 1},
                               "predictions": {"bookkeeping": 2, "hidden": 1, "not_an_image": 1}}
    assert evaluate.source_of("a/x") == "a" and evaluate.source_of("top") == evaluate.TOP_SOURCE


def test_match_keeps_a_gt_named_like_a_mask():
    m = evaluate.match_files(["q.mask.png"], ["q.mask.png"])
    assert m.pairs == [("q.mask", "q.mask.png", "q.mask.png")]


@pytest.mark.parametrize("with_image", [True, False])
def test_contact_sheet_size_and_content(with_image):
    rng = np.random.default_rng(2)
    gt = np.zeros((48, 64), np.uint8)
    gt[10:30, 10:50] = 255
    thumbs = evaluate.Thumbs(
        image=rng.integers(0, 255, (48, 64, 3), dtype=np.uint8) if with_image else None,
        gt=gt, pred=np.roll(gt, 5, axis=1))
    rows = [("k1", 0.25, thumbs), ("a/very/long/key/" * 20, 0.5, thumbs)]
    columns = evaluate.MODEL_COLUMNS if with_image else evaluate.FOLDER_COLUMNS
    sheet = evaluate.render_contact_sheet(rows, columns, 96)
    assert sheet.size == evaluate.contact_sheet_size(2, len(columns), 96)
    assert sheet.mode == "RGB"
    assert np.asarray(sheet).std() > 10  # something was drawn


def test_per_image_csv_and_rejects_lines():
    rows = [("b", "s", {"iou": 0.5, "mae": 0.25}), ("a", "t", {"iou": 1.0, "mae": 0.0})]
    text = evaluate.per_image_csv(rows, ("iou", "mae")).decode()
    assert text.splitlines() == ["key,source,iou,mae", "a,t,1.0,0.0", "b,s,0.5,0.25"]
    lines = evaluate.rejects_jsonl([evaluate.reject("k", "r", "d", prediction="p")]).decode()
    assert lines == '{"detail": "d", "key": "k", "prediction": "p", "reason": "r"}\n'

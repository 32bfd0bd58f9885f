"""pipelines.evaluate.scoring: decoding a stored example, reading a prediction file, scoring one
prediction with the baselines."""
import io

import numpy as np
import pytest
from PIL import Image

from model import metrics, schema
from pipelines.core import rejects
from pipelines.evaluate import scoring as eval_scoring


def _png(arr, mode=None):
    buf = io.BytesIO()
    Image.fromarray(arr, mode).save(buf, "PNG")
    return buf.getvalue()


def _jpeg(arr):
    buf = io.BytesIO()
    Image.fromarray(arr, "RGB").save(buf, "JPEG", quality=95)
    return buf.getvalue()


def test_decode_example_and_its_rejects():
    rng = np.random.default_rng(0)
    image = rng.integers(0, 255, (32, 32, 3), dtype=np.uint8)
    mask = np.zeros((32, 32), np.uint8)
    mask[8:24, 8:24] = 255
    record = schema.make_example("s/k.jpg", "s", _jpeg(image), _png(mask, "L"), 100, 80, 32)
    ex = eval_scoring.decode_example(record)
    assert (ex.key, ex.source, ex.image.shape, ex.image.dtype) == ("s/k.jpg", "s", (32, 32, 3),
                                                                   np.uint8)
    assert ex.mask.dtype == np.float32 and ex.mask.max() == 1.0 and ex.mask[0, 0] == 0.0
    bad = schema.make_example("s/k.jpg", "s", b"not a jpeg", _png(mask, "L"), 1, 1, 32)
    with pytest.raises(rejects.Rejected) as e:
        eval_scoring.decode_example(bad)
    # One vocabulary: the reason is rejects.REASONS' own, the detail says it was the image.
    assert (e.value.reason, e.value.detail.split(":")[0]) == ("not_an_image", "image")
    with pytest.raises(rejects.Rejected) as e:
        eval_scoring.decode_example(b"\xff\xff\xff")
    assert e.value.reason == "unparseable_example"
    small = schema.make_example("s/k.jpg", "s", _jpeg(image), _png(mask[:16], "L"), 1, 1, 32)
    with pytest.raises(rejects.Rejected) as e:
        eval_scoring.decode_example(small)
    assert e.value.reason == "mask_size_mismatch"


def test_score_prediction_scores_the_model_and_the_baselines():
    gt = np.zeros((20, 20))
    gt[5:15, 5:15] = 1
    names = tuple(metrics.METRICS)
    perfect = eval_scoring.score_prediction("a/1", "a", gt.copy(), gt, names, True, 64)
    assert list(perfect.scores) == ["model", *metrics.BASELINES]
    assert perfect.scores["model"]["iou"] == 1.0
    assert perfect.scores["all_foreground"] == metrics.score_all(np.ones((20, 20)), gt)
    assert np.array_equal(perfect.curves["model"], metrics.f_measure_curve(gt, gt))
    assert perfect.thumbs.image is None and perfect.thumbs.gt.shape == (20, 20)
    alone = eval_scoring.score_prediction("a/1", "a", gt, gt, ("iou",), False, 8)
    assert alone.scores == {"model": {"iou": 1.0}} and alone.curves == {}
    assert alone.thumbs.gt.shape == (8, 8)   # thumbnails fit the cell


def test_prediction_alpha_reads_cutouts_masks_and_01():
    alpha = np.array([[0, 128], [255, 7]], np.uint8)
    rgba = np.dstack([np.full((2, 2, 3), 200, np.uint8), alpha])
    assert np.array_equal(eval_scoring.prediction_alpha(_png(rgba, "RGBA")), alpha)
    opaque = np.dstack([np.zeros((2, 2, 3), np.uint8), np.full((2, 2), 255, np.uint8)])
    assert np.array_equal(eval_scoring.prediction_alpha(_png(opaque, "RGBA")), np.full((2, 2), 255))
    assert np.array_equal(eval_scoring.prediction_alpha(_png(alpha, "L")), alpha)
    ones = np.array([[0, 1], [1, 0]], np.uint8)
    assert np.array_equal(eval_scoring.prediction_alpha(_png(ones, "L")), ones)  # alpha: as is
    assert np.array_equal(eval_scoring.prediction_alpha(_png(ones, "L"), "auto"), ones * 255)


def test_colour_ground_truth_and_composited_predictions_are_rejected():
    box = np.zeros((8, 8), np.uint8)
    box[2:6, 2:6] = 255
    red = np.zeros((8, 8, 3), np.uint8)
    red[box > 0] = (255, 0, 0)
    grey_rgb = np.repeat(box[..., None], 3, axis=-1)
    with pytest.raises(rejects.Rejected) as e:
        eval_scoring.ground_truth_alpha(_png(red, "RGB"))
    assert e.value.reason == "gt_not_grayscale"
    assert (eval_scoring.ground_truth_alpha(_png(grey_rgb, "RGB")) == box).all()
    with pytest.raises(rejects.Rejected) as e:
        eval_scoring.prediction_alpha(_png(red, "RGB"))
    assert e.value.reason == "no_alpha"
    assert (eval_scoring.prediction_alpha(_png(grey_rgb, "RGB")) == box).all()
    rgba = np.dstack([red, box])
    assert (eval_scoring.prediction_alpha(_png(rgba, "RGBA")) == box).all()

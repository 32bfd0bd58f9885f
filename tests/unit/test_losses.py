"""model/losses.py: the loss and the training metrics on soft targets and known arrays."""
from __future__ import annotations

import numpy as np
import pytest

from model import losses
from tests.cutout_support import soft_target


def test_perfect_prediction_has_about_zero_loss_even_for_soft_targets():
    loss = losses.BceDiceLoss()
    for y in (soft_target(), (soft_target() > 0.5).astype(np.float32)):
        assert float(loss(y, y)) == pytest.approx(0.0, abs=1e-4)
    y = soft_target()
    assert float(loss(y, 1.0 - y)) > 1.0
    assert float(loss(y, np.clip(y + 0.1, 0, 1))) < float(loss(y, np.clip(y + 0.3, 0, 1)))


def test_dice_and_bce_on_known_arrays():
    y = np.array([1, 1, 0, 0], np.float32).reshape(1, 2, 2, 1)
    p = np.array([1, 0, 1, 0], np.float32).reshape(1, 2, 2, 1)
    # 1 - (2 * 1 + s) / (2 + 2 + s), s = 1
    assert float(losses.soft_dice_loss(y, p)[0]) == pytest.approx(1 - 3 / 5, abs=1e-6)
    assert float(losses.soft_dice_loss(y, p, smooth=0.0)[0]) == pytest.approx(0.5, abs=1e-6)
    half = np.full((1, 2, 2, 1), 0.5, np.float32)
    # Hard target, p = 0.5 everywhere: KL = BCE = ln 2 per pixel.
    assert float(losses.soft_bce(y, half)[0]) == pytest.approx(np.log(2), abs=1e-5)
    # Soft target 0.5 predicted 0.5: no divergence.
    assert float(losses.soft_bce(half, half)[0]) == pytest.approx(0.0, abs=1e-6)


def test_iou_and_mad_metrics_on_known_arrays_with_weights():
    y = np.array([[1, 1, 0, 0], [0, 0, 0, 0], [1, 0, 0, 0]], np.float32).reshape(3, 2, 2, 1)
    p = np.array([[0.9, 0.2, 0.7, 0.1], [0, 0, 0, 0], [0, 1, 0, 0]],
                 np.float32).reshape(3, 2, 2, 1)
    iou = losses.ThresholdedIoU()
    iou.update_state(y, p)
    # image 0: {0} & {0,2} over {0,1,2} = 1/3; image 1: both empty = 1; image 2: 0.
    assert float(iou.result()) == pytest.approx((1 / 3 + 1 + 0) / 3, abs=1e-6)
    iou.reset_state()
    iou.update_state(y, p, sample_weight=np.array([1, 0, 1], np.float32))
    assert float(iou.result()) == pytest.approx((1 / 3 + 0) / 2, abs=1e-6)
    mad = losses.MaskMAD()
    mad.update_state(y, p, sample_weight=np.array([1, 1, 0], np.float32))
    assert float(mad.result()) == pytest.approx(((0.1 + 0.8 + 0.7 + 0.1) / 4 + 0) / 2, abs=1e-6)


def test_loss_of_a_padded_batch_is_the_loss_of_its_real_examples():
    """Padded validation batches (model.data.make_eval_dataset): the loss is the mean over the
    real examples, not sum / batch size (Keras' default reduction)."""
    loss = losses.BceDiceLoss()
    k, blanks = 3, 2
    y = soft_target(seed=1, n=k)
    p = np.clip(soft_target(seed=2, n=k), 0.05, 0.95)
    alone = float(loss(y, p))
    y_pad = np.concatenate([y, np.zeros((blanks,) + y.shape[1:], np.float32)])
    p_pad = np.concatenate([p, np.full((blanks,) + p.shape[1:], 0.5, np.float32)])
    weights = np.array([1.0] * k + [0.0] * blanks, np.float32)
    assert float(loss(y_pad, p_pad, sample_weight=weights)) == pytest.approx(alone, rel=1e-6)
    assert float(loss(y, p, sample_weight=np.ones(k, np.float32))) == pytest.approx(alone, rel=1e-6)
    # No weights (training): the plain batch mean, as with Keras' default reduction.
    per_image = losses.BceDiceLoss(reduction="none")(y_pad, p_pad)
    default = losses.BceDiceLoss(reduction="sum_over_batch_size")(y_pad, p_pad)
    assert float(loss(y_pad, p_pad)) == pytest.approx(float(np.mean(per_image)), rel=1e-6)
    assert float(loss(y_pad, p_pad)) == pytest.approx(float(default), rel=1e-6)
    # The config round-trips with the reduction.
    assert losses.BceDiceLoss.from_config(loss.get_config()).reduction == "mean_with_sample_weight"


def test_training_metric_names_mean_what_evaluate_means():
    """"mad" is the raw alpha difference (model.metrics.mad); "mae" is evaluate's SOD metric."""
    from model import metrics

    assert [m.name for m in losses.make_metrics()] == ["iou", "mad"]
    y = soft_target(seed=4, n=1)
    p = np.clip(soft_target(seed=5, n=1), 0.05, 0.95)
    mad = losses.MaskMAD()
    mad.update_state(y, p)
    assert float(mad.result()) == pytest.approx(metrics.mad(p[0, ..., 0], y[0, ..., 0]), rel=1e-5)


def test_boundary_band_and_the_boundary_weighted_loss():
    y = np.zeros((1, 12, 12, 1), np.float32)
    y[0, 3:9, 3:9] = 1.0
    band = np.asarray(losses.boundary_band(y, width=1))[0, ..., 0]
    # 1 on the pixels within one of the square's edge (inside and outside), 0 elsewhere.
    expected = np.zeros((12, 12), np.float32)
    expected[2:10, 2:10] = 1.0
    expected[4:8, 4:8] = 0.0
    np.testing.assert_array_equal(band, expected)
    weighted = losses.BceDiceLoss(boundary_weight=4.0, boundary_width=1)
    plain = losses.BceDiceLoss()
    assert float(weighted(y, y)) == pytest.approx(0.0, abs=1e-4)   # still 0 at p == y
    # The same total error, once on the edge and once far from it: the edge costs more.
    at_edge, far = y.copy(), y.copy()
    at_edge[0, 2, 3:9] = 0.9                   # a row just outside the top edge
    far[0, 11, 3:9] = 0.9                      # a row at the bottom, far from the square
    assert float(plain(y, at_edge)) == pytest.approx(float(plain(y, far)), rel=1e-5)
    assert float(weighted(y, at_edge)) > 1.5 * float(weighted(y, far))
    # By hand: KL per pixel weighted by 1 + 4 * band, over the weights' sum.
    kl = -np.log(1 - 0.9)                     # y = 0, p = 0.9
    w = 1 + 4 * expected
    by_hand = (w[2, 3:9] * kl).sum() / w.sum()
    assert float(losses.soft_bce(y, at_edge, 1 + 4 * band[None, ..., None])[0]) == pytest.approx(
        by_hand, rel=1e-4)
    config = weighted.get_config()
    assert losses.BceDiceLoss.from_config(config).boundary_weight == 4.0

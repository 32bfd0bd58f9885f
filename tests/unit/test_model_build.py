"""Model builders (shapes, widths, sigmoid output, float32 head under mixed precision) and the
losses and metrics on soft targets and known arrays."""
from __future__ import annotations

import keras
import numpy as np
import pytest

from model import losses
from model.unet import ModelConfig, build_model


def _predict(model, size, n=2, seed=0):
    x = np.random.default_rng(seed).standard_normal((n, size, size, 3)).astype(np.float32)
    return np.asarray(model(x, training=False))


@pytest.mark.parametrize("architecture, size", [("unet", 32), ("unet", 48),
                                                ("mobilenet_unet", 64)])
def test_builders_output_a_probability_per_pixel(architecture, size):
    model = build_model(ModelConfig(architecture=architecture, image_size=size, base_filters=8))
    assert model.input_shape == (None, size, size, 3)
    assert model.output_shape == (None, size, size, 1)
    y = _predict(model, size)
    assert y.shape == (2, size, size, 1) and y.dtype == np.float32
    assert 0.0 <= y.min() and y.max() <= 1.0 and y.std() > 0


def test_width_sets_the_parameter_count():
    counts = {f: build_model(ModelConfig(image_size=32, base_filters=f)).count_params()
              for f in (8, 16)}
    assert counts[8] < counts[16]
    assert 1.8e6 < counts[16] < 2.1e6                          # the classic U-Net16, ~1.9 M
    assert 3.5 < counts[16] / counts[8] < 4.5                   # conv weights scale ~ width^2
    mobile = build_model(ModelConfig("mobilenet_unet", image_size=32, base_filters=16))
    assert mobile.count_params() != counts[16]


def test_every_batchnorm_uses_the_short_run_momentum():
    for arch in ("unet", "mobilenet_unet"):
        model = build_model(ModelConfig(arch, image_size=32, bn_momentum=0.9))
        bns = [layer for layer in _all_layers(model)
               if isinstance(layer, keras.layers.BatchNormalization)]
        assert bns and all(bn.momentum == pytest.approx(0.9) for bn in bns), arch


def _all_layers(model):
    for layer in model.layers:
        yield layer
        if isinstance(layer, keras.Model):
            yield from _all_layers(layer)


def test_head_stays_float32_under_mixed_precision():
    keras.mixed_precision.set_global_policy("mixed_float16")
    try:
        model = build_model(ModelConfig(image_size=32, base_filters=4))
        assert model.layers[1].compute_dtype == "float16"
        y = model(np.zeros((1, 32, 32, 3), np.float32))
        assert keras.backend.standardize_dtype(y.dtype) == "float32"
    finally:
        keras.mixed_precision.set_global_policy("float32")


@pytest.mark.parametrize("config, message", [
    (ModelConfig("unet", image_size=40), "multiple of 16"),
    (ModelConfig("mobilenet_unet", image_size=48), "multiple of 32"),
    (ModelConfig("resnet", image_size=32), "unknown architecture"),
    (ModelConfig("unet", image_size=32, encoder_weights="imagenet"), "encoder architectures"),
])
def test_bad_configs_fail_clearly(config, message):
    with pytest.raises(ValueError, match=message):
        build_model(config)


# --- losses and metrics ---------------------------------------------------------------------

def _soft_target(seed=0, n=2, size=16):
    rng = np.random.default_rng(seed)
    y = rng.uniform(0, 1, (n, size, size, 1)).astype(np.float32)
    y[:, :4] = 0.0
    y[:, -4:] = 1.0
    return y


def test_perfect_prediction_has_about_zero_loss_even_for_soft_targets():
    loss = losses.BceDiceLoss()
    for y in (_soft_target(), (_soft_target() > 0.5).astype(np.float32)):
        assert float(loss(y, y)) == pytest.approx(0.0, abs=1e-4)
    y = _soft_target()
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


def test_iou_and_mae_metrics_on_known_arrays_with_weights():
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
    mae = losses.MaskMAE()
    mae.update_state(y, p, sample_weight=np.array([1, 1, 0], np.float32))
    assert float(mae.result()) == pytest.approx(((0.1 + 0.8 + 0.7 + 0.1) / 4 + 0) / 2, abs=1e-6)



def test_loss_of_a_padded_batch_is_the_loss_of_its_real_examples():
    """The last validation batch is padded with weight-0 blanks (model/data.py): the loss must
    be the mean over the real examples, not sum / batch size (Keras' default reduction)."""
    loss = losses.BceDiceLoss()
    k, blanks = 3, 2
    y = _soft_target(seed=1, n=k)
    p = np.clip(_soft_target(seed=2, n=k), 0.05, 0.95)
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


def test_val_loss_over_padded_batches_is_the_mean_over_real_examples():
    """Over a whole evaluation, a padded last batch counts for its real examples only (Keras'
    test_step weighs each batch's loss by the batch size; model.train reweighs it)."""
    from model import train

    model = build_model(ModelConfig(image_size=32, base_filters=4))
    model.compile(optimizer="adam", loss=losses.make_loss(), metrics=losses.make_metrics())
    train._weigh_val_loss_by_sample_weight(model)
    rng = np.random.default_rng(0)
    n, batch = 6, 4                                   # batches of 4 real, then 2 real + 2 blank
    x = rng.standard_normal((n, 32, 32, 3)).astype(np.float32)
    y = _soft_target(seed=3, n=n, size=32)
    pad = 8 - n
    x_pad = np.concatenate([x, np.zeros((pad, 32, 32, 3), np.float32)])
    y_pad = np.concatenate([y, np.zeros((pad, 32, 32, 1), np.float32)])
    w_pad = np.array([1.0] * n + [0.0] * pad, np.float32)
    got = model.evaluate(x_pad, y_pad, sample_weight=w_pad, batch_size=batch, verbose=0,
                         return_dict=True)
    per_image = np.asarray(losses.BceDiceLoss(reduction="none")(y, model(x, training=False)))
    assert got["loss"] == pytest.approx(float(per_image.mean()), rel=1e-5)
    # Unweighted evaluation is Keras' plain mean over the batches, as before.
    plain = model.evaluate(x, y, batch_size=n, verbose=0, return_dict=True)
    assert plain["loss"] == pytest.approx(float(per_image.mean()), rel=1e-5)

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


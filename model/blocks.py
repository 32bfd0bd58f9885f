"""Layers shared by the builders (model/unet.py, model/mobilenet_unet.py).

BatchNorm momentum is 0.9, not Keras' 0.99 (0.999 in keras.applications): on short CPU runs
(a few hundred steps) the moving averages don't converge at 0.99, and the model in inference mode
(the one that is exported and scored) is far worse than in training mode: 0.566 IoU with batch
statistics and 0.010 in inference mode after 128 steps at 0.99; 0.656 at 0.9 (the README's "What
the code relies on").
Every BatchNorm is synchronized: batch statistics over all replicas, so every replica's moving
averages are the same, and what validation reports is what the saved (exported) weights do.
"""
from __future__ import annotations

from keras import layers

DEFAULT_BN_MOMENTUM = 0.9


def conv_bn_relu(x, filters: int, momentum: float, name: str, kernel_size: int = 3):
    x = layers.Conv2D(filters, kernel_size, padding="same", use_bias=False,
                      kernel_initializer="he_normal", name=f"{name}_conv")(x)
    x = layers.BatchNormalization(momentum=momentum, synchronized=True, name=f"{name}_bn")(x)
    return layers.ReLU(name=f"{name}_relu")(x)


def sigmoid_head(x, name: str = "alpha"):
    """1x1 conv to one channel and a sigmoid, both float32 whatever the global policy."""
    x = layers.Conv2D(1, 1, dtype="float32", name=f"{name}_logits")(x)
    return layers.Activation("sigmoid", dtype="float32", name=name)(x)

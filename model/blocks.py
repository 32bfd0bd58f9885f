"""Layers shared by the builders (model/unet.py and the encoder U-Nets).

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


def light_decoder(skips, x, inputs, base: int, momentum: float):
    """The encoder U-Nets' decoder (model/mobilenet_unet.py, model/efficientnet_unet.py): from
    the bottleneck `x` at 1/32, for each skip at 1/16, 1/8, 1/4, 1/2 (`skips` from fine to
    coarse): bilinear x2 up-sampling, concatenation with the skip, two 3x3 conv + BN + ReLU at
    base x (8, 4, 2, 1) filters; then up to full resolution, concatenated with the input image
    (it helps edges), one more conv block and the sigmoid head."""
    for level in reversed(range(len(skips))):       # 1/16, 1/8, 1/4, 1/2
        filters = base * 2 ** level
        x = layers.UpSampling2D(2, interpolation="bilinear", name=f"up{level}_resize")(x)
        x = layers.Concatenate(name=f"up{level}_concat")([x, skips[level]])
        x = conv_bn_relu(x, filters, momentum, f"up{level}a")
        x = conv_bn_relu(x, filters, momentum, f"up{level}b")
    x = layers.UpSampling2D(2, interpolation="bilinear", name="full_resize")(x)
    x = layers.Concatenate(name="full_concat")([x, inputs])
    x = conv_bn_relu(x, base, momentum, "full_a")
    return sigmoid_head(x)

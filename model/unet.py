"""`unet`: the classic U-Net (Ronneberger et al.).

`levels` (default 4) down-sampling levels of two 3x3 conv + BatchNorm + ReLU blocks, widths
base x (1, 2, 4, 8, ...) and a base x 2^levels bottleneck, transposed-conv up-sampling and skip
concatenation. `base_filters` 16 at 4 levels (the default) is ~1.9 M parameters and ~9.5 GFLOPs
per 320 px image; a 5th level adds ~1/5 of the FLOPs (each level costs about the same: half the
side, twice the width) and sees the whole image at the bottleneck. S must be a multiple of
2^levels. `variable_size` builds it for any input side (training on crops, serving at S).
Built through `model.architectures.build_model`, which checks the config first.
"""
from __future__ import annotations

import keras
from keras import layers

from model.blocks import conv_bn_relu, sigmoid_head

UNET_LEVELS = 4                         # the default depth
SIZE_MULTIPLE = 2 ** UNET_LEVELS        # its total down-sampling factor


def build_unet(config) -> keras.Model:
    """config: a `model.architectures.ModelConfig`."""
    size = int(config.image_size)
    base = int(config.base_filters)
    momentum = float(config.bn_momentum)
    levels = int(config.levels or UNET_LEVELS)
    side = None if config.variable_size else size
    inputs = keras.Input((side, side, 3), name="image")
    x = inputs
    skips = []
    for level in range(levels):
        filters = base * 2 ** level
        x = conv_bn_relu(x, filters, momentum, f"down{level}a")
        x = conv_bn_relu(x, filters, momentum, f"down{level}b")
        skips.append(x)
        x = layers.MaxPooling2D(2, name=f"down{level}_pool")(x)
    filters = base * 2 ** levels
    x = conv_bn_relu(x, filters, momentum, "bottom_a")
    x = conv_bn_relu(x, filters, momentum, "bottom_b")
    for level in reversed(range(levels)):
        filters = base * 2 ** level
        x = layers.Conv2DTranspose(filters, 2, strides=2, padding="same",
                                   kernel_initializer="he_normal", name=f"up{level}_tconv")(x)
        x = layers.Concatenate(name=f"up{level}_concat")([x, skips[level]])
        x = conv_bn_relu(x, filters, momentum, f"up{level}a")
        x = conv_bn_relu(x, filters, momentum, f"up{level}b")
    return keras.Model(inputs, sigmoid_head(x), name=f"unet{base}")

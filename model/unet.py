"""Pure model builders: `build_model(config) -> keras.Model`, dispatching on `config.architecture`.

Every model maps a normalised image batch float [N, S, S, 3] ((pixels - mean) / std, see
model/data.py) to a sigmoid probability float32 [N, S, S, 1], float32 even under a mixed-precision
policy (the head is a float32 layer), which is what `model.export.export_model` expects.

Architectures:
- `unet`: the classic U-Net (Ronneberger et al.): 4 down-sampling levels of two 3x3 conv +
  BatchNorm + ReLU blocks, widths base x (1, 2, 4, 8) and a 16x bottleneck, transposed-conv
  up-sampling and skip concatenation. `base_filters` 16 (the default) is ~1.9 M parameters and
  ~9.5 GFLOPs per 320 px image. S must be a multiple of 16.
- `mobilenet_unet` (model/mobilenet_unet.py): a MobileNetV2 encoder (random init, or ImageNet
  weights when asked) with a light U-Net decoder. S must be a multiple of 32.

BatchNorm momentum is 0.9, not Keras' 0.99 (0.999 in keras.applications): on short CPU runs
(a few hundred steps) the moving averages don't converge at 0.99, and the model in inference mode
(the one that is exported and scored) is far worse than in training mode. STACK.md: 0.566 IoU
with batch statistics and 0.010 in inference mode after 128 steps at 0.99; 0.656 at 0.9.
"""
from __future__ import annotations

import dataclasses

import keras
from keras import layers

ARCHITECTURES = ("unet", "mobilenet_unet")
ENCODER_WEIGHTS = ("none", "imagenet")
DEFAULT_BN_MOMENTUM = 0.9
UNET_LEVELS = 4


@dataclasses.dataclass(frozen=True)
class ModelConfig:
    """What a builder needs; `model.train.TrainConfig` carries the same fields."""
    architecture: str = "unet"
    image_size: int = 256
    base_filters: int = 16
    encoder_weights: str = "none"
    bn_momentum: float = DEFAULT_BN_MOMENTUM


def size_multiple(architecture: str) -> int:
    """The image side must be a multiple of this (the total down-sampling factor)."""
    return 32 if architecture == "mobilenet_unet" else 2 ** UNET_LEVELS


def check_model_config(architecture: str, image_size: int, base_filters: int,
                       encoder_weights: str, bn_momentum: float) -> None:
    """Raises ValueError with a clear message for a config no builder can honour."""
    if architecture not in ARCHITECTURES:
        raise ValueError(f"unknown architecture {architecture!r}; one of {ARCHITECTURES}")
    if encoder_weights not in ENCODER_WEIGHTS:
        raise ValueError(f"unknown encoder_weights {encoder_weights!r}; one of {ENCODER_WEIGHTS}")
    if encoder_weights != "none" and architecture == "unet":
        raise ValueError("encoder_weights applies to encoder architectures (mobilenet_unet); "
                         "the plain unet has no pretrained encoder")
    multiple = size_multiple(architecture)
    if image_size < multiple or image_size % multiple:
        raise ValueError(f"{architecture} needs an image size that is a multiple of {multiple}; "
                         f"the data is {image_size} px (re-run preprocessing with another "
                         f"--image_size)")
    if base_filters < 1:
        raise ValueError(f"base_filters must be >= 1, got {base_filters}")
    if not 0.0 < bn_momentum < 1.0:
        raise ValueError(f"bn_momentum must be in (0, 1), got {bn_momentum}")


def conv_bn_relu(x, filters: int, momentum: float, name: str, kernel_size: int = 3):
    x = layers.Conv2D(filters, kernel_size, padding="same", use_bias=False,
                      kernel_initializer="he_normal", name=f"{name}_conv")(x)
    # synchronized: batch statistics over all replicas, so every replica's moving averages are
    # the same, and what validation reports is what the saved (exported) weights do.
    x = layers.BatchNormalization(momentum=momentum, synchronized=True, name=f"{name}_bn")(x)
    return layers.ReLU(name=f"{name}_relu")(x)


def sigmoid_head(x, name: str = "alpha"):
    """1x1 conv to one channel and a sigmoid, both float32 whatever the global policy."""
    x = layers.Conv2D(1, 1, dtype="float32", name=f"{name}_logits")(x)
    return layers.Activation("sigmoid", dtype="float32", name=name)(x)


def build_unet(config) -> keras.Model:
    size = int(config.image_size)
    base = int(config.base_filters)
    momentum = float(getattr(config, "bn_momentum", DEFAULT_BN_MOMENTUM))
    inputs = keras.Input((size, size, 3), name="image")
    x = inputs
    skips = []
    for level in range(UNET_LEVELS):
        filters = base * 2 ** level
        x = conv_bn_relu(x, filters, momentum, f"down{level}a")
        x = conv_bn_relu(x, filters, momentum, f"down{level}b")
        skips.append(x)
        x = layers.MaxPooling2D(2, name=f"down{level}_pool")(x)
    filters = base * 2 ** UNET_LEVELS
    x = conv_bn_relu(x, filters, momentum, "bottom_a")
    x = conv_bn_relu(x, filters, momentum, "bottom_b")
    for level in reversed(range(UNET_LEVELS)):
        filters = base * 2 ** level
        x = layers.Conv2DTranspose(filters, 2, strides=2, padding="same",
                                   kernel_initializer="he_normal", name=f"up{level}_tconv")(x)
        x = layers.Concatenate(name=f"up{level}_concat")([x, skips[level]])
        x = conv_bn_relu(x, filters, momentum, f"up{level}a")
        x = conv_bn_relu(x, filters, momentum, f"up{level}b")
    return keras.Model(inputs, sigmoid_head(x), name=f"unet{base}")


def build_model(config) -> keras.Model:
    """config: a ModelConfig, a TrainConfig, or anything with the same attributes."""
    architecture = config.architecture
    check_model_config(architecture, int(config.image_size), int(config.base_filters),
                       getattr(config, "encoder_weights", "none"),
                       float(getattr(config, "bn_momentum", DEFAULT_BN_MOMENTUM)))
    if architecture == "unet":
        return build_unet(config)
    from model.mobilenet_unet import build_mobilenet_unet

    return build_mobilenet_unet(config)

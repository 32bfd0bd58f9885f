"""The models bench/remove_background.py times and compares, made once under its workdir and
reused (a marker in each export's cutout_export.json says which recipe made it).

- `make_model`: the U-Net of model/unet.py (random weights) for the compute, with a fixed
  subject-shaped alpha as its output: the pipeline's speed on realistic outputs.
- `make_trained_model`: an architecture trained for a few CPU minutes on synthetic scenes: real
  edges and real uncertainty, so the masks of two runtimes can be compared (a random U-Net says
  ~0.5 everywhere, where any rounding flips the threshold; the prior model says the prior,
  whatever the runtime).
Both go through model.export, so they carry the fast runtime's artefact like any export.
"""
from __future__ import annotations

import os
import shutil
import time

import numpy as np

MEAN, STD = [124.0, 116.0, 104.0], [58.0, 57.0, 57.0]
PRIOR_RECIPE = 4      # bumped when make_model changes: an old export is made again
TRAINED_RECIPE = 1


def subject_prior(size: int) -> np.ndarray:
    """A soft ellipse around the centre covering about a quarter of the frame, float [S, S, 1]."""
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32) / (size - 1)
    r = ((xx - 0.5) / 0.28) ** 2 + ((yy - 0.5) / 0.36) ** 2
    logits = np.clip(-40.0 * (1.0 - r), -60.0, 60.0)
    return (1.0 / (1.0 + np.exp(logits)))[..., None].astype(np.float32)


def _reusable(export_dir: str, key: str, value) -> bool:
    from model import export

    if not os.path.exists(os.path.join(export_dir, export.METADATA_FILE)):
        return False
    if export.read_metadata(export_dir).get(key) == value:
        return True
    shutil.rmtree(export_dir)
    return False


def make_model(export_dir: str, image_size: int, architecture: str = "unet") -> str:
    """The architecture's model (random weights) for the compute, with a fixed subject-shaped
    alpha as its output; returns its name.

    Why not the model's own output: with random weights it says ~0.5 everywhere, so no pixel is
    ever fully transparent, while a real model leaves most of a photo at alpha 0 (88% of the
    synthetic scenes' true alpha), which is what makes the PNG encoders fast. The output is
    `min(prior + 1e-6 * net(x), 1)`: the net runs in full (a product by 1e-6 can't be folded
    away the way a product by 0 could).
    """
    import keras

    from model import export
    from model.architectures import ModelConfig, build_model

    name = f"{architecture}16+subject_prior" if architecture == "unet" else \
        f"{architecture}+subject_prior"
    if _reusable(export_dir, "bench_recipe", [PRIOR_RECIPE, architecture, image_size]):
        return name
    keras.utils.set_random_seed(0)
    body = build_model(ModelConfig(architecture=architecture, image_size=image_size,
                                   base_filters=16))
    prior = subject_prior(image_size)
    inputs = keras.Input((image_size, image_size, 3))
    alpha = keras.layers.Lambda(
        lambda u: keras.ops.minimum(keras.ops.convert_to_tensor(prior) + 1e-6 * u, 1.0),
        name="subject_prior")(body(inputs))
    export.export_model(keras.Model(inputs, alpha), export_dir, image_size, mean=MEAN, std=STD,
                        extra_metadata={"architecture": name, "bench_recipe":
                                        [PRIOR_RECIPE, architecture, image_size]})
    return name


def training_pairs(count: int, image_size: int, seed: int = 1):
    """`count` synthetic scenes at the bench photos' aspect, stretched to the square the way the
    pipeline stretches a photo: uint8 [N, S, S, 3] and float alpha [N, S, S, 1]."""
    from PIL import Image

    from pipelines.core import imaging
    from pipelines.synthetic import datasets as synthetic

    rng = np.random.default_rng(seed)
    images, alphas = [], []
    for _ in range(count):
        rgb, alpha = synthetic.render_scene(rng, 480, 360)
        images.append(np.asarray(imaging.resize_square(Image.fromarray(rgb), image_size)))
        small = imaging.resize_square(Image.fromarray(np.asarray(alpha, np.uint8)), image_size)
        alphas.append(np.asarray(small, np.float32)[..., None] / 255.0)
    return np.stack(images), np.stack(alphas)


def make_trained_model(export_dir: str, image_size: int, pairs: int = 240, epochs: int = 5,
                       log=print, architecture: str = "unet") -> str:
    """The architecture (its default encoder weights: the pretrained encoder's come from the
    installed package) trained a few CPU minutes on synthetic scenes (cached); its name."""
    import keras

    from model import export, losses
    from model.architectures import ModelConfig, build_model, default_encoder_weights

    recipe = [TRAINED_RECIPE, image_size, pairs, epochs] + (
        [] if architecture == "unet" else [architecture])
    name = (f"{'unet16' if architecture == 'unet' else architecture} trained {epochs} epochs "
            f"on {pairs} synthetic scenes")
    if _reusable(export_dir, "bench_recipe", recipe):
        return name
    start = time.time()
    images, alphas = training_pairs(pairs, image_size)
    keras.utils.set_random_seed(0)
    net = build_model(ModelConfig(architecture=architecture, image_size=image_size,
                                  base_filters=16,
                                  encoder_weights=default_encoder_weights(architecture),
                                  input_mean=tuple(MEAN), input_std=tuple(STD)))
    net.compile(optimizer=keras.optimizers.Adam(2e-3), loss=losses.make_loss())
    x = (images.astype(np.float32) - np.asarray(MEAN, np.float32)) / np.asarray(STD, np.float32)
    net.fit(x, alphas, batch_size=8, epochs=epochs, verbose=0)
    export.export_model(net, export_dir, image_size, mean=MEAN, std=STD,
                        extra_metadata={"architecture": name, "bench_recipe": recipe})
    log(f"trained the comparison model in {time.time() - start:.0f} s (once; reused)")
    return name

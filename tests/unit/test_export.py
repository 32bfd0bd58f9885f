"""model/export.py: `serving_default` (encoded bytes of any size in, each alpha at its own size
out) agrees with `serve_resized` (pixels at S), for sizes other than S and for a batch of mixed
sizes. The model is the exporter's own tiny brightness model (tests/cutout_support.py)."""
from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from model import export
from tests import cutout_support as cs

S = cs.IMAGE_SIZE
# serve_resized takes uint8 pixels: rounding the resized image moves the mean brightness by at
# most 0.5, the alpha by at most 0.5 * K / 4 (the sigmoid's slope is at most 1/4).
ROUNDING = 0.5 * cs.K / 4 + 1e-4


@pytest.fixture(scope="module")
def signatures(tmp_path_factory):
    export_dir = cs.export_brightness_model(str(tmp_path_factory.mktemp("export") / "export"))
    _, serve_bytes, serve_resized = export.load_export(export_dir)
    return serve_bytes, serve_resized


def _picture(width: int, height: int) -> np.ndarray:
    """A ramp of brightness across the sigmoid's soft range (so alphas are not just 0 and 1),
    with a bright box: RGB uint8 [height, width, 3]."""
    ramp = np.linspace(100, 160, width, dtype=np.float32)[None, :, None]
    rgb = np.broadcast_to(ramp, (height, width, 3)).copy()
    rgb[height // 3:height // 2, width // 4:width // 2] = cs.BRIGHT
    return np.round(rgb).astype(np.uint8)


def _encode(rgb: np.ndarray, fmt: str) -> bytes:
    return cs.encode(Image.fromarray(rgb, "RGB"), fmt)


def _through_serve_resized(serve_resized, data: bytes) -> np.ndarray:
    """The alpha as serve_resized gives it for the same decoded pixels resized to S (as the
    export resizes them), then brought back to the image's size: float [H, W, 1]."""
    pixels = tf.io.decode_image(data, channels=3, expand_animations=False)
    small = tf.image.resize(tf.cast(pixels, tf.float32), [S, S], method="bilinear",
                            antialias=True)
    small = tf.cast(tf.round(tf.clip_by_value(small, 0, 255)), tf.uint8)
    alpha = serve_resized(images=small[None])["alpha"][0]
    return tf.image.resize(alpha, tf.shape(pixels)[:2], method="bilinear").numpy()


@pytest.mark.parametrize("width, height, fmt", [(64, 48, "PNG"), (20, 30, "PNG"),
                                                (100, 37, "JPEG"), (S, S, "PNG")])
def test_one_image_comes_back_at_its_own_size(signatures, width, height, fmt):
    serve_bytes, serve_resized = signatures
    data = _encode(_picture(width, height), fmt)
    out = serve_bytes(image_bytes=tf.constant([data]))
    alpha = out["alpha"].numpy()
    assert alpha.shape == (1, height, width, 1) and alpha.dtype == np.float32
    assert out["height"].numpy().tolist() == [height]
    assert out["width"].numpy().tolist() == [width]
    expected = _through_serve_resized(serve_resized, data)
    assert expected.std() > 0.05                   # soft values, not just 0 and 1
    np.testing.assert_allclose(alpha[0], expected, atol=ROUNDING)


def test_a_batch_of_mixed_sizes_gives_each_image_its_own_alpha(signatures):
    serve_bytes, serve_resized = signatures
    sizes = [(64, 48), (20, 30), (33, 50), (S, S)]       # (width, height)
    datas = [_encode(_picture(w, h), "JPEG" if i == 2 else "PNG")
             for i, (w, h) in enumerate(sizes)]
    out = serve_bytes(image_bytes=tf.constant(datas))
    alpha = out["alpha"].numpy()
    max_w, max_h = max(w for w, _ in sizes), max(h for _, h in sizes)
    assert alpha.shape == (len(sizes), max_h, max_w, 1)
    assert out["height"].numpy().tolist() == [h for _, h in sizes]
    assert out["width"].numpy().tolist() == [w for w, _ in sizes]
    for i, ((w, h), data) in enumerate(zip(sizes, datas)):
        own = alpha[i, :h, :w]
        np.testing.assert_allclose(own, _through_serve_resized(serve_resized, data),
                                   atol=ROUNDING, err_msg=f"image {i} ({w}x{h})")
        alone = serve_bytes(image_bytes=tf.constant([data]))["alpha"].numpy()[0]
        np.testing.assert_allclose(own, alone, atol=1e-5, err_msg=f"image {i} alone")
        padding = np.ones(alpha.shape[1:3], bool)
        padding[:h, :w] = False
        assert not alpha[i][padding].any(), f"image {i}: padding is not zero"


def test_flip_tta_averages_the_prediction_and_its_mirror(tmp_path):
    """A model that is not mirror-symmetric (a random 3x3 conv): `tta="flip"` serves
    (m(x) + mirror(m(mirror(x)))) / 2 through both signatures, and says so in its metadata."""
    import keras

    model = keras.Sequential([keras.Input((S, S, 3)),
                              keras.layers.Conv2D(1, 3, padding="same", activation="sigmoid")])
    model.layers[0].set_weights([np.random.default_rng(0).normal(0, 0.02, (3, 3, 3, 1))
                                 .astype(np.float32), np.array([-1.0], np.float32)])
    rgb = _picture(S, S)
    mean, std = [120.0, 110.0, 100.0], [50.0, 50.0, 50.0]
    x = (rgb[None].astype(np.float32) - np.array(mean, np.float32)) / np.array(std, np.float32)
    plain = np.asarray(model(x))
    mirrored = np.asarray(model(x[:, :, ::-1]))[:, :, ::-1]
    assert np.abs(plain - mirrored).max() > 1e-3               # the mirror matters here
    served = {}
    for tta in ("none", "flip"):
        export_dir = export.export_model(model, str(tmp_path / tta), S, mean, std, tta=tta)
        assert export.read_metadata(export_dir)["tta"] == tta
        _, serve_bytes, serve_resized = export.load_export(export_dir)
        served[tta] = serve_resized(images=rgb[None])["alpha"].numpy()
        whole = serve_bytes(image_bytes=tf.constant([_encode(rgb, "PNG")]))["alpha"].numpy()
        np.testing.assert_allclose(whole, served[tta], atol=1e-5)
        assert served[tta].dtype == np.float32
    np.testing.assert_allclose(served["none"], plain, atol=1e-5)
    np.testing.assert_allclose(served["flip"], (plain + mirrored) / 2, atol=1e-5)
    with pytest.raises(ValueError, match="unknown tta"):
        export.export_model(model, str(tmp_path / "bad"), S, mean, std, tta="rotate")

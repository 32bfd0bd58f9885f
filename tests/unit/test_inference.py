"""The per-image steps without a model: the model's input, and the render of its alpha."""
import io

import numpy as np
import pytest
from PIL import Image

from pipelines.serving import inference
from tests import cutout_support as cs


def _alpha_small(value_fn, size=cs.IMAGE_SIZE):
    yy, xx = np.mgrid[0:size, 0:size]
    return value_fn(xx, yy).astype(np.float32)[..., None]


def _decode(png):
    return Image.open(io.BytesIO(png))


def test_render_keeps_own_alpha_and_mask_is_the_cutouts_alpha():
    rgba = np.zeros((40, 60, 4), np.uint8)
    rgba[..., :3] = 200
    rgba[..., 3] = 255
    rgba[:, :30, 3] = 0          # left half transparent in the input itself
    data = cs.encode(Image.fromarray(rgba, "RGBA"), "PNG")
    alpha_small = np.ones((cs.IMAGE_SIZE, cs.IMAGE_SIZE, 1), np.float32)  # model: all object
    out = inference.render_outputs(data, alpha_small, ["cutout", "mask"])
    cut, mask = _decode(out["cutout"]), _decode(out["mask"])
    assert cut.mode == "RGBA" and cut.size == (60, 40)
    assert mask.mode == "L" and mask.size == (60, 40)
    a = np.asarray(cut)[..., 3]
    assert (a[:, :30] == 0).all() and (a[:, 30:] == 255).all()
    assert np.array_equal(np.asarray(mask), a)


def test_render_on_a_background_colour_has_no_alpha():
    data = cs.encode(Image.new("RGB", (50, 30), (0, 0, 255)), "PNG")
    half = _alpha_small(lambda x, y: (x < cs.IMAGE_SIZE // 2).astype(float))
    out = inference.render_outputs(data, half, ["cutout"], background=(0, 255, 0))
    cut = np.asarray(_decode(out["cutout"]))
    assert cut.shape == (30, 50, 3)
    assert tuple(cut[15, 2]) == (0, 0, 255)    # kept: the blue object
    assert tuple(cut[15, 47]) == (0, 255, 0)   # removed: the green background


@pytest.mark.parametrize("compression", ["rle", "fast", "default"])
def test_every_png_compression_decodes_to_the_same_visible_picture(compression):
    data = cs.encode(Image.fromarray(cs.scene()), "PNG")
    alpha_small = _alpha_small(lambda x, y: ((x > 8) & (x < 24)).astype(float))
    png = inference.render_outputs(data, alpha_small, ["cutout"], png_compression=compression)
    ref = inference.render_outputs(data, alpha_small, ["cutout"], png_compression="default")
    a, b = np.asarray(_decode(png["cutout"])), np.asarray(_decode(ref["cutout"]))
    assert np.array_equal(a[..., 3], b[..., 3])
    visible = a[..., 3] > 0
    assert np.array_equal(a[visible], b[visible])


def test_prepare_image_is_the_models_input_and_refuses_bombs():
    data = cs.encode(Image.fromarray(cs.scene(640, 480)), "JPEG", quality=95)
    small = inference.prepare_image(data, cs.IMAGE_SIZE)
    assert small.shape == (cs.IMAGE_SIZE, cs.IMAGE_SIZE, 3) and small.dtype == np.uint8
    assert small[16, 16].mean() > 200 and small[1, 1].mean() < 50
    assert cs.reason_of(inference.prepare_image, data, cs.IMAGE_SIZE, 640 * 480 - 1) == \
        "too_many_pixels"
    assert cs.reason_of(inference.prepare_image, b"", cs.IMAGE_SIZE) == "empty_file"
    assert cs.reason_of(inference.prepare_image, b"GIF89a not really", cs.IMAGE_SIZE) in (
        "not_an_image", "undecodable")

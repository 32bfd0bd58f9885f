"""The project's PNG writer (`--png_compression fastest`): valid PNGs that decode to the same
pixels as Pillow's `rle` writer, on odd sizes, every mode it writes, full and empty alpha, and
16-bit sources through the whole output step."""
import io

import numpy as np
import pytest
from PIL import Image

from pipelines.core import imaging, png_writer
from pipelines.serving import inference
from tests.cutout_support import encode

SIZES = [(1, 1), (3, 7), (1081, 1439)]      # (width, height)


def decoded(png: bytes) -> np.ndarray:
    Image.open(io.BytesIO(png)).verify()    # signature, chunk order and every CRC
    img = Image.open(io.BytesIO(png))
    img.load()
    return np.asarray(img), img.mode


def random_image(width, height, mode, seed=0):
    rng = np.random.default_rng(seed)
    rgba = rng.integers(0, 256, (height, width, 4), dtype=np.uint8)
    rgba[..., 3][rgba[..., 3] < 100] = 0   # a good share of invisible pixels
    img = Image.fromarray(rgba, "RGBA")
    return img if mode == "RGBA" else img.convert(mode)


@pytest.mark.parametrize("width,height", SIZES)
@pytest.mark.parametrize("mode", ["RGBA", "RGB", "L"])
def test_round_trip_matches_pillows_rle_writer(width, height, mode):
    img = random_image(width, height, mode, seed=width)
    fast, fast_mode = decoded(imaging.encode_png(img, "fastest"))
    pillow, pillow_mode = decoded(imaging.encode_png(img, "rle"))
    assert (fast_mode, fast.shape) == (pillow_mode, pillow.shape) == (mode, pillow.shape)
    assert np.array_equal(fast, pillow)
    expected = np.asarray(img).copy()
    if mode == "RGBA":  # what both promise: RGB zeroed exactly where alpha is 0
        expected[expected[..., 3] == 0] = 0
    assert np.array_equal(fast, expected)


@pytest.mark.parametrize("alpha", [0, 255])
def test_full_and_empty_alpha(alpha):
    rgb = np.random.default_rng(1).integers(0, 256, (37, 53, 3), dtype=np.uint8)
    cut = imaging.compose_cutout(Image.fromarray(rgb), np.full((37, 53), alpha, np.uint8))
    pixels, _ = decoded(imaging.encode_png(cut, "fastest"))
    if alpha == 255:
        assert np.array_equal(pixels[..., :3], rgb) and (pixels[..., 3] == 255).all()
    else:
        assert not pixels.any()


def test_other_modes_fall_back_to_pillow():
    img = Image.new("P", (5, 4), 3)
    assert png_writer.encode(img) is None
    pixels, mode = decoded(imaging.encode_png(img, "fastest"))
    assert mode == "P" and pixels.shape == (4, 5)


@pytest.mark.parametrize("source_mode", ["I;16", "I;16+alpha"])
def test_16_bit_sources_through_the_output_step(source_mode):
    """A 16-bit photo (and one with its own transparency) -> cut-out and mask: the same pixels
    from both writers."""
    rng = np.random.default_rng(2)
    gray16 = rng.integers(0, 65536, (41, 29), dtype=np.uint16)
    if source_mode == "I;16":
        data = encode(Image.fromarray(gray16, "I;16"), "PNG")
    else:
        la = np.stack([gray16 >> 8, rng.integers(0, 256, (41, 29))], -1).astype(np.uint8)
        data = encode(Image.fromarray(la, "LA"), "PNG")
    rgb, own = imaging.load_rgb(data)
    alpha = np.clip(rng.normal(128, 120, (41, 29)), 0, 255).astype(np.uint8)
    outputs = {c: inference.encode_outputs(rgb, own, alpha, ("cutout", "mask"), None, c)
               for c in ("fastest", "rle")}
    for kind in ("cutout", "mask"):
        fast, fast_mode = decoded(outputs["fastest"][kind])
        pillow, pillow_mode = decoded(outputs["rle"][kind])
        assert fast_mode == pillow_mode == ("RGBA" if kind == "cutout" else "L")
        assert np.array_equal(fast, pillow)


def test_on_a_background_colour_every_pixel_is_kept():
    rgb = Image.fromarray(np.random.default_rng(3).integers(0, 256, (9, 11, 3), np.uint8))
    alpha = np.random.default_rng(4).integers(0, 256, (9, 11), dtype=np.uint8)
    cut = imaging.compose_cutout(rgb, alpha, None, (0, 255, 0))
    pixels, mode = decoded(imaging.encode_png(cut, "fastest"))
    assert mode == "RGB" and np.array_equal(pixels, np.asarray(cut))

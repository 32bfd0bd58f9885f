"""Pure image steps: decoding quirks, mask encodings, the shared resize, compositing, PNG."""
import io

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from pipelines.core import imaging
from pipelines.core.rejects import Rejected


def _jpeg(img, **kw):
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=95, **kw)
    return buf.getvalue()


def _png(img):
    buf = io.BytesIO()
    img.save(buf, "PNG")
    return buf.getvalue()


def test_pil_and_tf_agree_on_the_resize():
    """Training data is resized with PIL, serving_default resizes in TF: they must agree."""
    rng = np.random.default_rng(0)
    base = rng.integers(0, 256, (60, 80, 3)).astype(np.uint8)
    photo = np.asarray(Image.fromarray(base).resize((723, 517), Image.BICUBIC))
    for size in (320, 128, 64):
        ours = np.asarray(imaging.resize_square(Image.fromarray(photo), size), np.float32)
        theirs = tf.image.resize(photo.astype(np.float32), [size, size], method="bilinear",
                                 antialias=True).numpy()
        diff = np.abs(ours - theirs)
        assert diff.mean() < 1.0, (size, diff.mean())
        assert np.percentile(diff, 99) < 6, (size, np.percentile(diff, 99))


def test_exif_rotation_applied_and_recorded():
    upright = np.zeros((40, 20, 3), np.uint8)
    upright[:10] = 255  # white band at the top of the upright picture
    stored = Image.fromarray(upright).transpose(Image.Transpose.ROTATE_90)  # stored sideways
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 CW to display
    rgb, alpha = imaging.load_rgb(_jpeg(stored, exif=exif.tobytes()))
    assert rgb.size == (20, 40) and alpha is None
    arr = np.asarray(rgb)
    assert arr[:8].mean() > 200 and arr[15:].mean() < 40


def test_modes_become_rgb_and_16_bit_is_scaled_not_clipped():
    gray = imaging.load_rgb(_jpeg(Image.new("L", (8, 8), 100)))[0]
    assert gray.mode == "RGB" and abs(int(np.asarray(gray)[0, 0, 0]) - 100) <= 2
    cmyk = imaging.load_rgb(_jpeg(Image.new("CMYK", (8, 8), (0, 255, 255, 0))))[0]
    r, g, b = np.asarray(cmyk)[4, 4]
    assert r > 200 and g < 60 and b < 60  # red
    sixteen = Image.fromarray(np.full((4, 4), 40000, np.uint16))
    rgb16 = np.asarray(imaging.load_rgb(_png(sixteen))[0])
    assert abs(int(rgb16[0, 0, 0]) - round(40000 / 257)) <= 1
    pal = Image.new("P", (4, 4), 1)
    pal.putpalette([0, 0, 0, 10, 200, 30] + [0] * 762)
    pal.putpixel((3, 3), 0)
    pal.info["transparency"] = 0
    rgb, alpha = imaging.load_rgb(_png(pal))
    assert tuple(np.asarray(rgb)[0, 0]) == (10, 200, 30)
    assert np.asarray(alpha)[3, 3] == 0 and np.asarray(alpha)[0, 0] == 255


def test_bad_inputs_have_reasons():
    good = _jpeg(Image.new("RGB", (64, 64), (1, 2, 3)))
    cases = {b"": "empty_file", b"not an image at all": "not_an_image",
             good[: len(good) // 2]: "undecodable"}
    for data, reason in cases.items():
        with pytest.raises(Rejected) as err:
            imaging.load_rgb(data)
        assert err.value.reason == reason
    with pytest.raises(Rejected) as err:
        imaging.load_rgb(good, max_pixels=100)
    assert err.value.reason == "too_many_pixels"


def test_mask_encodings():
    soft = np.array([[0, 100, 255]], np.uint8)
    assert np.array_equal(np.asarray(imaging.decode_mask(_png(Image.fromarray(soft)), "alpha")),
                          soft)
    ones = np.array([[0, 1, 1]], np.uint8)
    assert np.asarray(imaging.decode_mask(_png(Image.fromarray(ones)), "binary01")).tolist() == \
        [[0, 255, 255]]
    assert np.asarray(imaging.decode_mask(_png(Image.fromarray(ones)), "auto")).tolist() == \
        [[0, 255, 255]]
    assert np.asarray(imaging.decode_mask(_png(Image.fromarray(soft)), "auto")).tolist() == \
        soft.tolist()
    with pytest.raises(Rejected):
        imaging.decode_mask(_png(Image.fromarray(soft)), "binary01")


def test_cutout_keeps_pixels_and_own_alpha_and_background():
    rgb = Image.fromarray(np.full((2, 3, 3), 200, np.uint8))
    pred = np.array([[255, 128, 0], [255, 255, 0]], np.uint8)
    own = Image.fromarray(np.array([[255, 255, 255], [0, 128, 255]], np.uint8))
    out = np.asarray(imaging.compose_cutout(rgb, pred, own_alpha=own))
    assert out.shape == (2, 3, 4) and (out[..., :3] == 200).all()
    assert out[..., 3].tolist() == [[255, 128, 0], [0, 128, 0]]
    flat = np.asarray(imaging.compose_cutout(rgb, pred, background=(0, 0, 0)))
    assert flat.shape == (2, 3, 3) and flat[0, 1, 0] == round(200 * 128 / 255)


def test_png_compressions_round_trip_visible_pixels():
    rng = np.random.default_rng(1)
    arr = rng.integers(0, 256, (30, 40, 4)).astype(np.uint8)
    arr[:10, :, 3] = 0
    img = Image.fromarray(arr, "RGBA")
    for mode in imaging.PNG_COMPRESSIONS:
        back = np.asarray(Image.open(io.BytesIO(imaging.encode_png(img, mode))))
        visible = arr[..., 3] > 0
        assert np.array_equal(back[visible], arr[visible])
        assert np.array_equal(back[..., 3], arr[..., 3])
        if mode != "rle":
            assert np.array_equal(back, arr)
    with pytest.raises(ValueError):
        imaging.encode_png(img, "best")


def test_upsample_alpha_shape_and_range():
    small = np.linspace(0, 1, 16, dtype=np.float32).reshape(4, 4, 1)
    big = imaging.upsample_alpha(small, width=50, height=30)
    assert big.shape == (30, 50) and big.dtype == np.uint8
    assert big.min() == 0 and big.max() == 255


def test_parse_color():
    assert imaging.parse_color("white") == (255, 255, 255)
    assert imaging.parse_color("#00ff00") == (0, 255, 0)
    assert imaging.parse_color("1, 2, 3") == (1, 2, 3)
    with pytest.raises(ValueError):
        imaging.parse_color("nope")


def _png_claiming(width, height):
    """A 1x1 PNG whose header claims width x height (Pillow reads only the header to open)."""
    import struct
    import zlib

    data = bytearray(_png(Image.new("L", (1, 1))))
    ihdr = 8 + 8  # signature, then length + type of the IHDR chunk
    data[ihdr:ihdr + 8] = struct.pack(">II", width, height)
    crc = zlib.crc32(bytes(data[12:ihdr + 13]))
    data[ihdr + 13:ihdr + 17] = struct.pack(">I", crc)
    return bytes(data)


def test_pixel_limit_is_ours_and_can_be_raised():
    huge = _png_claiming(10_000, 10_000)  # 100 MP: over Pillow's own bomb threshold
    with pytest.raises(Rejected) as err:
        imaging.load_rgb(huge)  # default limit: Pillow's
    assert err.value.reason == "too_many_pixels"
    with pytest.raises(Rejected) as err:
        imaging.load_rgb(huge, max_pixels=200_000_000)  # raised: it gets as far as decoding
    assert err.value.reason == "undecodable"


def test_over_twice_pillows_limit_is_ours_too():
    """Pillow raises its own error past twice its limit, before our check: same reason, and a
    caller's higher limit still gets that far."""
    huge = _png_claiming(20_000, 10_000)  # 200 MP
    with pytest.raises(Rejected) as err:
        imaging.load_rgb(huge)
    assert err.value.reason == "too_many_pixels"
    with pytest.raises(Rejected) as err:
        imaging.load_rgb(huge, max_pixels=300_000_000)
    assert err.value.reason == "undecodable"


def test_importing_imaging_leaves_pillows_bomb_check_alone():
    import subprocess
    import sys

    code = ("from PIL import Image; default = Image.MAX_IMAGE_PIXELS; "
            "import pipelines.core.imaging; "
            "assert default and Image.MAX_IMAGE_PIXELS == default, Image.MAX_IMAGE_PIXELS")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]

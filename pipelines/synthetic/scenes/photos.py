"""Photographic backgrounds and the camera: what makes the people scenes look like photos.

Backgrounds are crops of the real photographs scikit-image ships inside its wheel (`skimage.data`:
only files in the wheel, loaded offline; the ones it would download are never asked for), scaled,
rotated, flipped and recoloured so that a few pictures give many backgrounds; sometimes two are
joined at a horizon (a wall over a floor), sometimes a plain studio backdrop. Crops avoid the
people in those pictures (the cameraman, the astronaut): a person in the background would be
labelled background.

The camera step works on the finished scene: a light falloff and a colour cast, a soft lens now and
then, sensor noise and a JPEG round trip. The mask is never touched by it, as a photo's annotation
follows the subject, not the pixels' blur.

scikit-image is imported on first use only, so a worker that never renders these scenes needs it
not. Arrays are channel-first (3, H, W) float32 in 0..255, as in `shapes`.
"""
from __future__ import annotations

import functools
import io
import math

import numpy as np
from PIL import Image, ImageFilter

from pipelines.synthetic.scenes.shapes import random_colour, smooth_noise

# (skimage.data function, crop window as fractions (top, bottom, left, right)): the windows leave
# out the people in the pictures.
PHOTO_SOURCES = (
    ("coffee", (0.0, 1.0, 0.0, 1.0)),
    ("chelsea", (0.0, 1.0, 0.0, 1.0)),
    ("rocket", (0.0, 1.0, 0.0, 1.0)),
    ("stereo_motorcycle", (0.0, 1.0, 0.0, 1.0)),
    ("clock", (0.0, 1.0, 0.0, 1.0)),
    ("coins", (0.0, 1.0, 0.0, 1.0)),
    ("camera", (0.0, 0.65, 0.6, 1.0)),
    ("astronaut", (0.0, 0.45, 0.68, 1.0)),
    ("brick", (0.0, 1.0, 0.0, 1.0)),
    ("grass", (0.0, 1.0, 0.0, 1.0)),
    ("gravel", (0.0, 1.0, 0.0, 1.0)),
)
TEXTURE_SOURCES = ("brick", "grass", "gravel")  # grayscale surfaces, tinted for cloth


@functools.lru_cache(maxsize=None)
def source_image(name: str) -> np.ndarray:
    """One skimage.data picture, HxWx3 uint8 (grayscale ones repeated to three channels)."""
    try:
        import skimage.data  # lazy: only the photo-like renderer needs scikit-image
    except ImportError as e:
        raise ImportError("the people scenes read scikit-image's bundled pictures: "
                          "pip install scikit-image (pinned in setup.py)") from e

    picture = getattr(skimage.data, name)()
    if isinstance(picture, tuple):  # stereo_motorcycle: (left, right, disparity)
        picture = picture[0]
    picture = np.asarray(picture)
    if picture.ndim == 2:
        picture = np.repeat(picture[:, :, None], 3, axis=2)
    return np.ascontiguousarray(picture[:, :, :3].astype(np.uint8))


def _crop(rng: np.random.Generator, name: str, window: tuple[float, float, float, float],
          h: int, w: int) -> np.ndarray:
    """A random crop of the picture's window, rotated a little, maybe flipped, resized to h x w:
    channel-first float32."""
    picture = source_image(name)
    ph, pw = picture.shape[:2]
    top, bottom, left, right = (int(window[0] * ph), int(window[1] * ph),
                                int(window[2] * pw), int(window[3] * pw))
    wh, ww = bottom - top, right - left
    aspect = w / h
    # The largest crop of the target's aspect that fits the window, then 35..100% of it.
    ch = min(wh, ww / aspect) * rng.uniform(0.35, 1.0)
    cw = ch * aspect
    y0 = top + rng.uniform(0, wh - ch)
    x0 = left + rng.uniform(0, ww - cw)
    im = Image.fromarray(picture)
    angle = float(rng.uniform(-12, 12)) if rng.random() < 0.4 else 0.0
    if angle:
        # Rotate about the crop's centre, then zoom so no empty corner shows.
        grow = abs(math.cos(math.radians(angle))) + abs(math.sin(math.radians(angle))) * max(
            aspect, 1 / aspect)
        cx, cy = x0 + cw / 2, y0 + ch / 2
        im = im.rotate(angle, resample=Image.BILINEAR, center=(cx, cy))
        cw, ch = cw / grow, ch / grow
        x0, y0 = cx - cw / 2, cy - ch / 2
    out = im.resize((w, h), Image.BICUBIC, box=(x0, y0, x0 + cw, y0 + ch))
    if rng.random() < 0.5:
        out = out.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
    return np.asarray(out, np.float32).transpose(2, 0, 1).copy()


def _recolour(rng: np.random.Generator, img: np.ndarray) -> np.ndarray:
    """A colour-grading of the picture: grayscale ones get a duotone (dark and light colour),
    colour ones a channel mix near identity; then contrast and brightness."""
    if np.array_equal(img[0], img[1]) and np.array_equal(img[1], img[2]):
        dark, light = random_colour(rng, (0.1, 0.6)) * 0.5, random_colour(rng, (0.0, 0.4))
        light = np.maximum(light, 120.0)
        t = img[:1] * (1.0 / 255.0)
        img = dark + (light - dark) * t
    else:
        mix = np.eye(3, dtype=np.float32) + rng.uniform(-0.15, 0.15, (3, 3)).astype(np.float32)
        mix /= mix.sum(axis=1, keepdims=True)
        img = np.einsum("ij,jhw->ihw", mix, img)
    mean = float(img.mean())
    img = (img - mean) * float(rng.uniform(0.7, 1.2)) + mean * float(rng.uniform(0.75, 1.2))
    return img.astype(np.float32)


def _studio(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    """A plain backdrop: a radial falloff of one colour with a faint mottle, as in portraits."""
    base = random_colour(rng, (0.0, 0.5))
    yy = np.linspace(-1, 1, h, dtype=np.float32)[:, None]
    xx = np.linspace(-1, 1, w, dtype=np.float32)[None, :]
    cx, cy = float(rng.uniform(-0.4, 0.4)), float(rng.uniform(-0.6, 0.2))
    fall = 1.0 - float(rng.uniform(0.1, 0.45)) * ((xx - cx) ** 2 + (yy - cy) ** 2)
    fall += smooth_noise(rng, h, w, max(h, w) / 4, 3) * 0.05
    return base * fall[None]


def photo_background(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    """A background of h x w: a recoloured crop of a real photograph (or two joined at a
    horizon), or a studio backdrop; channel-first float32."""
    if rng.random() < 0.15:
        return _studio(rng, h, w)
    name, window = PHOTO_SOURCES[int(rng.integers(0, len(PHOTO_SOURCES)))]
    img = _recolour(rng, _crop(rng, name, window, h, w))
    if rng.random() < 0.3:  # a wall over a floor: a second picture below a soft horizon
        name, window = PHOTO_SOURCES[int(rng.integers(0, len(PHOTO_SOURCES)))]
        floor = _recolour(rng, _crop(rng, name, window, h, w))
        horizon = rng.uniform(0.45, 0.85) * h + np.linspace(0, rng.uniform(-0.1, 0.1) * h, w)
        rows = np.arange(h, dtype=np.float32)[:, None]
        below = np.clip((rows - horizon[None, :].astype(np.float32)) * 0.5 + 0.5, 0.0, 1.0)
        img += (floor - img) * below[None]
    return img


def cloth_texture(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    """A grayscale real-surface texture (brick, grass, gravel) of h x w, zero-mean, unit spread:
    multiplied into cloth it reads as weave and print."""
    name = TEXTURE_SOURCES[int(rng.integers(0, len(TEXTURE_SOURCES)))]
    tex = _crop(rng, name, (0.0, 1.0, 0.0, 1.0), h, w)[0]
    tex -= float(tex.mean())
    tex *= 1.0 / max(float(tex.std()), 1.0)
    return tex


def blur(img: np.ndarray, radius: float) -> np.ndarray:
    """Gaussian blur of a channel-first float image (through 8-bit Pillow, which is fast)."""
    if radius <= 0.2:
        return img
    rgb = Image.fromarray(np.clip(img + 0.5, 0, 255).astype(np.uint8).transpose(1, 2, 0))
    rgb = rgb.filter(ImageFilter.GaussianBlur(radius))
    return np.asarray(rgb, np.float32).transpose(2, 0, 1).copy()


def camera(rng: np.random.Generator, img: np.ndarray) -> np.ndarray:
    """The finished scene as a camera would give it: HxWx3 uint8.

    Light falloff across the frame and a white-balance cast, sometimes a soft lens, exposure,
    sensor noise stronger in the shadows, then a JPEG round trip at quality 55..95."""
    _, h, w = img.shape
    yy = np.linspace(-1, 1, h, dtype=np.float32)[:, None]
    xx = np.linspace(-1, 1, w, dtype=np.float32)[None, :]
    angle = rng.uniform(0, 2 * math.pi)
    light = 1.0 + float(rng.uniform(0, 0.25)) * (xx * math.cos(angle) + yy * math.sin(angle))
    light -= float(rng.uniform(0, 0.3)) * (xx * xx + yy * yy) * 0.5   # vignette
    cast = rng.uniform(0.85, 1.15, (3, 1, 1)).astype(np.float32)
    img = img * light[None] * cast * float(rng.uniform(0.8, 1.2))
    if rng.random() < 0.25:
        img = blur(img, float(rng.uniform(0.4, 1.2)))
    np.clip(img, 0, 255, out=img)
    gamma = float(rng.uniform(0.8, 1.25))
    img = 255.0 * (img * (1.0 / 255.0)) ** gamma
    sigma = float(rng.uniform(0.5, 6.0))
    shade = 1.3 - img.mean(axis=0, keepdims=True) * (0.6 / 255.0)   # noisier shadows
    img += rng.standard_normal((1, h, w), dtype=np.float32) * (sigma * shade)
    img += rng.standard_normal((3, h, w), dtype=np.float32) * (sigma * 0.4)
    img += 0.5
    np.clip(img, 0, 255, out=img)
    rgb = Image.fromarray(np.ascontiguousarray(img.astype(np.uint8).transpose(1, 2, 0)))
    buf = io.BytesIO()
    rgb.save(buf, "JPEG", quality=int(rng.integers(55, 96)))
    return np.asarray(Image.open(io.BytesIO(buf.getvalue())).convert("RGB"))

"""Synthetic stand-ins for the published datasets, for tests and the demo.

Runbook
-------
    python -m pipelines.synthetic --output_dir DIR [--pairs 300] [--seed 0]

writes, byte-identical for the same `--pairs` and `--seed`:

- `DIR/P3M-10k.zip`: `P3M-10k/train/{blurred_image/*.jpg,mask/*.png}`,
  `P3M-10k/validation/P3M-500-P/{blurred_image,mask,trimap}/` and
  `P3M-10k/validation/P3M-500-NP/{original_image,mask,trimap}/`, with `__MACOSX/P3M-10k/...`
  AppleDouble junk beside the top folder. Masks are soft alpha 0..255; trimaps 0/128/255.
- `DIR/COD10K-v3.tar.gz`: `COD10K-v3/{Train,Test}/{Image,GT_Object,GT_Edge,GT_Instance}/` with
  `COD10K-CAM-...` images (binary 0/255 GT_Object, thin GT_Edge, GT_Instance ids 1..k) and
  `COD10K-NonCAM-...` images whose masks are all zero or missing; `__MACOSX/` junk too.
- `DIR/people_segmentation/`: `images/*.jpg`, `masks/*.png` (values 0/1) and
  `segmentation/{train,val}.txt` listing every image stem exactly once.
- `DIR/photos/`: 12 plain photos (JPEGs of 300..900 px, one PNG, one EXIF-rotated JPEG) to remove
  backgrounds from.

`--pairs` is split about 40% P3M, 35% COD, 25% people, with at least 3 images in every split
folder (5 where a split carries quirks), so small values give a few more than asked; on top come
the duplicated P3M image and three COD NonCAM images. The two folders are replaced on every run;
the archives are overwritten. Time: about 5 s for 300 pairs (one core of a small VM), about 1 s
for the 30 the tests use.

Every image is a scene of one to three shaded objects (ellipses, blobs, polygons; some furry) with
drop shadows on a textured background with clutter; the mask is the exact alpha the objects were
composited with, so ground truth and pixels agree. The datasets carry the quirks of the real ones
(EXIF-rotated, grayscale and CMYK JPEGs, a half-size mask, images with no mask, a truncated JPEG, a
zero-byte file, `.DS_Store`, `__MACOSX/`, one image duplicated across two splits); `write_all`
returns where each one is, so tests of the readers can assert on them.

Python API: `write_all(output_dir, pairs=300, seed=0) -> dict` and
`render_scene(rng, height, width) -> (rgb uint8 HxWx3, alpha uint8 HxW)`.
Pure Pillow + numpy; local paths only.
"""
from __future__ import annotations

import argparse
import gzip
import io
import math
import os
import shutil
import struct
import tarfile
import time
import zipfile
from typing import Callable

import numpy as np
from PIL import Image, ImageFilter

P3M_ROOT = "P3M-10k"
COD_ROOT = "COD10K-v3"
PEOPLE_ROOT = "people_segmentation"
PHOTOS_ROOT = "photos"

P3M_ARCHIVE = "P3M-10k.zip"
COD_ARCHIVE = "COD10K-v3.tar.gz"

QUIRK_KEYS = (
    "exif_rotated",        # JPEG with EXIF Orientation 6 or 8: stored sideways, mask is upright
    "grayscale",           # mode L JPEG
    "cmyk",                # mode CMYK JPEG
    "mask_size_differs",   # the MASK path: half the image's size
    "no_mask",             # image whose mask is missing (its split expects one)
    "noncam_empty_mask",   # COD NonCAM image whose GT files are all zero
    "noncam_no_mask",      # COD NonCAM image with no GT files at all
    "truncated",           # a valid JPEG cut in half (has a mask)
    "zero_byte",           # an empty image file (has a mask)
    "duplicate",           # the same image bytes (and mask) in two splits: both image paths
    "ds_store",            # .DS_Store files
    "macosx",              # __MACOSX/ AppleDouble files (not directory entries)
    "png",                 # a PNG among the JPEG photos
)

ORIENTATION_TAG = 0x0112
# Fixed member times, so archives are byte-identical run to run.
ZIP_DATE_TIME = (1980, 1, 1, 0, 0, 0)
TAR_MTIME = 0

COD_CAM_CLASSES = (
    "1-Aquatic-1-BatFish", "1-Aquatic-4-ClownFish", "1-Aquatic-5-Crab", "1-Aquatic-13-Octopus",
    "2-Terrestrial-23-Cat", "2-Terrestrial-24-Caterpillar", "2-Terrestrial-30-Frog",
    "3-Flying-53-Bird", "3-Flying-55-Butterfly", "3-Flying-60-Owl",
    "4-Amphibian-64-Lizard", "4-Amphibian-65-Snake", "5-Other-68-Human",
)
COD_NONCAM_CLASSES = ("5-Background-1-Sky", "5-Background-3-Grass", "5-Background-7-Forest")


# --------------------------------------------------------------------------------------------
# Scene rendering: vectorised numpy, channel-first (3, H, W) float32 in 0..255.
# Channel-first because numpy broadcasts a length-3 innermost axis very slowly; scalars are kept
# as Python floats because a numpy float64 scalar would promote every float32 array to float64.
# --------------------------------------------------------------------------------------------

_LUT_SIZE = 8192  # outline samples per turn: r(theta) is looked up, not evaluated per pixel
_LUT_THETA = np.linspace(-math.pi, math.pi, _LUT_SIZE, endpoint=False)


def _colour(rng: np.random.Generator, saturation: tuple[float, float] = (0.2, 0.9)) -> np.ndarray:
    """A random RGB colour from HSV: float32 0..255, shaped (3, 1, 1)."""
    h = rng.uniform(0.0, 6.0)
    s = rng.uniform(*saturation)
    v = rng.uniform(0.25, 0.95)
    x = 1.0 - abs(h % 2.0 - 1.0)
    rgb = np.array([(1, x, 0), (x, 1, 0), (0, 1, x), (0, x, 1), (x, 0, 1), (1, 0, x)][int(h) % 6])
    return (v * (1.0 - s + s * rgb) * 255.0).astype(np.float32).reshape(3, 1, 1)


def _smooth_noise(rng: np.random.Generator, h: int, w: int, cell: float,
                  octaves: int = 3) -> np.ndarray:
    """Fractal value noise, HxW float32 with roughly unit spread.

    The octaves (grids of `cell`, `cell`/2, ... pixels) are summed on the finest grid and
    upsampled once, bicubic: one full-size resize whatever the octave count."""
    cells = [max(cell / 2 ** i, 1.5) for i in range(octaves)]
    fine = (max(2, int(h / cells[-1]) + 2), max(2, int(w / cells[-1]) + 2))
    acc = np.zeros(fine, np.float32)
    amp, total = 1.0, 0.0
    for c in cells:
        grid = rng.standard_normal((max(2, int(h / c) + 2), max(2, int(w / c) + 2)),
                                   dtype=np.float32)
        if grid.shape != fine:
            grid = np.asarray(Image.fromarray(grid).resize(fine[::-1], Image.BICUBIC))
        acc += grid * amp
        total += amp
        amp *= 0.5
    acc *= 1.0 / total
    return np.asarray(Image.fromarray(acc).resize((w, h), Image.BICUBIC))


def _background(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    """Gradient + one texture (clouds, stripes, tiles, grain, blotches) + flat clutter."""
    yy = np.arange(h, dtype=np.float32)[:, None]
    xx = np.arange(w, dtype=np.float32)[None, :]
    angle = rng.uniform(0, 2 * math.pi)
    ca, sa = math.cos(angle), math.sin(angle)
    lo = min(0.0, (w - 1) * ca) + min(0.0, (h - 1) * sa)
    span = max(abs((w - 1) * ca) + abs((h - 1) * sa), 1.0)
    c1, c2 = _colour(rng, (0.0, 0.6)), _colour(rng, (0.0, 0.6))
    img = np.empty((3, h, w), np.float32)
    for c in range(3):  # c1 + (c2 - c1) * t, t the position along the gradient in 0..1
        d = float(c2[c, 0, 0] - c1[c, 0, 0]) / span
        np.add(xx * (d * ca) + float(c1[c, 0, 0]), yy * (d * sa) - d * lo, out=img[c])

    kind = int(rng.integers(0, 5))
    tint = rng.uniform(0.5, 1.0, (3, 1, 1)).astype(np.float32)
    if kind == 0:    # clouds
        tex = _smooth_noise(rng, h, w, rng.uniform(15, 80), 4) * rng.uniform(15, 40)
    elif kind == 1:  # warped stripes (fabric, wood)
        b = rng.uniform(0, math.pi)
        k = 2 * math.pi / rng.uniform(6, 40)
        tex = _smooth_noise(rng, h, w, rng.uniform(30, 120), 2) * rng.uniform(0, 6)
        tex += xx * (k * math.cos(b)) + yy * (k * math.sin(b))
        np.sin(tex, out=tex)
        tex *= rng.uniform(10, 35)
    elif kind == 2:  # tiles with grout
        size = rng.uniform(20, 70)
        tex = ((np.floor(xx / size) + np.floor(yy / size)) % 2) * rng.uniform(8, 30) - 10
        tex[np.minimum(xx % size, yy % size) < 2] = -40
    elif kind == 3:  # coarse grain (sand, concrete)
        tex = _smooth_noise(rng, h, w, rng.uniform(1.5, 4), 2) * rng.uniform(15, 30)
    else:            # blotches
        tex = np.tanh(_smooth_noise(rng, h, w, rng.uniform(20, 50), 3) * 3) * rng.uniform(15, 35)
    img += tex[None] * tint

    for _ in range(int(rng.integers(0, 6))):  # flat, semi-transparent lines, boxes, dots
        col = _colour(rng)
        cx, cy = rng.uniform(0, w), rng.uniform(0, h)
        b = rng.uniform(0, math.pi)
        shape = int(rng.integers(0, 3))
        if shape == 0:
            half_u, half_v = rng.uniform(30, max(31, w)), rng.uniform(1, 3)
        elif shape == 1:
            half_u, half_v = rng.uniform(8, 60), rng.uniform(8, 60)
        else:
            half_u = half_v = rng.uniform(3, 10)
        opacity = rng.uniform(0.25, 0.7)
        reach = half_u + half_v + 2
        x0, x1 = max(0, int(cx - reach)), min(w, int(cx + reach) + 1)
        y0, y1 = max(0, int(cy - reach)), min(h, int(cy + reach) + 1)
        if x1 <= x0 or y1 <= y0:
            continue
        px, py = xx[:, x0:x1] - cx, yy[y0:y1] - cy
        cb, sb = math.cos(b), math.sin(b)
        dist = np.maximum(np.abs(px * cb + py * sb) - half_u, np.abs(py * cb - px * sb) - half_v)
        a = np.clip(0.5 - dist, 0.0, 1.0) * opacity
        crop = img[:, y0:y1, x0:x1]
        crop += (col - crop) * a[None]
    return img


def _outline(rng: np.random.Generator, r0: float) -> np.ndarray:
    """A star-shaped outline r(theta) sampled on _LUT_THETA: ellipse, harmonic blob or polygon
    (straight edges), some with a fur fringe. float32, _LUT_SIZE values."""
    th = _LUT_THETA
    kind = int(rng.choice(3, p=[0.3, 0.45, 0.25]))
    rot = rng.uniform(0, 2 * math.pi)
    if kind == 0:
        a, b = r0, r0 * rng.uniform(0.45, 1.0)
        r = a * b / np.sqrt((b * np.cos(th - rot)) ** 2 + (a * np.sin(th - rot)) ** 2)
    elif kind == 1:
        r = np.ones_like(th)
        for k in range(2, 6):
            r += rng.uniform(0, 0.22) / math.sqrt(k) * np.cos(k * th + rng.uniform(0, 2 * math.pi))
        r *= r0
    else:
        n = int(rng.integers(3, 8))
        angles = (np.linspace(0, 2 * math.pi, n, endpoint=False) + rot
                  + rng.uniform(-0.25, 0.25, n))
        radii = r0 * rng.uniform(0.75, 1.15, n)
        ang = np.concatenate([angles, angles[:1] + 2 * math.pi])
        rad = np.concatenate([radii, radii[:1]])
        t = (th - angles[0]) % (2 * math.pi) + angles[0]
        i = np.clip(np.searchsorted(ang, t, side="right") - 1, 0, n - 1)
        a0, a1, ra, rb = ang[i], ang[i + 1], rad[i], rad[i + 1]
        r = ra * rb * np.sin(a1 - a0) / (ra * np.sin(t - a0) + rb * np.sin(a1 - t))
    if rng.random() < 0.25:  # fur / feathers
        fuzz = r0 * rng.uniform(0.02, 0.06)
        k1, k2 = int(rng.integers(40, 90)), int(rng.integers(90, 160))
        p1, p2 = rng.uniform(0, 2 * math.pi, 2)
        r = r + fuzz * (np.sin(k1 * th + p1) + 0.5 * np.sin(k2 * th + p2))
    return r.astype(np.float32)


def _shifted(a: np.ndarray, dx: int, dy: int) -> np.ndarray:
    """a moved by (dx, dy) pixels, zero filled."""
    out = np.zeros_like(a)
    h, w = a.shape
    out[max(dy, 0):h + min(dy, 0), max(dx, 0):w + min(dx, 0)] = \
        a[max(-dy, 0):h + min(-dy, 0), max(-dx, 0):w + min(-dx, 0)]
    return out


def _paint_object(rng: np.random.Generator, img: np.ndarray, alpha: np.ndarray,
                  instance: np.ndarray, ident: int, r0: float, camouflage: float) -> None:
    """Composites one shaded object with a drop shadow, in place, and accumulates its alpha."""
    _, h, w = img.shape
    lut = _outline(rng, r0)
    rmax = float(lut.max())
    cx, cy = rng.uniform(0.15, 0.85) * w, rng.uniform(0.15, 0.85) * h
    edge = rng.uniform(0.8, 3.5)                      # anti-aliased / soft edge width, px
    light = rng.uniform(0, 2 * math.pi)
    cl, sl = math.cos(light), math.sin(light)
    off = r0 * rng.uniform(0.04, 0.15)
    sx, sy = int(round(-cl * off)), int(round(-sl * off))
    soft = max(r0 * rng.uniform(0.04, 0.1), 1.0)

    margin = rmax + abs(sx) + abs(sy) + 3 * soft + edge + 2
    x0, x1 = max(0, int(cx - margin)), min(w, int(cx + margin) + 1)
    y0, y1 = max(0, int(cy - margin)), min(h, int(cy + margin) + 1)
    if x1 <= x0 or y1 <= y0:
        return
    dx = np.arange(x0, x1, dtype=np.float32)[None, :] - cx
    dy = np.arange(y0, y1, dtype=np.float32)[:, None] - cy
    rho = np.sqrt(dx * dx + dy * dy)
    turn = np.arctan2(dy, dx) * (_LUT_SIZE / (2 * math.pi)) + (_LUT_SIZE / 2 + 0.5)
    idx = turn.astype(np.int32)
    idx &= _LUT_SIZE - 1
    r = lut[idx]
    a = (r - rho) * (1.0 / edge) + 0.5
    np.clip(a, 0.0, 1.0, out=a)

    # Drop shadow: the coverage, blurred and offset away from the light; darkens what is behind.
    cover = Image.fromarray((a * 255.0).astype(np.uint8)).filter(ImageFilter.GaussianBlur(soft))
    shadow = _shifted(np.asarray(cover, np.float32), sx, sy)
    shadow *= -rng.uniform(0.25, 0.55) / 255.0
    shadow += 1.0
    crop = img[:, y0:y1, x0:x1]
    crop *= shadow[None]

    # Shaded body, only where the object covers: lit side brighter, rim darker, textured.
    rows, cols = np.flatnonzero(a.any(axis=1)), np.flatnonzero(a.any(axis=0))
    if rows.size == 0:
        return
    inner = (slice(int(rows[0]), int(rows[-1]) + 1), slice(int(cols[0]), int(cols[-1]) + 1))
    dx, dy = dx[:, inner[1]], dy[inner[0], :]
    rho, r, a, crop = rho[inner], r[inner], a[inner], crop[(slice(None),) + inner]
    inv_r = 1.0 / np.maximum(r, 1.0)
    shade = (dx * cl + dy * sl) * inv_r * rng.uniform(0.15, 0.4) + 1.0
    rn = rho * inv_r
    shade -= rn * rn * rng.uniform(0.1, 0.35)
    fg = _colour(rng, (0.35, 1.0)) * shade[None]
    ch, cw = a.shape
    surface = int(rng.integers(0, 3))
    if surface == 0:    # spots
        spots = np.clip(_smooth_noise(rng, ch, cw, rng.uniform(6, 20), 2) * 2 - 1, 0, 1) * 0.8
        fg += (_colour(rng) - fg) * spots[None]
    elif surface == 1:  # bands
        b = rng.uniform(0, math.pi)
        k = 1.0 / rng.uniform(4, 15)
        fg += np.sin(dx * (k * math.cos(b)) + dy * (k * math.sin(b)))[None] * rng.uniform(10, 35)
    else:               # fine surface noise
        fg += _smooth_noise(rng, ch, cw, rng.uniform(2, 6), 2)[None] * rng.uniform(5, 15)
    if camouflage > 0:  # pull the body towards what lies behind it (COD-style scenes)
        fg += (crop - fg) * camouflage

    crop += (fg - crop) * a[None]
    oy, ox = y0 + inner[0].start, x0 + inner[1].start
    a_crop = alpha[oy:oy + ch, ox:ox + cw]
    a_crop += (1.0 - a_crop) * a                      # "over": 1 - (1 - A)(1 - a)
    ids = instance[oy:oy + ch, ox:ox + cw]
    ids[(a >= 0.5) | ((ids == 0) & (a > 0))] = ident  # mostly this object's, or no one else's


def _render(rng: np.random.Generator, height: int, width: int, camouflage: float = 0.0,
            objects: int | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """rgb uint8 HxWx3, alpha uint8 HxW, instance ids uint8 HxW (0 = background)."""
    img = _background(rng, height, width)
    alpha = np.zeros((height, width), np.float32)
    instance = np.zeros((height, width), np.uint8)
    if objects is None:
        objects = int(rng.choice([1, 2, 3], p=[0.55, 0.3, 0.15]))
    short = min(height, width)
    for ident in range(1, objects + 1):
        scale = (0.2, 0.38) if objects == 1 else (0.1, 0.26)
        _paint_object(rng, img, alpha, instance, ident, rng.uniform(*scale) * short, camouflage)
    img += rng.standard_normal((1, height, width), dtype=np.float32) * rng.uniform(1.0, 3.5)
    img += 0.5
    np.clip(img, 0, 255, out=img)
    rgb = np.ascontiguousarray(img.astype(np.uint8).transpose(1, 2, 0))
    alpha *= 255.0
    alpha += 0.5
    return rgb, alpha.astype(np.uint8), instance


def render_scene(rng: np.random.Generator, height: int, width: int, *, camouflage: float = 0.0,
                 objects: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """One scene: (rgb uint8 HxWx3, alpha uint8 HxW), alpha being the objects' exact coverage.

    `objects` None draws 1..3 objects; 0 gives background only (alpha all zero). `camouflage` in
    [0, 1) blends the objects towards the background behind them.
    """
    rgb, alpha, _ = _render(rng, height, width, camouflage, objects)
    return rgb, alpha


# --------------------------------------------------------------------------------------------
# Encoding
# --------------------------------------------------------------------------------------------

def _jpeg(img: Image.Image, orientation: int | None = None) -> bytes:
    buf = io.BytesIO()
    kwargs = {}
    if orientation is not None:
        exif = Image.Exif()
        exif[ORIENTATION_TAG] = orientation
        kwargs["exif"] = exif
    img.save(buf, "JPEG", quality=90, **kwargs)
    return buf.getvalue()


def _png(array: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(array).save(buf, "PNG", compress_level=3)
    return buf.getvalue()


def _sideways(rgb: np.ndarray, orientation: int) -> Image.Image:
    """The stored pixels of an upright image whose EXIF says `orientation` (6 or 8).

    exif_transpose applies ROTATE_270 for 6 and ROTATE_90 for 8, so store the inverse."""
    rotate = {6: Image.Transpose.ROTATE_90, 8: Image.Transpose.ROTATE_270}[orientation]
    return Image.fromarray(rgb).transpose(rotate)


def _half(mask: np.ndarray) -> np.ndarray:
    h, w = mask.shape
    return np.asarray(Image.fromarray(mask).resize((max(1, w // 2), max(1, h // 2)),
                                                   Image.BILINEAR))


def _trimap(alpha: np.ndarray) -> np.ndarray:
    """0 background, 255 foreground, 128 on every partial-alpha pixel and a band along the edge."""
    solid = np.where(alpha >= 128, 255, 0).astype(np.uint8)
    blurred = np.asarray(Image.fromarray(solid).filter(ImageFilter.BoxBlur(4)))
    trimap = solid.copy()
    trimap[((blurred > 0) & (blurred < 255)) | ((alpha > 0) & (alpha < 255))] = 128
    return trimap


def _edge(binary: np.ndarray) -> np.ndarray:
    """The inner boundary of a 0/255 mask (foreground pixels with a 4-neighbour outside), 0/255."""
    fg = binary > 0
    inner = fg.copy()
    inner[1:, :] &= fg[:-1, :]
    inner[:-1, :] &= fg[1:, :]
    inner[:, 1:] &= fg[:, :-1]
    inner[:, :-1] &= fg[:, 1:]
    return np.where(fg & ~inner, 255, 0).astype(np.uint8)


_DS_STORE = b"\x00\x00\x00\x01Bud1" + bytes(2036)


def _apple_double(name: str) -> bytes:
    """A minimal AppleDouble header, what macOS writes as `__MACOSX/.../._name`."""
    header = struct.pack(">II16sH", 0x00051607, 0x00020000, b"Mac OS X        ", 1)
    entry = struct.pack(">III", 9, 38, 32)  # Finder info
    return header + entry + name.encode()[:8].ljust(32, b"\x00")


# --------------------------------------------------------------------------------------------
# Containers
# --------------------------------------------------------------------------------------------

def _with_dirs(files: list[tuple[str, bytes]]) -> list[tuple[str, bytes | None]]:
    """Files preceded by their directory entries (as archivers write them), in first-seen order."""
    out: list[tuple[str, bytes | None]] = []
    seen: set[str] = set()
    for name, data in files:
        parts = name.split("/")[:-1]
        for i in range(1, len(parts) + 1):
            d = "/".join(parts[:i]) + "/"
            if d not in seen:
                seen.add(d)
                out.append((d, None))
        out.append((name, data))
    return out


def _write_zip(path: str, files: list[tuple[str, bytes]]) -> None:
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in _with_dirs(files):
            info = zipfile.ZipInfo(name, date_time=ZIP_DATE_TIME)
            info.create_system = 3
            if data is None:
                info.external_attr = (0o40755 << 16) | 0x10
                zf.writestr(info, b"")
            else:
                info.external_attr = 0o100644 << 16
                info.compress_type = zipfile.ZIP_DEFLATED
                zf.writestr(info, data)


def _write_tar_gz(path: str, files: list[tuple[str, bytes]]) -> None:
    with open(path, "wb") as raw, \
            gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0, compresslevel=6) as gz, \
            tarfile.open(fileobj=gz, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, data in _with_dirs(files):
            info = tarfile.TarInfo(name.rstrip("/"))
            info.mtime = TAR_MTIME
            info.uid = info.gid = 0
            info.uname = info.gname = ""
            if data is None:
                info.type = tarfile.DIRTYPE
                info.mode = 0o755
                tar.addfile(info)
            else:
                info.mode = 0o644
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))


def _write_folder(output_dir: str, files: list[tuple[str, bytes]]) -> None:
    for name, data in files:
        path = os.path.join(output_dir, *name.split("/"))
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb") as f:
            f.write(data)


def _add_macosx(files: list[tuple[str, bytes]], per_folder: int = 2) -> list[str]:
    """Appends `__MACOSX/<dir>/._<name>` for the first few files of each folder."""
    junk: list[str] = []
    taken: dict[str, int] = {}
    for name, _ in list(files):
        folder, base = name.rsplit("/", 1)
        if taken.get(folder, 0) >= per_folder:
            continue
        taken[folder] = taken.get(folder, 0) + 1
        junk_name = f"__MACOSX/{folder}/._{base}"
        files.append((junk_name, _apple_double(base)))
        junk.append(junk_name)
    return junk


# --------------------------------------------------------------------------------------------
# Datasets
# --------------------------------------------------------------------------------------------

def split_counts(pairs: int) -> dict[str, dict[str, int]]:
    """How many images each split folder gets for `pairs` (about 40% / 35% / 25%)."""
    p3m = round(0.40 * pairs)
    cod = round(0.35 * pairs)
    people = pairs - p3m - cod
    p3m_p, p3m_np = max(3, p3m * 15 // 100), max(3, p3m * 15 // 100)
    cod_test = max(5, cod * 40 // 100)
    people_val = max(3, people // 5)
    return {
        "p3m10k": {"train": max(5, p3m - p3m_p - p3m_np), "P3M-500-P": p3m_p, "P3M-500-NP": p3m_np},
        "cod10k": {"Train": max(5, cod - cod_test), "Test": cod_test},
        "people_seg": {"train": max(5, people - people_val), "val": people_val},
    }


def _size(rng: np.random.Generator, lo: int, hi: int) -> tuple[int, int]:
    """A non-square (height, width) in [lo, hi]."""
    while True:
        h, w = int(rng.integers(lo, hi + 1)), int(rng.integers(lo, hi + 1))
        if abs(h - w) >= 16:
            return h, w


def _names(rng: np.random.Generator, n: int, make: Callable[[np.random.Generator], str],
           used: set[str]) -> list[str]:
    out = []
    while len(out) < n:
        name = make(rng)
        if name not in used:
            used.add(name)
            out.append(name)
    return out


Files = list[tuple[str, bytes]]  # (path starting with the dataset's top folder, content)
Quirks = dict[str, list[str]]


def _p3m(seed: int, counts: dict[str, int], quirks: Quirks) -> Files:
    rng = np.random.default_rng([seed, 1])
    used: set[str] = set()
    hexname = lambda r: "%08x" % int(r.integers(0, 2 ** 32))  # noqa: E731
    files: list[tuple[str, bytes]] = []
    train_pairs: list[tuple[str, bytes, bytes]] = []
    layout = [
        ("train", "train", "blurred_image", "p_", False),
        ("P3M-500-P", "validation/P3M-500-P", "blurred_image", "p_", True),
        ("P3M-500-NP", "validation/P3M-500-NP", "original_image", "p_np_", True),
    ]
    for split, folder, image_dir, prefix, with_trimap in layout:
        base = f"{P3M_ROOT}/{folder}"
        for i, stem in enumerate(_names(rng, counts[split], lambda r: prefix + hexname(r), used)):
            h, w = _size(rng, 240, 640)
            rgb, alpha, _ = _render(rng, h, w)
            image_path = f"{base}/{image_dir}/{stem}.jpg"
            mask = alpha
            if split == "train" and i == 0:
                image = _jpeg(_sideways(rgb, 6), orientation=6)
                quirks["exif_rotated"].append(image_path)
            elif split == "P3M-500-NP" and i == 0:
                image = _jpeg(Image.fromarray(rgb).convert("L"))
                quirks["grayscale"].append(image_path)
            else:
                image = _jpeg(Image.fromarray(rgb))
            if split == "train" and i == 1:
                mask = _half(alpha)
                quirks["mask_size_differs"].append(f"{base}/mask/{stem}.png")
            files.append((image_path, image))
            mask_png = _png(mask)
            files.append((f"{base}/mask/{stem}.png", mask_png))
            if with_trimap:
                files.append((f"{base}/trimap/{stem}.png", _png(_trimap(alpha))))
            if split == "train":
                train_pairs.append((stem, image, mask_png))
            if split == "P3M-500-P" and i == 0:
                # The same photo published twice: a train pair reappears in P3M-500-P.
                dup_stem, dup_image, dup_mask = train_pairs[2]
                src = f"{P3M_ROOT}/train/blurred_image/{dup_stem}.jpg"
                dst = f"{base}/blurred_image/{dup_stem}.jpg"
                files.append((dst, dup_image))
                files.append((f"{base}/mask/{dup_stem}.png", dup_mask))
                dup_alpha = np.asarray(Image.open(io.BytesIO(dup_mask)))
                files.append((f"{base}/trimap/{dup_stem}.png", _png(_trimap(dup_alpha))))
                quirks["duplicate"] += [src, dst]
    for ds in (f"{P3M_ROOT}/train/.DS_Store", f"{P3M_ROOT}/train/blurred_image/.DS_Store"):
        files.append((ds, _DS_STORE))
        quirks["ds_store"].append(ds)
    quirks["macosx"] += _add_macosx(files)
    return files


def _cod(seed: int, counts: dict[str, int], quirks: Quirks) -> Files:
    rng = np.random.default_rng([seed, 2])
    files: list[tuple[str, bytes]] = []
    index = 0
    for split in ("Train", "Test"):
        base = f"{COD_ROOT}/{split}"
        n = counts[split]
        # (stem, is_cam); NonCAM: one with all-zero GT (Train and Test), one with none (Train).
        items = []
        for i in range(n):
            index += 1
            cls = COD_CAM_CLASSES[int(rng.integers(0, len(COD_CAM_CLASSES)))]
            items.append((f"COD10K-CAM-{cls}-{index}", "cam"))
        noncam = ["empty", "missing"] if split == "Train" else ["empty"]
        for kind in noncam:
            index += 1
            cls = COD_NONCAM_CLASSES[int(rng.integers(0, len(COD_NONCAM_CLASSES)))]
            items.append((f"COD10K-NonCAM-{cls}-{index}", kind))
        for i, (stem, kind) in enumerate(items):
            h, w = _size(rng, 240, 640)
            rgb, alpha, inst = _render(rng, h, w, camouflage=rng.uniform(0.2, 0.5),
                                       objects=None if kind == "cam" else 0)
            binary = np.where(alpha >= 128, 255, 0).astype(np.uint8)
            image_path = f"{base}/Image/{stem}.jpg"
            image = _jpeg(Image.fromarray(rgb))
            if kind == "cam" and i == 0 and split == "Train":
                image = _jpeg(Image.fromarray(rgb).convert("CMYK"))
                quirks["cmyk"].append(image_path)
            if kind == "cam" and i == 0 and split == "Test":
                image = image[: len(image) // 2]
                quirks["truncated"].append(image_path)
            files.append((image_path, image))
            if kind == "missing":
                quirks["noncam_no_mask"].append(image_path)
                continue
            if kind == "empty":
                quirks["noncam_empty_mask"].append(image_path)
            files.append((f"{base}/GT_Object/{stem}.png", _png(binary)))
            files.append((f"{base}/GT_Edge/{stem}.png", _png(_edge(binary))))
            files.append((f"{base}/GT_Instance/{stem}.png", _png(np.where(binary > 0, inst, 0)
                                                                .astype(np.uint8))))
    for ds in (f"{COD_ROOT}/.DS_Store", f"{COD_ROOT}/Train/Image/.DS_Store"):
        files.append((ds, _DS_STORE))
        quirks["ds_store"].append(ds)
    quirks["macosx"] += _add_macosx(files)
    return files


def _people(seed: int, counts: dict[str, int], quirks: Quirks) -> Files:
    rng = np.random.default_rng([seed, 3])
    used: set[str] = set()
    files: list[tuple[str, bytes]] = []
    lists: dict[str, list[str]] = {"train": [], "val": []}
    stems = _names(rng, counts["train"] + counts["val"],
                   lambda r: "pexels-photo-%07d" % int(r.integers(0, 10 ** 7)), used)
    splits = ["train"] * counts["train"] + ["val"] * counts["val"]
    order = rng.permutation(len(stems))  # the lists are not grouped by split on disk
    for j in order:
        stem, split = stems[j], splits[j]
        lists[split].append(stem)
    first = {s: lists[s][0] for s in lists}
    second_train = lists["train"][1]
    for stem, split in zip(stems, splits):
        h, w = _size(rng, 240, 640)
        rgb, alpha, _ = _render(rng, h, w)
        image_path = f"{PEOPLE_ROOT}/images/{stem}.jpg"
        if stem == first["train"]:
            files.append((image_path, b""))
            quirks["zero_byte"].append(image_path)
        elif stem == first["val"]:
            files.append((image_path, _jpeg(_sideways(rgb, 8), orientation=8)))
            quirks["exif_rotated"].append(image_path)
        else:
            files.append((image_path, _jpeg(Image.fromarray(rgb))))
        if stem == second_train:
            quirks["no_mask"].append(image_path)
            continue
        files.append((f"{PEOPLE_ROOT}/masks/{stem}.png", _png((alpha >= 128).astype(np.uint8))))
    for split in ("train", "val"):
        text = "".join(s + "\n" for s in lists[split]).encode()
        files.append((f"{PEOPLE_ROOT}/segmentation/{split}.txt", text))
    ds = f"{PEOPLE_ROOT}/images/.DS_Store"
    files.append((ds, _DS_STORE))
    quirks["ds_store"].append(ds)
    return files


PHOTO_COUNT = 12


def _photos(seed: int, quirks: Quirks) -> Files:
    rng = np.random.default_rng([seed, 4])
    files: list[tuple[str, bytes]] = []
    for i in range(1, PHOTO_COUNT + 1):
        h, w = _size(rng, 300, 900)
        rgb, _ = render_scene(rng, h, w)
        if i == 4:
            path = f"{PHOTOS_ROOT}/IMG_{i:04d}.png"
            buf = io.BytesIO()
            Image.fromarray(rgb).save(buf, "PNG")
            files.append((path, buf.getvalue()))
            quirks["png"].append(path)
        elif i == 7:
            path = f"{PHOTOS_ROOT}/IMG_{i:04d}.jpg"
            files.append((path, _jpeg(_sideways(rgb, 6), orientation=6)))
            quirks["exif_rotated"].append(path)
        else:
            files.append((f"{PHOTOS_ROOT}/IMG_{i:04d}.jpg", _jpeg(Image.fromarray(rgb))))
    ds = f"{PHOTOS_ROOT}/.DS_Store"
    files.append((ds, _DS_STORE))
    quirks["ds_store"].append(ds)
    return files


def write_all(output_dir: str, pairs: int = 300, seed: int = 0) -> dict:
    """Writes the three datasets and the photos folder under `output_dir` (see the runbook).

    Returns {"p3m10k": zip path, "cod10k": tar.gz path, "people_seg": folder, "photos": folder,
    "counts": {source: {split folder: image files written, quirky ones included}, "photos": n},
    "quirks": {key: [path, ...]}} for the keys in QUIRK_KEYS. A quirk path starts with its
    dataset's top folder (`P3M-10k/...`, `COD10K-v3/...` as archive member names;
    `people_segmentation/...`, `photos/...` relative to `output_dir`).
    """
    if pairs < 1:
        raise ValueError(f"pairs must be positive, got {pairs}")
    os.makedirs(output_dir, exist_ok=True)
    counts = split_counts(pairs)
    quirks: dict[str, list[str]] = {k: [] for k in QUIRK_KEYS}

    p3m_zip = os.path.join(output_dir, P3M_ARCHIVE)
    _write_zip(p3m_zip, _p3m(seed, counts["p3m10k"], quirks))
    cod_tar = os.path.join(output_dir, COD_ARCHIVE)
    _write_tar_gz(cod_tar, _cod(seed, counts["cod10k"], quirks))
    folders = {}
    for key, root, files in (
            ("people_seg", PEOPLE_ROOT, _people(seed, counts["people_seg"], quirks)),
            ("photos", PHOTOS_ROOT, _photos(seed, quirks))):
        folders[key] = os.path.join(output_dir, root)
        shutil.rmtree(folders[key], ignore_errors=True)  # never mix two runs' files
        _write_folder(output_dir, files)

    counts["p3m10k"]["P3M-500-P"] += 1          # the duplicated train image
    counts["cod10k"]["Train"] += 2              # NonCAM: one empty mask, one without
    counts["cod10k"]["Test"] += 1               # NonCAM with an empty mask
    counts["photos"] = PHOTO_COUNT
    return {"p3m10k": p3m_zip, "cod10k": cod_tar, **folders, "counts": counts, "quirks": quirks}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--output_dir", required=True)
    parser.add_argument("--pairs", type=int, default=300)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    start = time.perf_counter()
    written = write_all(args.output_dir, pairs=args.pairs, seed=args.seed)
    print(f"wrote {written['p3m10k']}, {written['cod10k']}, {written['people_seg']}, "
          f"{written['photos']} in {time.perf_counter() - start:.1f}s")


if __name__ == "__main__":
    main()

"""Easy scenes: one to three shaded objects (ellipses, blobs, polygons; some furry) with drop
shadows on a textured background with clutter; the alpha is the exact coverage the objects were
composited with, so ground truth and pixels agree. The demo and most tests use these.

Vectorised numpy, channel-first (3, H, W) float32 in 0..255 while painting. Channel-first because
numpy broadcasts a length-3 innermost axis very slowly; scalars are kept as Python floats because
a numpy float64 scalar would promote every float32 array to float64.

The same seed gives byte-identical scenes: the order of the random draws is part of the contract
(the demo's and the tests' data depend on it), so change it only on purpose.
"""
from __future__ import annotations

import math

import numpy as np
from PIL import Image, ImageFilter

_LUT_SIZE = 8192  # outline samples per turn: r(theta) is looked up, not evaluated per pixel
_LUT_THETA = np.linspace(-math.pi, math.pi, _LUT_SIZE, endpoint=False)


def random_colour(rng: np.random.Generator,
                  saturation: tuple[float, float] = (0.2, 0.9)) -> np.ndarray:
    """A random RGB colour from HSV: float32 0..255, shaped (3, 1, 1)."""
    h = rng.uniform(0.0, 6.0)
    s = rng.uniform(*saturation)
    v = rng.uniform(0.25, 0.95)
    x = 1.0 - abs(h % 2.0 - 1.0)
    rgb = np.array([(1, x, 0), (x, 1, 0), (0, 1, x), (0, x, 1), (x, 0, 1), (1, 0, x)][int(h) % 6])
    return (v * (1.0 - s + s * rgb) * 255.0).astype(np.float32).reshape(3, 1, 1)


def smooth_noise(rng: np.random.Generator, h: int, w: int, cell: float,
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
    c1, c2 = random_colour(rng, (0.0, 0.6)), random_colour(rng, (0.0, 0.6))
    img = np.empty((3, h, w), np.float32)
    for c in range(3):  # c1 + (c2 - c1) * t, t the position along the gradient in 0..1
        d = float(c2[c, 0, 0] - c1[c, 0, 0]) / span
        np.add(xx * (d * ca) + float(c1[c, 0, 0]), yy * (d * sa) - d * lo, out=img[c])

    kind = int(rng.integers(0, 5))
    tint = rng.uniform(0.5, 1.0, (3, 1, 1)).astype(np.float32)
    if kind == 0:    # clouds
        tex = smooth_noise(rng, h, w, rng.uniform(15, 80), 4) * rng.uniform(15, 40)
    elif kind == 1:  # warped stripes (fabric, wood)
        b = rng.uniform(0, math.pi)
        k = 2 * math.pi / rng.uniform(6, 40)
        tex = smooth_noise(rng, h, w, rng.uniform(30, 120), 2) * rng.uniform(0, 6)
        tex += xx * (k * math.cos(b)) + yy * (k * math.sin(b))
        np.sin(tex, out=tex)
        tex *= rng.uniform(10, 35)
    elif kind == 2:  # tiles with grout
        size = rng.uniform(20, 70)
        tex = ((np.floor(xx / size) + np.floor(yy / size)) % 2) * rng.uniform(8, 30) - 10
        tex[np.minimum(xx % size, yy % size) < 2] = -40
    elif kind == 3:  # coarse grain (sand, concrete)
        tex = smooth_noise(rng, h, w, rng.uniform(1.5, 4), 2) * rng.uniform(15, 30)
    else:            # blotches
        tex = np.tanh(smooth_noise(rng, h, w, rng.uniform(20, 50), 3) * 3) * rng.uniform(15, 35)
    img += tex[None] * tint

    for _ in range(int(rng.integers(0, 6))):  # flat, semi-transparent lines, boxes, dots
        col = random_colour(rng)
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


def shifted(a: np.ndarray, dx: int, dy: int) -> np.ndarray:
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
    shadow = shifted(np.asarray(cover, np.float32), sx, sy)
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
    fg = random_colour(rng, (0.35, 1.0)) * shade[None]
    ch, cw = a.shape
    surface = int(rng.integers(0, 3))
    if surface == 0:    # spots
        spots = np.clip(smooth_noise(rng, ch, cw, rng.uniform(6, 20), 2) * 2 - 1, 0, 1) * 0.8
        fg += (random_colour(rng) - fg) * spots[None]
    elif surface == 1:  # bands
        b = rng.uniform(0, math.pi)
        k = 1.0 / rng.uniform(4, 15)
        fg += np.sin(dx * (k * math.cos(b)) + dy * (k * math.sin(b)))[None] * rng.uniform(10, 35)
    else:               # fine surface noise
        fg += smooth_noise(rng, ch, cw, rng.uniform(2, 6), 2)[None] * rng.uniform(5, 15)
    if camouflage > 0:  # pull the body towards what lies behind it (COD-style scenes)
        fg += (crop - fg) * camouflage

    crop += (fg - crop) * a[None]
    oy, ox = y0 + inner[0].start, x0 + inner[1].start
    a_crop = alpha[oy:oy + ch, ox:ox + cw]
    a_crop += (1.0 - a_crop) * a                      # "over": 1 - (1 - A)(1 - a)
    ids = instance[oy:oy + ch, ox:ox + cw]
    ids[(a >= 0.5) | ((ids == 0) & (a > 0))] = ident  # mostly this object's, or no one else's


def render_objects(rng: np.random.Generator, height: int, width: int, camouflage: float = 0.0,
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
    rgb, alpha, _ = render_objects(rng, height, width, camouflage, objects)
    return rgb, alpha


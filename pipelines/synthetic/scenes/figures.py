"""Person figures as signed distance fields: where a head, neck, torso, arms and legs are, for a
drawn pose and framing, and the fields that say how far each pixel lies outside each body part.

A figure is built in its own frame, in head heights (`u`), y pointing down, origin at the top of the
head; it is then scaled to pixels, leaned and placed. Each part is a tapered capsule, an ellipse or
a convex quadrilateral; a body layer (torso, arms, ...) is the union (minimum) of its parts' fields,
evaluated only on the parts' bounding boxes, which keeps a 640x480 scene to a few milliseconds.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

FAR = np.float32(1e4)  # "outside everything" in a field

Point = tuple[float, float]
# A part: (points it spans, reach beyond them in px, field on a (rows, cols) grid of pixel centres)
Part = tuple[list[Point], float, Callable[[np.ndarray, np.ndarray], np.ndarray]]

# Arm poses: (weight, upper arm angle from straight down, outward positive, in degrees; elbow bend)
ARM_POSES = {
    "down": (0.32, (3, 18), (0, 25)),
    "on_hip": (0.14, (30, 50), (-120, -95)),
    "crossed": (0.14, (5, 20), (-150, -120)),
    "holding": (0.16, (10, 30), (-85, -60)),
    "waving": (0.12, (60, 100), (40, 100)),
    "raised": (0.12, (110, 165), (-30, 30)),
}
FRAMINGS = {  # weight, head height as a share of the image height, top of the head likewise
    "headshot": (0.35, (0.2, 0.34), (-0.06, 0.2)),
    "half_body": (0.4, (0.11, 0.19), (0.02, 0.2)),
    "full_body": (0.25, (0.07, 0.105), (0.02, 0.15)),
}


def capsule(a: Point, b: Point, ra: float, rb: float) -> Part:
    """A segment a-b thickened by a radius going from ra to rb (limbs, neck, torso sides)."""
    ax, ay = a
    bax, bay = b[0] - ax, b[1] - ay
    inv = 1.0 / max(bax * bax + bay * bay, 1e-6)

    def sdf(xx: np.ndarray, yy: np.ndarray) -> np.ndarray:
        px, py = xx - ax, yy - ay
        t = np.clip((px * bax + py * bay) * inv, 0.0, 1.0)
        px = px - t * bax
        py = py - t * bay
        return np.sqrt(px * px + py * py) - (ra + (rb - ra) * t)
    return [a, b], max(ra, rb) + 2, sdf


def ellipse(c: Point, rx: float, ry: float, angle: float = 0.0) -> Part:
    """An ellipse about c, its x radius turned by `angle` (radians). The field is the scaled
    radial one: exact on the outline's axes, close enough for a one-pixel edge elsewhere."""
    cx, cy = c
    ca, sa = math.cos(angle), math.sin(angle)
    scale = min(rx, ry)

    def sdf(xx: np.ndarray, yy: np.ndarray) -> np.ndarray:
        px, py = xx - cx, yy - cy
        u = (px * ca + py * sa) * (1.0 / rx)
        v = (py * ca - px * sa) * (1.0 / ry)
        return (np.sqrt(u * u + v * v) - 1.0) * scale
    return [c], max(rx, ry) + 2, sdf


def quad(points: list[Point]) -> Part:
    """A convex quadrilateral, corners in clockwise order on screen (y down)."""
    edges = []
    for (x0, y0), (x1, y1) in zip(points, points[1:] + points[:1]):
        nx, ny = y1 - y0, -(x1 - x0)  # outward normal for clockwise corners with y down
        norm = 1.0 / max(math.hypot(nx, ny), 1e-6)
        edges.append((nx * norm, ny * norm, x0, y0))

    def sdf(xx: np.ndarray, yy: np.ndarray) -> np.ndarray:
        out = None
        for nx, ny, x0, y0 in edges:
            d = (xx - x0) * nx + (yy - y0) * ny
            out = d if out is None else np.maximum(out, d)
        return out
    return list(points), 2, sdf


def layer_field(parts: list[Part], height: int, width: int
                ) -> tuple[tuple[slice, slice], np.ndarray] | None:
    """The union of the parts' fields on the bounding box of their reaches (clipped to the
    image): (the box as slices of the image, field), or None when nothing is in the image."""
    boxes = []
    for points, reach, _ in parts:
        xs, ys = [p[0] for p in points], [p[1] for p in points]
        boxes.append((max(0, int(min(xs) - reach)), max(0, int(min(ys) - reach)),
                      min(width, int(max(xs) + reach) + 2), min(height, int(max(ys) + reach) + 2)))
    x0, y0 = min(b[0] for b in boxes), min(b[1] for b in boxes)
    x1, y1 = max(b[2] for b in boxes), max(b[3] for b in boxes)
    if x1 <= x0 or y1 <= y0:
        return None
    out = np.full((y1 - y0, x1 - x0), FAR, np.float32)
    for (bx0, by0, bx1, by1), (_, _, sdf) in zip(boxes, parts):
        if bx1 <= bx0 or by1 <= by0:
            continue
        xx = np.arange(bx0, bx1, dtype=np.float32)[None, :] + 0.5
        yy = np.arange(by0, by1, dtype=np.float32)[:, None] + 0.5
        view = out[by0 - y0:by1 - y0, bx0 - x0:bx1 - x0]
        np.minimum(view, sdf(xx, yy), out=view)
    return (slice(y0, y1), slice(x0, x1)), out


@dataclass
class Figure:
    """One person's parts in image pixels, grouped by what covers them, back to front."""
    u: float                       # head height in px
    head: Point                    # head centre
    head_radii: tuple[float, float]
    head_angle: float              # radians, the head's tilt (lean included)
    facing_away: bool
    hair_style: str                # short | long | bun | bald
    legs: list[Part] = field(default_factory=list)
    skirt: list[Part] = field(default_factory=list)
    torso: list[Part] = field(default_factory=list)
    neck: list[Part] = field(default_factory=list)
    sleeves: list[Part] = field(default_factory=list)
    skin_limbs: list[Part] = field(default_factory=list)
    shoes: list[Part] = field(default_factory=list)
    head_parts: list[Part] = field(default_factory=list)
    centre_x: float = 0.0          # the body's midline at the shoulders, px
    lean: float = 0.0


def _choose(rng: np.random.Generator, table: dict) -> str:
    names = list(table)
    weights = np.array([table[n][0] for n in names], np.float64)
    return names[int(rng.choice(len(names), p=weights / weights.sum()))]


def draw_figure(rng: np.random.Generator, height: int, width: int, framing: str | None = None,
                scale: float = 1.0) -> Figure:
    """A person in a drawn framing (headshot, half body, full body) and pose, placed in an image of
    height x width: often cut by the bottom edge, sometimes by a side or the top.
    `scale` < 1 makes a smaller person (further away)."""
    framing = framing or _choose(rng, FRAMINGS)
    _, size_range, top_range = FRAMINGS[framing]
    u = rng.uniform(*size_range) * height * scale
    top = rng.uniform(*top_range) * height
    if rng.random() < 0.2:   # touching or cut by a side of the frame
        cx = rng.choice([rng.uniform(-0.05, 0.1), rng.uniform(0.9, 1.05)]) * width
    else:
        cx = rng.uniform(0.15, 0.85) * width
    lean = math.radians(rng.uniform(-8, 8))
    cl, sl = math.cos(lean), math.sin(lean)

    def at(x: float, y: float) -> Point:   # figure frame (head heights) -> image pixels
        return (cx + u * (x * cl - y * sl), top + u * (x * sl + y * cl))

    shoulder = rng.uniform(0.85, 1.1)      # half widths, head heights
    hip = rng.uniform(0.6, 0.85)
    hip_y = rng.uniform(3.3, 3.6)
    head_w = rng.uniform(0.37, 0.43)
    fig = Figure(u=u, head=at(0, 0.5), head_radii=(head_w * u, rng.uniform(0.5, 0.55) * u),
                 head_angle=lean + math.radians(rng.uniform(-10, 10)),
                 facing_away=bool(rng.random() < 0.15),
                 hair_style=_choose(rng, {"short": (0.4,), "long": (0.4,), "bun": (0.12,),
                                          "bald": (0.08,)}),
                 centre_x=cx, lean=lean)
    fig.head_parts = [ellipse(fig.head, *fig.head_radii, fig.head_angle)]
    for side in (-1, 1):   # ears
        fig.head_parts.append(ellipse(at(side * head_w * 0.97, 0.55), 0.07 * u, 0.12 * u))
    fig.neck = [capsule(at(0, 0.8), at(0, 1.35), 0.17 * u, 0.27 * u)]
    top_y = 1.25
    fig.torso = [
        quad([at(-shoulder + 0.15, top_y), at(shoulder - 0.15, top_y), at(hip, hip_y),
              at(-hip, hip_y)]),
        capsule(at(-shoulder + 0.2, 1.5), at(shoulder - 0.2, 1.5), 0.3 * u, 0.3 * u),
        capsule(at(-hip + 0.25, hip_y - 0.15), at(hip - 0.25, hip_y - 0.15), 0.3 * u, 0.3 * u),
    ]
    for side in (-1, 1):
        fig.torso.append(capsule(at(side * (shoulder - 0.25), 1.55),
                                 at(side * (hip - 0.2), hip_y - 0.1), 0.26 * u, 0.22 * u))
    long_sleeves = rng.random() < 0.55
    symmetric = rng.random() < 0.4
    pose = _choose(rng, ARM_POSES)
    for side in (-1, 1):
        if not symmetric:
            pose = _choose(rng, ARM_POSES)
        _, lift, bend = ARM_POSES[pose]
        up = math.radians(rng.uniform(*lift))
        fore = up + math.radians(rng.uniform(*bend))
        s = (side * (shoulder - 0.18), 1.55)
        e = (s[0] + side * 1.4 * math.sin(up), s[1] + 1.4 * math.cos(up))
        w = (e[0] + side * 1.22 * math.sin(fore), e[1] + 1.22 * math.cos(fore))
        hand = (w[0] + side * 0.42 * math.sin(fore), w[1] + 0.42 * math.cos(fore))
        fig.sleeves.append(capsule(at(*s), at(*e), 0.26 * u, 0.21 * u))
        forearm = capsule(at(*e), at(*w), 0.2 * u, 0.15 * u)
        (fig.sleeves if long_sleeves else fig.skin_limbs).append(forearm)
        fig.skin_limbs.append(capsule(at(*w), at(*hand), 0.15 * u, 0.12 * u))
    if framing != "headshot" or rng.random() < 0.5:
        stride = rng.uniform(0, 14)
        for side in (-1, 1):
            spread = math.radians(rng.uniform(-3, 8) + side * rng.uniform(-stride, stride) * 0.5)
            knee_bend = math.radians(rng.uniform(-8, 8))
            h0 = (side * hip * 0.5, hip_y - 0.1)
            k = (h0[0] + side * 1.9 * math.sin(spread), h0[1] + 1.9 * math.cos(spread))
            a = (k[0] + side * 1.85 * math.sin(spread + knee_bend),
                 k[1] + 1.85 * math.cos(spread + knee_bend))
            fig.legs.append(capsule(at(*h0), at(*k), 0.42 * u, 0.3 * u))
            fig.legs.append(capsule(at(*k), at(*a), 0.29 * u, 0.18 * u))
            fig.shoes.append(capsule(at(a[0], a[1] + 0.05), at(a[0] + side * 0.2, a[1] + 0.25),
                                     0.17 * u, 0.15 * u))
        if rng.random() < 0.25:
            flare = rng.uniform(0.3, 0.7)
            fig.skirt = [quad([at(-hip, hip_y - 0.4), at(hip, hip_y - 0.4),
                               at(hip + flare, hip_y + rng.uniform(1.2, 2.4)),
                               at(-hip - flare, hip_y + 1.8)])]
    return fig


def hair_parts(fig: Figure) -> tuple[list[Part], list[Part]]:
    """(back, front): hair hanging behind the body, and the cap over the head."""
    (cx, cy), (rx, ry), u = fig.head, fig.head_radii, fig.u
    cap = [ellipse((cx + 0.04 * u * math.sin(fig.head_angle), cy - 0.06 * u),
                   rx + 0.1 * u, ry + 0.07 * u, fig.head_angle)]
    back: list[Part] = []
    if fig.hair_style == "long":
        length = u * 1.6
        tip = (cx - length * math.sin(fig.lean), cy + length * math.cos(fig.lean))
        back = [capsule((cx, cy), tip, rx + 0.08 * u, rx + 0.2 * u)]
    elif fig.hair_style == "bun":
        cap.append(ellipse((cx + 0.55 * u * math.sin(fig.head_angle),
                            cy - 0.55 * u * math.cos(fig.head_angle)), 0.22 * u, 0.2 * u))
    return back, cap


def hairline(fig: Figure, xx: np.ndarray, yy: np.ndarray) -> np.ndarray:
    """Positive on the face (below the hairline, seen from the front), negative above it, in px:
    the hair cap covers the forehead's top and comes down at the temples."""
    (cx, cy), (rx, _), u = fig.head, fig.head_radii, fig.u
    ca, sa = math.cos(fig.head_angle), math.sin(fig.head_angle)
    px, py = xx - cx, yy - cy
    lx = (px * ca + py * sa) * (1.0 / rx)
    ly = py * ca - px * sa
    lx = np.abs(lx)
    return ly - u * (-0.12 + 0.45 * lx * lx * lx)


def hair_locks(fig: Figure) -> list[Part]:
    """Long hair falling in front of the shoulders, one lock on each side of the face."""
    (cx, cy), (rx, _), u = fig.head, fig.head_radii, fig.u
    down = (-math.sin(fig.lean), math.cos(fig.lean))
    locks = []
    for side in (-1, 1):
        top = (cx + side * rx * 0.95, cy - 0.1 * u)
        end = (top[0] + side * 0.12 * u + down[0] * 1.4 * u, top[1] + down[1] * 1.4 * u)
        locks.append(capsule(top, end, 0.17 * u, 0.11 * u))
    return locks

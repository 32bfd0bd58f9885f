"""Photo-like scenes of people: the harder proxy for photos of people.

One to three people (head, ears, neck, torso, arms and legs in drawn poses; short, long or tied
hair whose wispy edge gives a soft alpha band; skin, cloth with folds, prints and real-surface
textures, shaded by a light) on a real photograph (`photos`), the background often out of focus,
then the camera: light falloff, colour cast, noise and JPEG. Portrait crops cut the torso at the
bottom edge, some people are cut by a side, and some wear the colours behind them.

The alpha is the people's exact coverage, hair wisps included, so ground truth and pixels agree.
Deterministic for a seed (scikit-image's pictures are files in its wheel). About 0.1-0.2 s for a
640x480 scene on one core.
"""
from __future__ import annotations

import math

import numpy as np
from PIL import Image, ImageFilter

from pipelines.synthetic.scenes.photos import blur, camera, cloth_texture, photo_background
from pipelines.synthetic.scenes.figures import (
    Figure, Part, capsule, draw_figure, ellipse, hair_locks, hair_parts, hairline, layer_field)
from pipelines.synthetic.scenes.shapes import random_colour, shifted, smooth_noise

SKIN_TONES = np.array([(245, 208, 180), (224, 172, 135), (190, 135, 95), (140, 90, 60),
                       (92, 58, 40)], np.float32)
HAIR_COLOURS = np.array([(22, 18, 16), (55, 38, 26), (100, 68, 42), (196, 160, 102),
                         (140, 66, 34), (165, 162, 158)], np.float32)
TROUSER_COLOURS = np.array([(48, 62, 98), (28, 28, 32), (170, 152, 112), (110, 110, 115),
                            (70, 50, 40)], np.float32)


def _pick(rng: np.random.Generator, table: np.ndarray, jitter: float = 12.0) -> np.ndarray:
    colour = table[int(rng.integers(0, len(table)))] + rng.uniform(-jitter, jitter, 3)
    return np.clip(colour, 0, 255).astype(np.float32).reshape(3, 1, 1)


class _Person:
    """Paints one figure's layers, back to front, into premultiplied colour and coverage."""

    def __init__(self, rng: np.random.Generator, fig: Figure, background: np.ndarray,
                 camouflage: float):
        self.rng, self.fig, self.bg = rng, fig, background
        _, self.h, self.w = background.shape
        self.paint = np.zeros_like(background)                   # premultiplied colour
        self.cover = np.zeros((self.h, self.w), np.float32)      # alpha
        angle = rng.uniform(math.pi + 0.3, 2 * math.pi - 0.3)   # from above, y pointing down
        self.light = (math.cos(angle), math.sin(angle))
        self.edge = float(rng.uniform(0.7, 1.6))                 # anti-aliased edge, px
        self.camouflage = camouflage

    def colour_behind(self, parts: list[Part]) -> np.ndarray | None:
        """The mean background colour where the parts lie (to dress someone like the wall)."""
        got = layer_field(parts, self.h, self.w)
        if got is None:
            return None
        box, sdf = got
        inside = sdf < 0
        if not inside.any():
            return None
        return self.bg[(slice(None),) + box][:, inside].mean(axis=1).reshape(3, 1, 1)

    def layer(self, parts: list[Part], colour: np.ndarray, surface: str,
              alpha_of=None) -> None:
        """Composites the union of `parts` in `colour`, shaded and given a `surface`
        (cloth, print, texture, skin, hair, plain); `alpha_of(box, sdf)` replaces the plain
        anti-aliased edge (hair)."""
        if not parts:
            return
        got = layer_field(parts, self.h, self.w)
        if got is None:
            return
        box, sdf = got
        rng, u = self.rng, self.fig.u
        if surface in ("cloth", "print", "texture", "hair"):   # creases and locks in the outline
            bumps = smooth_noise(rng, *sdf.shape, max(u * rng.uniform(0.15, 0.4), 3.0), 2)
            sdf += bumps * float(u * rng.uniform(0.01, 0.04 if surface != "hair" else 0.07))
        if alpha_of is None:
            a = np.clip(0.5 - sdf * (1.0 / self.edge), 0.0, 1.0)
        else:
            a = alpha_of(box, sdf)
        if not a.any():
            return
        gy, gx = np.gradient(sdf)
        facing = np.clip(gx * self.light[0] + gy * self.light[1], -1.0, 1.0)
        depth = np.sqrt(np.clip(sdf * (-1.0 / (0.3 * u)), 0.0, 1.0))
        shade = 0.45 + 0.5 * depth + 0.35 * facing * (1.0 - depth)
        bh, bw = sdf.shape
        if surface in ("cloth", "print", "texture"):
            folds = smooth_noise(rng, bh, bw, max(u * rng.uniform(0.25, 0.6), 3.0), 2)
            shade *= 1.0 + folds * float(rng.uniform(0.05, 0.15))
        elif surface == "skin":
            shade *= 1.0 + smooth_noise(rng, bh, bw, max(u * 0.08, 2.0), 2) * 0.03
        fg = colour * shade[None]
        if surface == "print":      # stripes, checks or blotches in a second colour
            kind = int(rng.integers(0, 3))
            xx = np.arange(bw, dtype=np.float32)[None, :]
            yy = np.arange(bh, dtype=np.float32)[:, None]
            period = max(u * rng.uniform(0.08, 0.4), 3.0)
            if kind == 0:
                mark = np.sin(yy * (2 * math.pi / period) + xx * float(rng.uniform(-0.1, 0.1)))
            elif kind == 1:
                mark = np.sin(xx * (2 * math.pi / period)) * np.sin(yy * (2 * math.pi / period))
            else:
                mark = smooth_noise(rng, bh, bw, period, 2) * 1.5
            mark = np.clip(mark * 2.0, 0.0, 1.0)[None] * 0.85
            fg += (random_colour(rng) * shade[None] - fg) * mark
        elif surface == "texture":
            fg *= 1.0 + cloth_texture(rng, bh, bw)[None] * float(rng.uniform(0.08, 0.2))
        elif surface == "hair":
            fg *= 0.75 + 0.5 * self.strands(box, sdf.shape)[None]
        if self.camouflage > 0 and surface in ("cloth", "print", "texture"):
            fg += (self.bg[(slice(None),) + box] - fg) * self.camouflage
        paint = self.paint[(slice(None),) + box]
        paint *= 1.0 - a[None]
        paint += fg * a[None]
        cover = self.cover[box]
        cover *= 1.0 - a
        cover += a

    def strands(self, box: tuple[slice, slice], shape: tuple[int, int]) -> np.ndarray:
        """0..1 hair strands radiating from the head's centre: each strand its own random
        brightness (a lookup by angle), the strands waving a little."""
        (cx, cy), u = self.fig.head, self.fig.u
        yy = np.arange(box[0].start, box[0].stop, dtype=np.float32)[:, None] - cy
        xx = np.arange(box[1].start, box[1].stop, dtype=np.float32)[None, :] - cx
        turn = np.arctan2(yy, xx + 1e-3) * (1.0 / (2 * math.pi)) + 0.5   # 0..1 around the head
        rng = self.rng
        out = np.zeros(shape, np.float32)
        for count, weight in ((int(rng.uniform(1.5, 3.0) * u) + 8, 0.6),
                              (int(rng.uniform(4.0, 7.0) * u) + 16, 0.4)):
            lut = rng.random(count).astype(np.float32)
            warp = smooth_noise(rng, *shape, max(u * 0.2, 2.0), 2) * (3.0 / count)
            idx = ((turn + warp) * count).astype(np.int32) % count
            out += lut[idx] * weight
        return out

    def hair_alpha(self, face_cut: bool):
        """An alpha for the hair layer: opaque inside, wisps fading out over a band of about
        0.06-0.22 head heights, cut sharply at the hairline on the face when `face_cut`."""
        band = float(self.rng.uniform(0.06, 0.22) * self.fig.u) + 2.0

        def alpha_of(box, sdf):
            reach = band * (0.2 + 0.8 * self.strands(box, sdf.shape) ** 2)
            a = np.clip(1.0 - sdf / reach, 0.0, 1.0) ** 1.2
            if face_cut:
                yy = np.arange(box[0].start, box[0].stop, dtype=np.float32)[:, None] + 0.5
                xx = np.arange(box[1].start, box[1].stop, dtype=np.float32)[None, :] + 0.5
                a *= np.clip(0.5 - hairline(self.fig, xx, yy) * (1.0 / 1.5), 0.0, 1.0)
            return a
        return alpha_of

    def face(self, skin: np.ndarray) -> None:
        """Eyes, brows and mouth: small darker marks inside the head."""
        (cx, cy), u, t = self.fig.head, self.fig.u, self.fig.head_angle
        ct, st = math.cos(t), math.sin(t)

        def at(x: float, y: float):
            return (cx + u * (x * ct - y * st), cy + u * (x * st + y * ct))
        dark = np.minimum(skin * 0.35, 60.0)
        for side in (-1, 1):
            self.layer([ellipse(at(side * 0.15, 0.02), 0.055 * u, 0.03 * u, t)], dark, "plain")
            self.layer([capsule(at(side * 0.22, -0.07), at(side * 0.08, -0.08), 0.018 * u,
                                0.022 * u)], skin * 0.55, "plain")
        self.layer([capsule(at(-0.07, 0.27), at(0.07, 0.27), 0.022 * u, 0.022 * u)],
                   skin * np.array([0.7, 0.45, 0.45], np.float32).reshape(3, 1, 1), "plain")

    def draw(self) -> None:
        rng, fig = self.rng, self.fig
        skin = _pick(rng, SKIN_TONES)
        hair = _pick(rng, HAIR_COLOURS) if rng.random() < 0.93 else random_colour(rng)
        shirt = random_colour(rng, (0.0, 0.9))
        if rng.random() < 0.25:
            shirt = np.full((3, 1, 1), rng.choice([20.0, 235.0, rng.uniform(60, 200)]), np.float32)
        if rng.random() < 0.3:   # dressed like the background
            behind = self.colour_behind(fig.torso)
            if behind is not None:
                shirt = np.clip(behind + rng.uniform(-20, 20, (3, 1, 1)), 0, 255).astype(
                    np.float32)
        surface = ("cloth", "print", "texture")[int(rng.choice(3, p=[0.5, 0.3, 0.2]))]
        back, cap = hair_parts(fig)
        if fig.hair_style != "bald":
            self.layer(back, hair, "hair", self.hair_alpha(False))
        self.layer(fig.legs, _pick(rng, TROUSER_COLOURS), "cloth")
        self.layer(fig.shoes, _pick(rng, TROUSER_COLOURS) * 0.4, "plain")
        self.layer(fig.skirt, random_colour(rng), "cloth")
        self.layer(fig.neck, skin, "skin")      # its base hidden under the collar
        self.layer(fig.torso, shirt, surface)
        sleeve = shirt if rng.random() < 0.8 else random_colour(rng)
        self.layer(fig.sleeves, sleeve, "cloth")
        self.layer(fig.skin_limbs, skin, "skin")
        self.layer(fig.head_parts, skin, "skin")
        if not fig.facing_away:
            self.face(skin)
        if fig.hair_style != "bald":
            self.layer(cap, hair, "hair", self.hair_alpha(not fig.facing_away))
        if fig.hair_style == "long" and not fig.facing_away and rng.random() < 0.5:
            self.layer(hair_locks(fig), hair, "hair", self.hair_alpha(False))

    def cast_shadow(self, img: np.ndarray) -> None:
        """Darkens the background behind the person: its coverage, blurred and moved away
        from the light (a wall or floor close behind)."""
        u = self.fig.u
        soft = float(self.rng.uniform(0.05, 0.25) * u) + 1.0
        cover = Image.fromarray((self.cover * 255.0).astype(np.uint8))
        blurred = np.asarray(cover.filter(ImageFilter.GaussianBlur(soft)), np.float32)
        off = float(self.rng.uniform(0.03, 0.25) * u)
        shade = shifted(blurred, int(round(-self.light[0] * off)), int(round(-self.light[1] * off)))
        shade *= -float(self.rng.uniform(0.15, 0.5)) / 255.0
        shade += 1.0
        img *= shade[None]


def render_people(rng: np.random.Generator, height: int, width: int, camouflage: float = 0.0,
                  objects: int | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """rgb uint8 HxWx3, alpha uint8 HxW, person ids uint8 HxW (0 = background): the people
    renderer with the shapes renderer's signature, so the dataset writers can use either."""
    img = photo_background(rng, height, width)
    if rng.random() < 0.65:   # shallow depth of field: the background out of focus
        img = blur(img, float(rng.uniform(1.0, 0.012 * max(height, width) + 1.0)))
    alpha = np.zeros((height, width), np.float32)
    instance = np.zeros((height, width), np.uint8)
    if objects is None:
        objects = int(rng.choice([1, 2, 3], p=[0.6, 0.28, 0.12]))
    framing = None
    scales = sorted(rng.uniform(0.6, 1.0, objects)) if objects > 1 else [1.0] * objects
    for ident, scale in enumerate(scales, start=1):   # the furthest (smallest) first
        if objects > 1 and rng.random() < 0.6:
            framing = framing or ("half_body", "full_body")[int(rng.integers(0, 2))]
        fig = draw_figure(rng, height, width, framing if objects > 1 else None, scale)
        person = _Person(rng, fig, img, camouflage)
        person.draw()
        if rng.random() < 0.6:
            person.cast_shadow(img)
        img *= 1.0 - person.cover[None]
        img += person.paint
        alpha += (1.0 - alpha) * person.cover
        instance[(person.cover >= 0.5) | ((instance == 0) & (person.cover > 0))] = ident
    rgb = camera(rng, img)
    alpha *= 255.0
    alpha += 0.5
    return rgb, alpha.astype(np.uint8), instance


def render_people_scene(rng: np.random.Generator, height: int, width: int, *,
                        camouflage: float = 0.0, people: int | None = None
                        ) -> tuple[np.ndarray, np.ndarray]:
    """One photo-like scene of people: (rgb uint8 HxWx3, alpha uint8 HxW), alpha the people's
    exact coverage. `people` None draws one to three; 0 gives a background only."""
    rgb, alpha, _ = render_people(rng, height, width, camouflage, people)
    return rgb, alpha

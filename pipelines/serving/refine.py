"""Full-resolution edge refinement: the upsampled alpha guided by the photo (pure numpy + PIL).

The model predicts alpha at S x S (256 px) and `imaging.upsample_alpha` stretches it to the photo
(1080x1440 and up), so its edges are soft and blocky at 4-6x magnification. The guided filter
(He, Sun and Tang, "Guided Image Filtering", ECCV 2010 / PAMI 2013) makes the output locally a
linear function of the photo, q = a * I + b in every window, with (a, b) fitted to the alpha by
ridge regression: where the photo has an edge inside an uncertain band of alpha, the alpha's
transition snaps onto that edge; where the alpha is constant it stays constant.

The fast variant (He and Sun, "Fast Guided Filter", arXiv 1505.00996, 2015) fits (a, b) on the
photo and the alpha subsampled by `subsample` (s x s block means), box radius
`radius / subsample`, upsamples the averaged coefficients bilinearly and applies them to the
full-resolution photo: the fitting costs 1/s^2, and at full resolution it is one small matrix
product per block.

- `box_mean(x, r)`: the mean over the (2r+1)^2 window clipped at the borders, by cumulative sums
  (O(1) per pixel whatever r is).
- `guided_filter(guide, p, radius, eps, subsample)`: the filter on a whole picture; `guide` grey
  [H, W] or colour [H, W, 3] (colour: the paper's 3x3 covariance form).
- `add_refine_argument(parser, help)`: the `--refine` flag, for the jobs' options.
- `refine_alpha(rgb, alpha, model_size)`: what remove_background, the one-image tool and
  evaluate call (through `apply_refinement`): uint8 photo + uint8 alpha -> uint8 alpha. The fast
  colour filter, its scale set by the magnification from the model's side (`settings_for`),
  computed only on the blocks an outline crosses and applied only to the pixels the model was
  unsure of; nothing at all under 3x magnification. Settings in `REFINE_SETTINGS`, chosen by
  measurement (README, "Refinement and confidence": SAD -17%, Grad -40% for a perfect 256 px
  alpha at 1440x1080; 12-16 ms a photo: 9-11% of the per-photo time with the SavedModel and
  `rle`, 23% with the defaults, whose model and PNG writer are faster).

Tested against a direct implementation of the paper's definition with loops
(tests/unit/test_refine.py).
"""
from __future__ import annotations

from typing import Optional

import numpy as np
from PIL import Image

REFINE_MODES = ("guided", "none")
DEFAULT_REFINE = "guided"


def add_refine_argument(parser, help_text: str) -> None:
    """`--refine guided|none`, the one flag remove_background and evaluate both take. Beam parses
    every PipelineOptions class loaded in a process with one parser, and argparse refuses a flag
    declared twice, so it is added only to a parser that lacks it. The default is each job's own
    (None here): remove_background refines (DEFAULT_REFINE), evaluate's folder mode does not."""
    if "--refine" not in parser._option_string_actions:  # already there: another job's options
        parser.add_argument("--refine", default=None, choices=REFINE_MODES, help=help_text)

# Chosen by measurement on the people proxy at 1080x1440 (README, "Refinement and confidence"):
# the colour guide (the grey one loses the edges between colours of equal brightness), a small
# eps so the photo's edges win, and blocks about 1.4 model pixels wide (8 px for a 256 px model
# at 1440 px), radius one block: the window spans the blur that upsampling left.
# Below 3x magnification the upsampled alpha is already about as sharp as the filter makes it
# (measured: it only moved SAD and Grad up a little on the proxy's 480..800 px photos), so it is
# left alone. Only blocks the outline crosses are refined (alpha changing by >= min_step within
# the 3 x 3 neighbouring blocks): a region the model merely hesitates about everywhere stays as
# the model said, and the cost follows the outline's length, not the hesitation.
REFINE_SETTINGS = {"eps": 1e-4, "colour": True, "blocks_per_model_pixel": 1.4,
                   "min_magnification": 3.0, "min_step": 64}


def settings_for(width: int, height: int, model_size: int,
                 settings: Optional[dict] = None) -> dict:
    """The filter's settings for a photo of this size whose alpha came from a model_size model:
    `subsample` s = round(blocks_per_model_pixel * magnification) (at least 1), radius s."""
    st = dict(REFINE_SETTINGS, **(settings or {}))
    if "subsample" not in st:
        magnification = max(width, height) / model_size
        st["subsample"] = max(1, int(round(st["blocks_per_model_pixel"] * magnification)))
    st.setdefault("radius", st["subsample"])
    return st


def box_mean(x: np.ndarray, r: int) -> np.ndarray:
    """Mean of `x` ([H, W] or [H, W, C]) over the (2r+1) x (2r+1) window around each pixel,
    the window clipped at the borders (so the count varies there), by cumulative sums (float64,
    so the differences of large sums stay exact enough); returns float32."""
    out = np.asarray(x, dtype=np.float64)
    for axis in (0, 1):
        out = np.moveaxis(_window_sums(np.moveaxis(out, axis, 0), r), 0, axis)
    return out.astype(np.float32)


def _window_sums(x: np.ndarray, r: int) -> np.ndarray:
    """Along axis 0: the sum over rows i - r .. i + r (clipped) divided by their count, from the
    cumulative sums C: C[min(i + r, n - 1)] minus C[i - r - 1] where that row exists. Slices of
    C only, written in place (no padded copy of C)."""
    n = x.shape[0]
    c = np.cumsum(x, axis=0)
    idx = np.arange(n)
    count = (np.minimum(idx + r, n - 1) + 1 - np.maximum(idx - r, 0)).reshape(
        (n,) + (1,) * (x.ndim - 1))
    out = np.empty_like(c)
    lead = min(r + 1, n)         # the first rows, nothing to subtract: C[min(i + r, n - 1)]
    out[:lead] = c[np.minimum(idx[:lead] + r, n - 1)]
    inner = max(0, n - r - lead)  # then rows whose window ends inside: C[i + r] - C[i - r - 1]
    np.subtract(c[lead + r:lead + r + inner], c[:inner], out=out[lead:lead + inner])
    np.subtract(c[n - 1], c[inner:n - lead], out=out[lead + inner:])  # the rest: C[n - 1] - ...
    out /= count
    return out


def _coefficients(guide: np.ndarray, p: np.ndarray, r: int, eps: float):
    """The window-averaged linear coefficients (mean_a, mean_b): q = mean_a . I + mean_b."""
    mean_p = box_mean(p, r)
    if guide.ndim == 2:
        mean_i = box_mean(guide, r)
        var_i = box_mean(guide * guide, r) - mean_i * mean_i
        cov_ip = box_mean(guide * p, r) - mean_i * mean_p
        a = cov_ip / (var_i + eps)
        b = mean_p - a * mean_i
        return box_mean(a, r), box_mean(b, r)
    mean_i = box_mean(guide, r)                                   # [h, w, 3]
    cov_ip = box_mean(guide * p[..., None], r) - mean_i * mean_p[..., None]
    # Sigma + eps U, symmetric 3x3 per pixel, inverted by its adjugate (closed form, vectorised).
    s = {}
    for i, j in ((0, 0), (0, 1), (0, 2), (1, 1), (1, 2), (2, 2)):
        s[i, j] = (box_mean(guide[..., i] * guide[..., j], r) - mean_i[..., i] * mean_i[..., j]
                   + (eps if i == j else 0.0))
    rr, rg, rb, gg, gb, bb = s[0, 0], s[0, 1], s[0, 2], s[1, 1], s[1, 2], s[2, 2]
    inv = np.stack([gg * bb - gb * gb, gb * rb - rg * bb, rg * gb - gg * rb,
                    rr * bb - rb * rb, rg * rb - rr * gb, rr * gg - rg * rg], axis=-1)
    det = rr * inv[..., 0] + rg * inv[..., 1] + rb * inv[..., 2]
    i00, i01, i02, i11, i12, i22 = (inv[..., k] / det for k in range(6))
    c0, c1, c2 = cov_ip[..., 0], cov_ip[..., 1], cov_ip[..., 2]
    a = np.stack([i00 * c0 + i01 * c1 + i02 * c2,
                  i01 * c0 + i11 * c1 + i12 * c2,
                  i02 * c0 + i12 * c1 + i22 * c2], axis=-1)
    b = mean_p - np.sum(a * mean_i, axis=-1)
    return box_mean(a, r), box_mean(b, r)


def _downsample(x: np.ndarray, s: int) -> np.ndarray:
    """Mean of each s x s block (float32), `x` padded first by repeating its last row and column
    to a multiple of s: the fast filter's low-resolution grid. 8-bit pictures go through
    Pillow's `reduce` (the same block mean rounded to an integer, 25x cheaper at 1080x1440)."""
    h, w = x.shape[:2]
    ph, pw = -h % s, -w % s
    if ph or pw:
        x = np.pad(x, [(0, ph), (0, pw)] + [(0, 0)] * (x.ndim - 2), mode="edge")
    if x.dtype == np.uint8 and (x.ndim == 2 or x.shape[2] == 3):
        return np.asarray(Image.fromarray(x).reduce(s), dtype=np.float32)
    blocks = x.reshape((x.shape[0] // s, s, x.shape[1] // s, s) + x.shape[2:])
    return blocks.mean(axis=(1, 3), dtype=np.float32)


def _phases(s: int):
    """For each output phase m of a bilinear upsampling by s: (m, neighbour offset -1 or +1,
    the neighbour's weight). Output pixel k*s + m lies at input k + (m + 0.5)/s - 0.5 (pixel
    centres aligned as PIL's resize aligns them)."""
    for m in range(s):
        d = (m + 0.5) / s - 0.5
        yield m, (-1 if d < 0 else 1), np.float32(abs(d))


def guided_filter(guide: np.ndarray, p: np.ndarray, radius: int, eps: float,
                  subsample: int = 1) -> np.ndarray:
    """He et al.'s guided filter of `p` [H, W] with `guide` [H, W] or [H, W, C=3] (any real
    arrays: eps is in the guide's units squared). With `subsample` s > 1, the fast variant: the
    coefficients are fitted on s x s block means (the picture padded to a multiple of s) with
    radius max(1, round(radius / s)), upsampled bilinearly by s and applied to the full-size
    guide. Returns float32 [H, W]."""
    h, w = p.shape
    if guide.shape[:2] != (h, w):
        raise ValueError(f"guide {guide.shape} and input {p.shape} differ in size")
    if subsample <= 1:
        guide = np.asarray(guide, np.float32)
        mean_a, mean_b = _coefficients(guide, np.asarray(p, np.float32), radius, eps)
        if guide.ndim == 3:
            return np.sum(mean_a * guide, axis=-1) + mean_b
        return mean_a * guide + mean_b
    hs, ws = -(-h // subsample), -(-w // subsample)
    every_cell = np.nonzero(np.ones((hs, ws), bool))
    q = _linear_model_on_blocks(guide, _downsample(p, subsample), radius, eps, subsample,
                                every_cell)
    return _unblock(q, subsample, hs, ws, h, w)


def _bilinear_weights(s: int) -> np.ndarray:
    """[s * s, 9]: for each phase (my, mx) of an s x s block, the weights of the 3 x 3
    neighbouring low-resolution cells (offsets -1, 0, +1) in bilinear upsampling by s."""
    w1 = np.zeros((s, 3), np.float32)
    for m, offset, weight in _phases(s):
        w1[m, 1] = 1 - weight
        w1[m, 1 + offset] = weight
    return np.einsum("yi,xj->yxij", w1, w1).reshape(s * s, 9)


def _blocks(x: np.ndarray, s: int, hs: int, ws: int) -> np.ndarray:
    """x [H, W(, C)] padded (edge) to [hs * s, ws * s(, C)], viewed as [hs, s, ws, s(, C)]."""
    pad = [(0, hs * s - x.shape[0]), (0, ws * s - x.shape[1])] + [(0, 0)] * (x.ndim - 2)
    if pad[0][1] or pad[1][1]:
        x = np.pad(x, pad, mode="edge")
    return x.reshape((hs, s, ws, s) + x.shape[2:])


def _outline_cells(small_p: np.ndarray, min_step: float) -> np.ndarray:
    """Low-resolution cells that are neither 0 nor 255 and whose 3 x 3 neighbourhood spans at
    least `min_step` of alpha: where an outline passes."""
    padded = np.pad(small_p, 1, mode="edge")
    h, w = small_p.shape
    shifts = [padded[1 + dy:1 + dy + h, 1 + dx:1 + dx + w]
              for dy in (-1, 0, 1) for dx in (-1, 0, 1)]
    spread = np.max(shifts, axis=0) - np.min(shifts, axis=0)
    return (small_p > 0) & (small_p < 255) & (spread >= min_step)


def _unblock(values: np.ndarray, s: int, hs: int, ws: int, h: int, w: int) -> np.ndarray:
    """[hs * ws, s * s] block values in raster order -> the [h, w] picture (cropped)."""
    return values.reshape(hs, ws, s, s).transpose(0, 2, 1, 3).reshape(hs * s, ws * s)[:h, :w]


def _linear_model_on_blocks(guide: np.ndarray, small_p: np.ndarray, radius: int, eps: float,
                            s: int, cells) -> np.ndarray:
    """The fast guided filter's output q = up(a) . I + up(b) on the s x s blocks `cells`
    ((rows, columns) of low-resolution cells): float32 [K, s * s]. The coefficients are fitted
    on the block means; up() is bilinear, so on a block's pixels it is one small matrix product
    of fixed weights with the 3 x 3 neighbouring cells' coefficients."""
    hs, ws = small_p.shape
    small_a, small_b = _coefficients(_downsample(guide, s), small_p, max(1, round(radius / s)),
                                     eps)
    if small_a.ndim == 2:
        small_a = small_a[..., None]
    coeffs = np.concatenate([small_a, small_b[..., None]], axis=-1)       # [hs, ws, C + 1]
    padded = np.pad(coeffs, [(1, 1), (1, 1), (0, 0)], mode="edge")
    cy, cx = cells
    neighbours = np.stack([padded[cy + 1 + dy, cx + 1 + dx]
                           for dy in (-1, 0, 1) for dx in (-1, 0, 1)], axis=1)  # [K, 9, C+1]
    up = np.matmul(_bilinear_weights(s), neighbours)                       # [K, s*s, C+1]
    g = _blocks(guide, s, hs, ws)[cy, :, cx].reshape(cy.size, s * s, -1)
    return np.einsum("kpc,kpc->kp", up[..., :-1], g.astype(np.float32)) + up[..., -1]


def refine_alpha(rgb: Image.Image, alpha: np.ndarray, model_size: int = 256,
                 settings: Optional[dict] = None) -> np.ndarray:
    """The upsampled alpha (uint8 [H, W]) refined with the photo (`rgb`, PIL RGB of the same
    size) as guide: uint8 [H, W]; `model_size` is the side of the model's alpha it was
    upsampled from (the filter's scale follows the magnification: `settings_for`).

    The fast guided filter, but its result replaces the alpha only in the band: the pixels
    strictly between 0 and 255 inside the s x s blocks an outline crosses (`_outline_cells`).
    Where the model was sure nothing moves (a guided filter left alone also smooths the alpha
    wherever the photo is flat), and only the outline's blocks are computed at full resolution.
    Works on the 8-bit values (eps scaled by 255^2)."""
    st = settings_for(rgb.width, rgb.height, model_size, settings)
    p = np.asarray(alpha)
    if max(rgb.width, rgb.height) < st["min_magnification"] * model_size:
        return p.copy()
    s = st["subsample"]
    small_p = _downsample(p, s)
    cells = np.nonzero(_outline_cells(small_p, st["min_step"]))
    if not cells[0].size:
        return p.copy()
    guide = np.asarray(rgb if st["colour"] else rgb.convert("L"))
    q = _linear_model_on_blocks(guide, small_p, st["radius"], st["eps"] * 255.0 ** 2, s, cells)
    hs, ws = small_p.shape
    k = cells[0].size
    out_blocks = _blocks(p, s, hs, ws).copy()
    old = out_blocks[cells[0], :, cells[1]].reshape(k, s * s)
    band = (old > 0) & (old < 255)
    new = np.where(band, np.rint(np.clip(q, 0, 255)), old).astype(np.uint8)
    out_blocks[cells[0], :, cells[1]] = new.reshape(k, s, s)
    return out_blocks.reshape(hs * s, ws * s)[:p.shape[0], :p.shape[1]]


def apply_refinement(mode: str, rgb: Image.Image, alpha: np.ndarray,
                     model_size: int) -> np.ndarray:
    """`--refine MODE` on one upsampled alpha: 'guided' refines it, 'none' returns it as is."""
    if mode == "none":
        return alpha
    if mode == "guided":
        return refine_alpha(rgb, alpha, model_size)
    raise ValueError(f"refine must be one of {REFINE_MODES}, got {mode!r}")

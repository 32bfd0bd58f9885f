"""Full-resolution edge refinement: the upsampled alpha guided by the photo (pure numpy + PIL).

The model predicts alpha at S x S (256 px) and `imaging.upsample_alpha` stretches it to the photo
(1080x1440 and up), so its edges are soft and blocky at 4-6x magnification. The guided filter
(He, Sun and Tang, "Guided Image Filtering", ECCV 2010 / PAMI 2013) makes the output locally a
linear function of the photo, q = a * I + b in every window, with (a, b) fitted to the alpha by
ridge regression: where the photo has an edge inside an uncertain band of alpha, the alpha's
transition snaps onto that edge; where the alpha is constant it stays constant.

The fast variant (He and Sun, "Fast Guided Filter", arXiv 1505.00996, 2015) fits (a, b) on the
photo and the alpha subsampled by `subsample`, box radius `radius / subsample`, upsamples the
averaged coefficients bilinearly and applies them to the full-resolution photo: the cost of the
fitting drops by subsample^2, the full-resolution work is two resizes and one multiply-add.

- `box_mean(x, r)`: the mean over the (2r+1)^2 window clipped at the borders, by cumulative sums
  (O(1) per pixel whatever r is).
- `guided_filter(guide, p, radius, eps, subsample)`: the filter; `guide` grey [H, W] or colour
  [H, W, 3] in [0, 1] (colour: the paper's 3x3 covariance form).
- `refine_alpha(rgb, alpha)`: what remove_background, the one-image tool and evaluate call:
  uint8 photo + uint8 alpha -> uint8 alpha, with the project's settings (`REFINE_SETTINGS`,
  chosen by measurement: README, "Refinement and confidence").

Tested against a direct implementation of the paper's definition with loops
(tests/unit/test_refine.py).
"""
from __future__ import annotations

from typing import Optional

import numpy as np
from PIL import Image

REFINE_MODES = ("guided", "none")
DEFAULT_REFINE = "guided"

# Chosen on the people proxy at full resolution (README, "Refinement and confidence"): a window
# about as wide as one model pixel is at 1080x1440 (5.6 px) on each side, a small eps so the
# photo's edges win, the grey guide (the colour form costs 2.5x for no measured gain).
REFINE_SETTINGS = {"radius": 8, "eps": 1e-3, "subsample": 4, "colour": False}


def box_mean(x: np.ndarray, r: int) -> np.ndarray:
    """Mean of `x` ([H, W] or [H, W, C]) over the (2r+1) x (2r+1) window around each pixel,
    the window clipped at the borders (so the count varies there), by cumulative sums (float64,
    so the differences of large sums stay exact enough); returns float32."""
    out = np.asarray(x, dtype=np.float64)
    for axis in (0, 1):
        n = out.shape[axis]
        c = np.cumsum(out, axis=axis)
        # window sum at i = C[i + 2r + 1] - C[i], C = (r + 1 zeros, the cumulative sums, the
        # total repeated r times): slices, no gather.
        front = np.zeros_like(c[:1] if axis == 0 else c[:, :1])
        last = c[-1:] if axis == 0 else c[:, -1:]
        c = np.concatenate([front] * (r + 1) + [c] + [last] * r, axis=axis)
        idx = np.arange(n)
        count = np.minimum(idx + r, n - 1) + 1 - np.maximum(idx - r, 0)
        count = count.reshape((n,) + (1,) * (out.ndim - 1) if axis == 0 else
                              (1, n) + (1,) * (out.ndim - 2))
        if axis == 0:
            out = (c[2 * r + 1:] - c[:n]) / count
        else:
            out = (c[:, 2 * r + 1:] - c[:, :n]) / count
    return out.astype(np.float32)


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


def _upsample_columns(x: np.ndarray, s: int, width: int) -> np.ndarray:
    """x [h, w(, C)] -> [h, width(, C)], bilinear by the whole factor s along the columns, edges
    clamped, cropped to `width`: each phase is a weighted sum of two shifted slices (no gather)."""
    k = x.shape[1]
    xp = np.pad(x, [(0, 0), (1, 1)] + [(0, 0)] * (x.ndim - 2), mode="edge")
    out = np.empty((x.shape[0], k, s) + x.shape[2:], dtype=np.float32)
    for m, offset, weight in _phases(s):
        np.add(x * (1 - weight), xp[:, 1 + offset:1 + offset + k] * weight, out=out[:, :, m])
    return out.reshape((x.shape[0], k * s) + x.shape[2:])[:, :width]


def _apply_upsampled(small_a: np.ndarray, small_b: np.ndarray, guide: np.ndarray,
                     s: int) -> np.ndarray:
    """q = up(a) . I + up(b) at the guide's size, up() bilinear by s: the columns at low height,
    then the rows phase by phase straight into q (no full-size copies of up(a) and up(b))."""
    h, w = guide.shape[:2]
    a, b = _upsample_columns(small_a, s, w), _upsample_columns(small_b, s, w)
    a_pad = np.pad(a, [(1, 1)] + [(0, 0)] * (a.ndim - 1), mode="edge")
    b_pad = np.pad(b, [(1, 1), (0, 0)], mode="edge")
    q = np.empty((h, w), dtype=np.float32)
    up_a = np.empty((-(-h // s),) + a.shape[1:], dtype=np.float32)
    up_b, scratch = np.empty((2, up_a.shape[0], w), dtype=np.float32)
    for m, offset, weight in _phases(s):
        rows = guide[m::s]
        n = rows.shape[0]
        other = slice(1 + offset, 1 + offset + n)
        # In place, into preallocated buffers: this loop is most of the filter's cost.
        ua, ub, tmp = up_a[:n], up_b[:n], scratch[:n]
        np.multiply(a[:n], 1 - weight, out=ua)
        ua += a_pad[other] * weight
        np.multiply(b[:n], 1 - weight, out=ub)
        np.multiply(b_pad[other], weight, out=tmp)
        ub += tmp
        if guide.ndim == 3:
            ua *= rows
            np.sum(ua, axis=-1, out=tmp)
        else:
            np.multiply(ua, rows, out=tmp)
        np.add(tmp, ub, out=q[m::s])
    return q


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
    small_a, small_b = _coefficients(_downsample(guide, subsample), _downsample(p, subsample),
                                     max(1, round(radius / subsample)), eps)
    return _apply_upsampled(small_a, small_b, guide, subsample)


def refine_alpha(rgb: Image.Image, alpha: np.ndarray,
                 settings: Optional[dict] = None) -> np.ndarray:
    """The upsampled alpha (uint8 [H, W]) refined with the photo (`rgb`, PIL RGB of the same size)
    as guide: uint8 [H, W]. Where the alpha is constant it keeps its value; the filter moves the
    transitions onto the photo's edges. Works on the 8-bit values directly (eps scaled by 255^2,
    which gives 255 times the filter of the [0, 1] maps): no full-size float copies."""
    s = dict(REFINE_SETTINGS, **(settings or {}))
    guide = np.asarray(rgb if s["colour"] else rgb.convert("L"))
    q = guided_filter(guide, np.asarray(alpha), s["radius"], s["eps"] * 255.0 ** 2,
                      s["subsample"])
    np.clip(q, 0, 255, out=q)
    return np.rint(q, out=q).astype(np.uint8)


def apply_refinement(mode: str, rgb: Image.Image, alpha: np.ndarray) -> np.ndarray:
    """`--refine MODE` on one upsampled alpha: 'guided' refines it, 'none' returns it as is."""
    if mode == "none":
        return alpha
    if mode == "guided":
        return refine_alpha(rgb, alpha)
    raise ValueError(f"refine must be one of {REFINE_MODES}, got {mode!r}")

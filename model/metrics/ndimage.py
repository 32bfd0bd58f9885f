"""The image operations the metric protocols need, in pure numpy (no scipy, cv2 or skimage at
run time): each reproduces the scipy or scikit-image call the reference code makes, ties and
rounding included, and the metric tests compare them with it.

- ``correlate1d``: ``scipy.ndimage.correlate1d`` for symmetric and antisymmetric kernels;
- ``edt_sites``: ``scipy.ndimage.distance_transform_edt(~sites, return_indices=True)``;
- ``largest_component``: the largest 4-connected region, as P3M's code picks it with
  ``skimage.measure.label`` and ``regionprops``.
"""
from __future__ import annotations

import numpy as np


def correlate1d(a: np.ndarray, weights: np.ndarray, axis: int, mode: str) -> np.ndarray:
    """Correlate ``a`` along ``axis`` with an odd-length, symmetric or antisymmetric kernel.

    ``mode`` is np.pad's: 'constant' (zeros) is scipy's mode='constant', cval=0, and
    'symmetric' (edge value repeated) is scipy's mode='reflect'. Mirror taps are paired, as
    scipy's own correlate1d does for such kernels. Computed in float64.
    """
    radius = len(weights) // 2
    sign = 1.0 if np.allclose(weights, weights[::-1]) else -1.0
    if sign < 0 and not np.allclose(weights, -weights[::-1]):
        raise ValueError("kernel must be symmetric or antisymmetric")
    pad = [(0, 0), (0, 0)]
    pad[axis] = (radius, radius)
    padded = np.pad(a.astype(np.float64, copy=False), pad, mode=mode)
    n = a.shape[axis]

    def tap(offset):  # the input shifted by ``offset`` along ``axis``
        lo = radius + offset
        return padded[lo:lo + n, :] if axis == 0 else padded[:, lo:lo + n]

    out = tap(0) * weights[radius]
    pair = np.empty_like(out)
    for t in range(1, radius + 1):
        if sign > 0:
            np.add(tap(t), tap(-t), out=pair)
        else:
            np.subtract(tap(t), tap(-t), out=pair)
        pair *= weights[radius + t]
        out += pair
    return out


def edt_sites(sites: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Exact Euclidean distance to, and coordinates of, the nearest ``True`` pixel.

    Reproduces ``scipy.ndimage.distance_transform_edt(~sites, return_indices=True)`` exactly,
    including which of several equidistant sites is returned: scipy runs Maurer et al.'s
    algorithm (PAMI 2003) along axis 0, then along axis 1, and this does the same steps, the
    second pass vectorised over rows. Integer arithmetic throughout, so every comparison is
    exact, as scipy's are. Returns (distance, site_row, site_col); ``sites`` must hold at least
    one True.
    """
    h, w = sites.shape
    idt = np.int32 if max(h, w) < 30000 else np.int64  # squared distances must fit
    rows = np.arange(h, dtype=idt)[:, None]
    # Pass 1 (axis 0): in each column, the row of the nearest site. In 1-D every site stays on
    # Maurer's stack and a tie keeps the earlier (upper) site. Columns without a site get
    # garbage that pass 2 never reads.
    above = np.where(sites, rows, idt(-1))
    np.maximum.accumulate(above, axis=0, out=above)
    below = np.where(sites, rows, idt(3 * h))[::-1]
    below = np.minimum.accumulate(below, axis=0)[::-1]
    col_site_row = np.where((above >= 0) & (2 * rows <= above + below), above, below)
    del above, below
    # Pass 2 (axis 1): per row, the lower envelope of the parabolas of the columns that hold a
    # site, the site of column j sitting at height (col_site_row[r, j] - r)^2.
    height = col_site_row - rows
    height *= height
    valid_cols = np.flatnonzero(sites.any(axis=0))
    r1 = np.arange(h)
    stack = np.zeros((h, len(valid_cols)), dtype=idt)  # column indices, per row
    top = np.full(h, -1, dtype=np.int64)
    for col in valid_cols:
        w_r = height[:, col].astype(np.int64)
        active = r1[top >= 1]
        while active.size:
            lt = top[active]
            v = stack[active, lt].astype(np.int64)
            u = stack[active, lt - 1].astype(np.int64)
            a = v - u
            b = col - v
            c = a + b
            remove = (c * height[active, v] - b * height[active, u] - a * w_r[active]
                      - a * b * c) > 0
            active = active[remove]
            top[active] -= 1
            active = active[top[active] >= 1]
        top += 1
        stack[r1, top] = col
    # Query. scipy walks each row's stack left to right and moves from site l to l + 1 only
    # while l + 1 is strictly nearer. For column i that holds exactly when
    # 2 i (g[l+1] - g[l]) > (g[l+1]^2 + h[l+1]) - (g[l]^2 + h[l]), i.e. i >= first[l] below;
    # the envelope makes first[] non-decreasing, so the site for column i is the number of
    # l with first[l] <= i: one searchsorted over all rows at once.
    m = stack.shape[1]
    g0 = stack[:, :-1]
    g1 = stack[:, 1:]
    numer = (g1 * g1 + np.take_along_axis(height, g1, axis=1)) - (
        g0 * g0 + np.take_along_axis(height, g0, axis=1))
    first = np.floor_divide(numer, 2 * np.maximum(g1 - g0, 1)) + 1
    np.clip(first, 0, w, out=first)
    first[np.arange(m - 1)[None, :] >= top[:, None]] = w  # beyond a row's stack: never
    first += rows * idt(w + 1)
    queries = np.arange(w, dtype=idt)[None, :] + rows * idt(w + 1)
    chosen = np.searchsorted(first.ravel(), queries.ravel(), side="right").reshape(h, w)
    chosen -= (rows * idt(m - 1)).astype(chosen.dtype)
    nearest_col = np.take_along_axis(stack, chosen, axis=1)
    nearest_row = np.take_along_axis(col_site_row, nearest_col, axis=1)
    dy = (nearest_row - rows).astype(np.float64)
    dx = (nearest_col - np.arange(w, dtype=idt)[None, :]).astype(np.float64)
    distance = np.sqrt(dy * dy + dx * dx)
    return distance, nearest_row, nearest_col


def largest_component(mask: np.ndarray) -> np.ndarray | None:
    """The largest 4-connected component of ``mask`` (None if empty).

    Ties go to the component met first in raster order, as ``np.argmax`` over
    ``skimage.measure.regionprops`` areas picks it in the P3M code.
    """
    h, w = mask.shape
    edges = np.diff(np.pad(mask.astype(np.int8), ((0, 0), (1, 1))), axis=1)
    run_row, run_start = np.nonzero(edges == 1)      # raster order
    _, run_end = np.nonzero(edges == -1)             # exclusive ends, same order
    n = run_row.size
    if n == 0:
        return None
    # Runs of consecutive rows that overlap are 4-connected. For each run, the overlapping runs
    # of the row above form a contiguous index range [lo, hi).
    stride = w + 1
    key_start = run_row * stride + run_start
    key_end = run_row * stride + run_end
    above = run_row > 0
    j = np.flatnonzero(above)
    base = (run_row[j] - 1) * stride
    lo = np.searchsorted(key_end, base + run_start[j], side="right")
    hi = np.searchsorted(key_start, base + run_end[j], side="left")
    counts = np.maximum(hi - lo, 0)
    v = np.repeat(j, counts)
    offsets = np.arange(counts.sum()) - np.repeat(np.cumsum(counts) - counts, counts)
    u = np.repeat(lo, counts) + offsets
    # Union-find by hooking each root onto the smallest root it touches, then pointer jumping;
    # a component's root ends up as its first run in raster order.
    parent = np.arange(n)
    while u.size:
        ru, rv = parent[u], parent[v]
        differ = ru != rv
        if not differ.any():
            break
        u, v, ru, rv = u[differ], v[differ], ru[differ], rv[differ]
        np.minimum.at(parent, np.maximum(ru, rv), np.minimum(ru, rv))
        while True:
            jumped = parent[parent]
            if np.array_equal(jumped, parent):
                break
            parent = jumped
    area = np.bincount(parent, weights=run_end - run_start, minlength=n)
    best = int(np.argmax(area))  # first maximum: the earliest component in raster order
    chosen = parent == best
    marks = np.zeros((h, w + 1), dtype=np.int32)
    np.add.at(marks, (run_row[chosen], run_start[chosen]), 1)
    np.add.at(marks, (run_row[chosen], run_end[chosen]), -1)
    return np.cumsum(marks, axis=1)[:, :w] > 0

"""The field's metrics for foreground masks and alpha mattes, on numpy arrays.

Every metric takes ``pred`` and ``gt``: real arrays of the same 2-D shape with values in [0, 1]
(bool and integer arrays holding only 0 and 1 are accepted too), and returns a Python float.
Anything else raises ``ValueError`` (wrong ndim, shape mismatch, empty array, NaN, a value outside
[0, 1]); a non-numeric dtype raises ``TypeError``. ``score_all`` validates and prepares a pair once
and computes any subset of ``METRICS`` from it: the evaluation pipeline's entry point.

Pure numpy on purpose (no scipy, cv2 or skimage at run time): the distance transform, the
Gaussian filters and the connected components that the protocols need are implemented here.

Three protocols live here; which one a metric follows decides how it reads its inputs.

1. Binary overlap: ``iou``, ``dice``.
   Both maps are thresholded at 0.5 (``x >= 0.5`` is foreground). IoU = |P & G| / |P | G|,
   Dice = 2 |P & G| / (|P| + |G|). When both masks are empty the prediction is exactly right and
   both metrics return 1.0 (the formulas would give 0/0).

2. Salient-object detection (SOD): ``mae``, ``s_measure``, ``e_measure``, ``weighted_f_measure``,
   ``max_f_measure``. These reproduce PySODMetrics (``py_sod_metrics`` 1.6.2, the reference
   implementation papers report with) to floating-point precision, including its preparation of
   each pair. That library reads 8-bit grey images, so the float maps are first quantised the way
   an 8-bit PNG would store them: ``u8 = round(x * 255)`` (numpy rounding, half to even). Then, as
   in PySODMetrics' ``prepare_data``:
     - gt becomes a bool mask ``u8_gt > 128`` (gt >= 129/255, a hair above 0.5);
     - pred becomes ``u8_pred / 255``, min-max normalised to [0, 1] when its max differs from its
       min (a constant prediction is left as it is).
   So ``mae`` here is the SOD MAE (normalised pred against the binarised gt), which differs from
   the matting ``mad`` below (raw pred against raw alpha). The definitions:
     - ``mae``: mean |pred - gt| (Perazzi et al. 2012).
     - ``s_measure``: structure measure, alpha = 0.5 (Fan et al., ICCV 2017).
     - ``e_measure``: the *mean* E-measure: the enhanced-alignment measure of the prediction
       binarised at each of the 256 thresholds 0..255 of ``uint8(pred * 255)`` (``pred >= t``),
       averaged over thresholds (PySODMetrics ``Emeasure``'s "curve", averaged; Fan et al.,
       IJCAI 2018).
     - ``weighted_f_measure``: F^w_beta with beta = 1 (Margolin et al., CVPR 2014); 0 when gt is
       empty. Its Euclidean distance transform reproduces scipy's, nearest-pixel ties included.
     - ``max_f_measure``: the maximum over the same 256 thresholds of the F-measure with
       beta^2 = 0.3 (Achanta et al. 2009; PySODMetrics ``Fmeasure``'s curve, maximum). Note that
       papers' "maxF" is usually the max of the dataset-mean curve; averaging per-image maxima
       over a dataset is slightly higher. The evaluation pipeline averages these per-image values.
   One deliberate deviation: PySODMetrics returns NaN for the S-measure when the foreground
   centroid falls in the last row or column (an empty quadrant of weight 0 makes 0 * NaN); here
   an empty quadrant contributes 0, so the value is finite and otherwise identical.

3. Matting (the P3M-10K benchmark's whole-image evaluation, Li et al., "Privacy-Preserving
   Portrait Matting", ACM MM 2021, ``core/evaluate.py``): ``sad``, ``mse``, ``mad``, ``grad``,
   ``conn``, on the raw alpha values in [0, 1] (no quantisation, no normalisation):
     - ``sad`` = sum |pred - gt| / 1000 (sum of absolute differences, in thousands of pixels);
     - ``mse`` = mean (pred - gt)^2; ``mad`` = mean |pred - gt| (both per pixel, alpha units);
     - ``grad`` = sum (|nabla pred| - |nabla gt|)^2 / 10, the gradients taken with Gaussian
       derivative filters of sigma 1.4 (scipy ``gaussian_filter`` semantics: radius 6, 'reflect'
       borders, float32 outputs). The /10 is what P3M's code does (other matting code bases
       often divide by 1000), so values compare with P3M-10K's published Grad column;
     - ``conn`` = connectivity error with threshold step 0.1 (4-connected largest common
       component per threshold, pixels kept when d >= 0.15), summed over the image / 1000.
   SAD, Grad and Conn grow with the image's size: compare them only at the same resolution.
"""
from __future__ import annotations

from typing import Callable, Iterable

import numpy as np

__all__ = [
    "iou", "dice", "mae", "s_measure", "e_measure", "weighted_f_measure", "max_f_measure",
    "sad", "mse", "mad", "grad", "conn", "METRICS", "score_all",
]

# PySODMetrics' epsilon (MATLAB's eps), used exactly where it uses it.
_EPS = np.spacing(1)


# --------------------------------------------------------------------------------------------
# Validation and the shared preparation of one (pred, gt) pair
# --------------------------------------------------------------------------------------------

def _as_unit_map(x, name: str) -> np.ndarray:
    """``x`` as a float64 2-D array in [0, 1], or a clear error."""
    a = np.asarray(x)
    if not (a.dtype == np.bool_ or np.issubdtype(a.dtype, np.integer)
            or np.issubdtype(a.dtype, np.floating)):
        raise TypeError(f"{name} must be a real-valued array, got dtype {a.dtype}")
    if a.ndim != 2:
        raise ValueError(f"{name} must be a 2-D map (height, width), got shape {a.shape}")
    if a.size == 0:
        raise ValueError(f"{name} is empty (shape {a.shape})")
    a = a.astype(np.float64, copy=False)
    if not np.isfinite(a).all():
        raise ValueError(f"{name} contains NaN or infinite values")
    lo, hi = float(a.min()), float(a.max())
    if lo < 0.0 or hi > 1.0:
        raise ValueError(f"{name} values must lie in [0, 1], got min {lo:g} and max {hi:g}")
    return a


def _to_uint8(x: np.ndarray) -> np.ndarray:
    """The 8-bit image a float map in [0, 1] becomes: round(x * 255), half to even."""
    return np.round(x * 255.0).astype(np.uint8)


class _Pair:
    """One validated (pred, gt) pair; each protocol's inputs are derived once, on first use."""

    def __init__(self, pred, gt):
        self.pred = _as_unit_map(pred, "pred")
        self.gt = _as_unit_map(gt, "gt")
        if self.pred.shape != self.gt.shape:
            raise ValueError(
                f"pred and gt must have the same shape, got {self.pred.shape} and {self.gt.shape}")
        self._sod = None
        self._hist = None

    @property
    def sod(self) -> tuple[np.ndarray, np.ndarray]:
        """(pred, gt) as PySODMetrics' ``prepare_data`` makes them from the uint8 images."""
        if self._sod is None:
            gt = _to_uint8(self.gt) > 128
            pred = _to_uint8(self.pred) / 255
            pmax, pmin = pred.max(), pred.min()
            if pmax != pmin:
                pred = (pred - pmin) / (pmax - pmin)
            self._sod = (pred, gt)
        return self._sod

    @property
    def threshold_counts(self) -> tuple[np.ndarray, np.ndarray]:
        """Counts of predicted-foreground pixels inside and outside gt, per threshold.

        Element k is for the threshold 255 - k on ``uint8(pred * 255)`` (``>=``), as the
        flipped cumulative histograms of PySODMetrics' ``Fmeasure`` and ``Emeasure``.
        """
        if self._hist is None:
            pred, gt = self.sod
            levels = (pred * 255).astype(np.uint8)
            fg_hist = np.bincount(levels[gt], minlength=256)
            bg_hist = np.bincount(levels[~gt], minlength=256)
            self._hist = (np.cumsum(fg_hist[::-1]), np.cumsum(bg_hist[::-1]))
        return self._hist


# --------------------------------------------------------------------------------------------
# Binary overlap
# --------------------------------------------------------------------------------------------

def _overlap(p: _Pair) -> tuple[int, int, int]:
    pm = p.pred >= 0.5
    gm = p.gt >= 0.5
    return int(np.count_nonzero(pm & gm)), int(np.count_nonzero(pm)), int(np.count_nonzero(gm))


def _iou(p: _Pair) -> float:
    inter, n_pred, n_gt = _overlap(p)
    union = n_pred + n_gt - inter
    return 1.0 if union == 0 else inter / union


def _dice(p: _Pair) -> float:
    inter, n_pred, n_gt = _overlap(p)
    total = n_pred + n_gt
    return 1.0 if total == 0 else 2.0 * inter / total


# --------------------------------------------------------------------------------------------
# SOD metrics (PySODMetrics 1.6.2)
# --------------------------------------------------------------------------------------------

def _mae(p: _Pair) -> float:
    pred, gt = p.sod
    return float(np.mean(np.abs(pred - gt)))


def _s_object(x: np.ndarray) -> float:
    mean = np.mean(x)
    std = np.std(x, ddof=1) if x.size > 1 else 0.0
    return 2 * mean / (mean ** 2 + 1 + std + _EPS)


def _ssim(pred: np.ndarray, gt: np.ndarray) -> float:
    h, w = pred.shape
    n = h * w
    if n == 0:
        return 0.0  # an empty quadrant: its weight is 0 (PySODMetrics gives NaN here)
    x = np.mean(pred)
    y = np.mean(gt)
    sigma_x = np.sum((pred - x) ** 2) / (n - 1 + _EPS)
    sigma_y = np.sum((gt - y) ** 2) / (n - 1 + _EPS)
    sigma_xy = np.sum((pred - x) * (gt - y)) / (n - 1 + _EPS)
    alpha = 4 * x * y * sigma_xy
    beta = (x ** 2 + y ** 2) * (sigma_x + sigma_y)
    if alpha != 0:
        return alpha / (beta + _EPS)
    return 1.0 if beta == 0 else 0.0


def _s_measure(p: _Pair) -> float:
    pred, gt = p.sod
    y = np.mean(gt)
    if y == 0:
        return float(1 - np.mean(pred))
    if y == 1:
        return float(np.mean(pred))
    alpha = 0.5
    # Object score.
    fg = _s_object(pred[gt]) * y
    bg = _s_object((1 - pred)[~gt]) * (1 - y)
    object_score = fg + bg
    # Region score: four quadrants split at the foreground centroid (MATLAB's 1-based split).
    h, w = gt.shape
    area = h * w
    n_fg = np.count_nonzero(gt)
    cy = np.round(np.dot(gt.sum(axis=1), np.arange(h)) / n_fg)
    cx = np.round(np.dot(gt.sum(axis=0), np.arange(w)) / n_fg)
    cy, cx = int(cy) + 1, int(cx) + 1
    w_lt = cx * cy / area
    w_rt = cy * (w - cx) / area
    w_lb = (h - cy) * cx / area
    w_rb = 1 - w_lt - w_rt - w_lb
    region_score = (_ssim(pred[0:cy, 0:cx], gt[0:cy, 0:cx]) * w_lt
                    + _ssim(pred[0:cy, cx:w], gt[0:cy, cx:w]) * w_rt
                    + _ssim(pred[cy:h, 0:cx], gt[cy:h, 0:cx]) * w_lb
                    + _ssim(pred[cy:h, cx:w], gt[cy:h, cx:w]) * w_rb)
    return float(max(0.0, object_score * alpha + region_score * (1 - alpha)))


def _e_measure(p: _Pair) -> float:
    pred, gt = p.sod
    fg_fg, fg_bg = p.threshold_counts  # predicted fg on gt fg / on gt bg, per threshold
    size = gt.shape[0] * gt.shape[1]
    n_gt_fg = np.count_nonzero(gt)
    pred_fg = fg_fg + fg_bg
    pred_bg = size - pred_fg
    if n_gt_fg == 0:
        enhanced_sum = pred_bg
    elif n_gt_fg == size:
        enhanced_sum = pred_fg
    else:
        bg_fg = n_gt_fg - fg_fg
        bg_bg = pred_bg - bg_fg
        mean_pred = pred_fg / size
        mean_gt = n_gt_fg / size
        parts = [
            (fg_fg, 1 - mean_pred, 1 - mean_gt),
            (fg_bg, 1 - mean_pred, 0 - mean_gt),
            (bg_fg, 0 - mean_pred, 1 - mean_gt),
            (bg_bg, 0 - mean_pred, 0 - mean_gt),
        ]
        enhanced_sum = np.zeros(256)
        for numel, dp, dg in parts:
            align = 2 * (dp * dg) / (dp ** 2 + dg ** 2 + _EPS)
            enhanced_sum = enhanced_sum + (align + 1) ** 2 / 4 * numel
    curve = enhanced_sum / (size - 1 + _EPS)
    return float(np.mean(curve))


def _max_f_measure(p: _Pair, beta2: float = 0.3) -> float:
    _, gt = p.sod
    tps, fps = p.threshold_counts
    positives = tps + fps
    positives = np.where(positives == 0, 1, positives)
    n_gt = max(np.count_nonzero(gt), 1)
    precision = tps / positives
    recall = tps / n_gt
    numerator = (1 + beta2) * precision * recall
    denominator = np.where(numerator == 0, 1, beta2 * precision + recall)
    return float(np.max(numerator / denominator))


def _matlab_gaussian_filter(image: np.ndarray, size: int = 7, sigma: float = 5.0) -> np.ndarray:
    """``imfilter(image, fspecial('gaussian', size, sigma))``, zero outside the image.

    PySODMetrics builds the 2-D kernel (normalised to sum 1) and calls scipy's ``convolve`` with
    mode='constant'. That kernel is the outer product of the normalised 1-D Gaussian with itself
    (none of its values falls under MATLAB's eps cut-off for these sizes), so two 1-D passes
    give the same result to rounding.
    """
    m = (size - 1) / 2
    x = np.arange(-m, m + 1)
    g = np.exp(-(x * x) / (2 * sigma * sigma))
    g /= g.sum()
    return _correlate1d(_correlate1d(image, g, 0, "constant"), g, 1, "constant")


def _correlate1d(a: np.ndarray, weights: np.ndarray, axis: int, mode: str) -> np.ndarray:
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


def _edt_sites(sites: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
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


def _weighted_f_measure(p: _Pair, beta: float = 1.0) -> float:
    pred, gt = p.sod
    if not gt.any():
        return 0.0
    dst, idx_row, idx_col = _edt_sites(gt)
    # Pixel dependency: the error of a background pixel is read at its nearest gt pixel.
    e = np.abs(pred - gt)
    et = e[idx_row, idx_col]  # equals e on gt pixels, where the nearest site is the pixel itself
    ea = _matlab_gaussian_filter(et)
    min_e_ea = np.where(gt & (ea < e), ea, e)
    # Pixel importance: background errors weigh more the farther they are from the object.
    b = np.where(~gt, 2 - np.exp(np.log(0.5) / 5 * dst), 1.0)
    ew = min_e_ea * b
    tpw = np.sum(gt) - np.sum(ew[gt])
    fpw = np.sum(ew[~gt])
    recall = 1 - np.mean(ew[gt])
    precision = tpw / (tpw + fpw + _EPS)
    return float((1 + beta) * recall * precision / (recall + beta * precision + _EPS))


# --------------------------------------------------------------------------------------------
# Matting metrics (P3M-10K, whole image)
# --------------------------------------------------------------------------------------------

def _sad(p: _Pair) -> float:
    return float(np.sum(np.abs(p.pred - p.gt)) / 1000)


def _mse(p: _Pair) -> float:
    return float(np.mean((p.pred - p.gt) ** 2))


def _mad(p: _Pair) -> float:
    return float(np.mean(np.abs(p.pred - p.gt)))


def _gaussian_kernels_1d(sigma: float = 1.4, truncate: float = 4.0):
    """scipy's 1-D Gaussian (order 0) and Gaussian-derivative (order 1) correlation weights."""
    radius = int(truncate * sigma + 0.5)
    x = np.arange(-radius, radius + 1)
    phi = np.exp(-0.5 / (sigma * sigma) * x ** 2)
    phi = phi / phi.sum()
    smooth = phi
    derivative = -x / (sigma * sigma) * phi
    # scipy correlates with the reversed kernel.
    return smooth[::-1].copy(), derivative[::-1].copy()


def _gradient_magnitude(a: np.ndarray) -> np.ndarray:
    smooth, derivative = _gaussian_kernels_1d()
    # scipy.ndimage.gaussian_filter(a, 1.4, order=[1, 0] / [0, 1], output=np.float32):
    # axis 0 first, then axis 1, each pass stored as float32.
    f32 = np.float32
    gx = _correlate1d(_correlate1d(a, derivative, 0, "symmetric").astype(f32), smooth, 1,
                      "symmetric").astype(f32)
    gy = _correlate1d(_correlate1d(a, smooth, 0, "symmetric").astype(f32), derivative, 1,
                      "symmetric").astype(f32)
    return np.sqrt(gx ** 2 + gy ** 2)


def _grad(p: _Pair) -> float:
    error = np.square(_gradient_magnitude(p.pred) - _gradient_magnitude(p.gt))
    return float(np.sum(error) / 10)


def _largest_component(mask: np.ndarray) -> np.ndarray | None:
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


def _conn(p: _Pair, step: float = 0.1) -> float:
    pred, gt = p.pred, p.gt
    thresholds = np.arange(0, 1.1, step)
    level = np.full(pred.shape, -1, dtype=np.float32)
    for i in range(1, thresholds.size):
        omega = _largest_component((pred >= thresholds[i]) & (gt >= thresholds[i]))
        if omega is None:
            continue
        level[(level == -1) & ~omega] = thresholds[i - 1]
    level[level == -1] = 1
    d_pred = pred - level
    d_gt = gt - level
    phi_pred = 1 - d_pred * (d_pred >= 0.15).astype(np.float32)
    phi_gt = 1 - d_gt * (d_gt >= 0.15).astype(np.float32)
    return float(np.sum(np.abs(phi_pred - phi_gt)) / 1000)


# --------------------------------------------------------------------------------------------
# Public API
# --------------------------------------------------------------------------------------------

_IMPLEMENTATIONS: dict[str, Callable[[_Pair], float]] = {
    "iou": _iou,
    "dice": _dice,
    "mae": _mae,
    "s_measure": _s_measure,
    "e_measure": _e_measure,
    "weighted_f_measure": _weighted_f_measure,
    "max_f_measure": _max_f_measure,
    "sad": _sad,
    "mse": _mse,
    "mad": _mad,
    "grad": _grad,
    "conn": _conn,
}


def iou(pred, gt) -> float:
    """Intersection over union of the masks ``pred >= 0.5`` and ``gt >= 0.5``; 1.0 if both
    are empty. Higher is better."""
    return _iou(_Pair(pred, gt))


def dice(pred, gt) -> float:
    """Dice coefficient (F1) of the masks ``pred >= 0.5`` and ``gt >= 0.5``; 1.0 if both are
    empty. Higher is better."""
    return _dice(_Pair(pred, gt))


def mae(pred, gt) -> float:
    """SOD mean absolute error (PySODMetrics ``MAE``): min-max normalised 8-bit pred against
    the gt mask ``round(gt * 255) > 128``. Lower is better."""
    return _mae(_Pair(pred, gt))


def s_measure(pred, gt) -> float:
    """Structure measure S_alpha, alpha = 0.5 (PySODMetrics ``Smeasure``). Higher is better."""
    return _s_measure(_Pair(pred, gt))


def e_measure(pred, gt) -> float:
    """Mean enhanced-alignment measure over the thresholds 0..255 (PySODMetrics ``Emeasure``,
    mean of its curve). Higher is better."""
    return _e_measure(_Pair(pred, gt))


def weighted_f_measure(pred, gt) -> float:
    """Weighted F-measure F^w_1 (PySODMetrics ``WeightedFmeasure``); 0.0 for an empty gt.
    Higher is better."""
    return _weighted_f_measure(_Pair(pred, gt))


def max_f_measure(pred, gt) -> float:
    """Maximum over the thresholds 0..255 of the F-measure, beta^2 = 0.3 (PySODMetrics
    ``Fmeasure``, max of its curve for this image). Higher is better."""
    return _max_f_measure(_Pair(pred, gt))


def sad(pred, gt) -> float:
    """P3M sum of absolute differences over the whole image, divided by 1000. Lower is better."""
    return _sad(_Pair(pred, gt))


def mse(pred, gt) -> float:
    """P3M mean squared error per pixel, on alpha in [0, 1]. Lower is better."""
    return _mse(_Pair(pred, gt))


def mad(pred, gt) -> float:
    """P3M mean absolute difference per pixel, on alpha in [0, 1]. Lower is better."""
    return _mad(_Pair(pred, gt))


def grad(pred, gt) -> float:
    """P3M gradient error: sum of squared differences of the Gaussian-derivative (sigma 1.4)
    gradient magnitudes, divided by 10 (P3M's scaling). Lower is better."""
    return _grad(_Pair(pred, gt))


def conn(pred, gt) -> float:
    """P3M connectivity error (threshold step 0.1), summed over the image, divided by 1000.
    Lower is better."""
    return _conn(_Pair(pred, gt))


METRICS: dict[str, Callable[[np.ndarray, np.ndarray], float]] = {
    "iou": iou,
    "dice": dice,
    "mae": mae,
    "s_measure": s_measure,
    "e_measure": e_measure,
    "weighted_f_measure": weighted_f_measure,
    "max_f_measure": max_f_measure,
    "sad": sad,
    "mse": mse,
    "mad": mad,
    "grad": grad,
    "conn": conn,
}


def score_all(pred, gt, names: Iterable[str] | None = None) -> dict[str, float]:
    """Every metric named in ``names`` (default: all of ``METRICS``, in its order) for one pair.

    The pair is validated and converted once; the SOD preparation and threshold histogram are
    shared by the metrics that use them. Unknown names raise ``ValueError``.
    """
    if names is None:
        selected = list(METRICS)
    elif isinstance(names, str):
        selected = [names]
    else:
        selected = list(names)
    unknown = [n for n in selected if n not in _IMPLEMENTATIONS]
    if unknown:
        raise ValueError(f"unknown metric name(s) {unknown}; known: {sorted(METRICS)}")
    pair = _Pair(pred, gt)
    return {name: _IMPLEMENTATIONS[name](pair) for name in selected}


def f_measure_curve(pred: np.ndarray, gt: np.ndarray, beta2: float = 0.3) -> np.ndarray:
    """One image's F-measure at each of the 256 thresholds, exactly as `metrics.max_f_measure`
    computes it (whose value is this curve's max). Averaged over a dataset, its max is the
    papers' maxF."""
    pair = _Pair(pred, gt)  # the same preparation and histograms as max_f_measure
    _, gt_mask = pair.sod
    tps, fps = pair.threshold_counts
    positives = np.where(tps + fps == 0, 1, tps + fps)
    precision = tps / positives
    recall = tps / max(np.count_nonzero(gt_mask), 1)
    numerator = (1 + beta2) * precision * recall
    denominator = np.where(numerator == 0, 1, beta2 * precision + recall)
    return numerator / denominator

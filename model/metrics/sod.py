"""Salient-object detection (SOD) metrics, as PySODMetrics computes them.

``mae``, ``s_measure``, ``e_measure``, ``weighted_f_measure``, ``max_f_measure`` reproduce
PySODMetrics (``py_sod_metrics`` 1.6.2, the reference implementation papers report with) to
floating-point precision, including its preparation of each pair (``Pair.sod``). That library
reads 8-bit grey images, so the float maps are first quantised the way an 8-bit PNG would store
them: ``u8 = round(x * 255)`` (numpy rounding, half to even). Then, as in PySODMetrics'
``prepare_data``:
  - gt becomes a bool mask ``u8_gt > 128`` (gt >= 129/255, a hair above 0.5);
  - pred becomes ``u8_pred / 255``, min-max normalised to [0, 1] when its max differs from its
    min (a constant prediction is left as it is).
So ``mae`` here is the SOD MAE (normalised pred against the binarised gt), which differs from
the matting ``mad`` (raw pred against raw alpha). The definitions:
  - ``mae``: mean |pred - gt| (Perazzi et al. 2012).
  - ``s_measure``: structure measure, alpha = 0.5 (Fan et al., ICCV 2017).
  - ``e_measure``: the *mean* E-measure: the enhanced-alignment measure of the prediction
    binarised at each of the 256 thresholds 0..255 of ``uint8(pred * 255)`` (``pred >= t``),
    averaged over thresholds (PySODMetrics ``Emeasure``'s "curve", averaged; Fan et al.,
    IJCAI 2018).
  - ``weighted_f_measure``: F^w_beta with beta = 1 (Margolin et al., CVPR 2014); 0 when gt is
    empty. Its Euclidean distance transform reproduces scipy's, nearest-pixel ties included.
  - ``max_f_measure``: the maximum over the same 256 thresholds of the F-measure with
    beta^2 = 0.3 (Achanta et al. 2009; PySODMetrics ``Fmeasure``'s curve, maximum): the max of
    ``f_measure_curve``. Note that papers' "maxF" is usually the max of the dataset-mean curve;
    averaging per-image maxima over a dataset is slightly higher. The evaluation pipeline
    reports both.
One deliberate deviation: PySODMetrics returns NaN for the S-measure when the foreground
centroid falls in the last row or column (an empty quadrant of weight 0 makes 0 * NaN); here
an empty quadrant contributes 0, so the value is finite and otherwise identical.
"""
from __future__ import annotations

import numpy as np

from model.metrics.ndimage import correlate1d, edt_sites
from model.metrics.pair import EPS as _EPS
from model.metrics.pair import Pair


def mae_of_pair(p: Pair) -> float:
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


def s_measure_of_pair(p: Pair) -> float:
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


def e_measure_of_pair(p: Pair) -> float:
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


def f_measure_curve_of_pair(p: Pair, beta2: float = 0.3) -> np.ndarray:
    """The F-measure at each of the 256 thresholds (element k: threshold 255 - k), as
    PySODMetrics' ``Fmeasure`` curve for this image."""
    _, gt = p.sod
    tps, fps = p.threshold_counts
    positives = tps + fps
    positives = np.where(positives == 0, 1, positives)
    n_gt = max(np.count_nonzero(gt), 1)
    precision = tps / positives
    recall = tps / n_gt
    numerator = (1 + beta2) * precision * recall
    denominator = np.where(numerator == 0, 1, beta2 * precision + recall)
    return numerator / denominator


def max_f_measure_of_pair(p: Pair) -> float:
    return float(np.max(f_measure_curve_of_pair(p)))


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
    return correlate1d(correlate1d(image, g, 0, "constant"), g, 1, "constant")


def weighted_f_measure_of_pair(p: Pair, beta: float = 1.0) -> float:
    pred, gt = p.sod
    if not gt.any():
        return 0.0
    dst, idx_row, idx_col = edt_sites(gt)
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

"""Boundary IoU (Cheng, Girshick, Dollar, Berg and Kirillov, "Boundary IoU: Improving
Object-Centric Image Segmentation Evaluation", CVPR 2021): the IoU of the two masks' inner
boundary bands, the pixels of each mask within d of its contour, d = 2% of the image diagonal.

It follows the authors' reference (bowenc0221/boundary-iou-api, `boundary_utils.py`):
`d = max(1, round(0.02 * sqrt(h^2 + w^2)))`; the band is the mask minus its erosion by d
iterations of a 3x3 square (an erosion by a (2d+1) x (2d+1) square), the image padded with
background first, so a mask cut by the image's border has a band there too; then
|band_pred & band_gt| / |band_pred | band_gt|. Masks are `x >= 0.5` as for `iou`. Unlike IoU it
does not forgive a ragged outline on a large subject: the band's area grows with the outline,
not the subject. Both masks empty (no band at all) gives 1.0, as `iou` does.

The erosion is separable (rows, then columns) and each 1-D erosion is "all 2d+1 pixels of the
window are foreground", read off cumulative sums: O(1) per pixel whatever d is.
"""
from __future__ import annotations

import numpy as np

from model.metrics.pair import Pair

DILATION_RATIO = 0.02


def band_width(height: int, width: int, ratio: float = DILATION_RATIO) -> int:
    """d in pixels: the reference's int(round(ratio * diagonal)), at least 1."""
    return max(1, int(round(ratio * np.sqrt(height ** 2 + width ** 2))))


def _erode_axis(mask: np.ndarray, d: int, axis: int) -> np.ndarray:
    """True where the whole window of 2d+1 pixels along `axis` is True (outside is False)."""
    n = mask.shape[axis]
    c = np.cumsum(mask, axis=axis, dtype=np.int32)
    zero = np.zeros_like(c[:1] if axis == 0 else c[:, :1])
    c = np.concatenate([zero, c], axis=axis)
    idx = np.arange(n)
    hi, lo = np.minimum(idx + d, n - 1) + 1, np.maximum(idx - d, 0)
    full = (idx - d >= 0) & (idx + d <= n - 1)     # windows that stay inside the image
    counts = np.take(c, hi, axis=axis) - np.take(c, lo, axis=axis)
    shape = (n, 1) if axis == 0 else (1, n)
    return (counts == 2 * d + 1) & full.reshape(shape)


def inner_band(mask: np.ndarray, d: int) -> np.ndarray:
    """The mask's pixels within chessboard distance d of the background (or of the border)."""
    mask = np.asarray(mask, dtype=bool)
    eroded = _erode_axis(_erode_axis(mask, d, 1), d, 0)
    return mask & ~eroded


def boundary_iou_of_pair(p: Pair) -> float:
    d = band_width(*p.gt.shape)
    pred_band = inner_band(p.pred >= 0.5, d)
    gt_band = inner_band(p.gt >= 0.5, d)
    union = int(np.count_nonzero(pred_band | gt_band))
    if union == 0:
        return 1.0
    return int(np.count_nonzero(pred_band & gt_band)) / union

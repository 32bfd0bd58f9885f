"""The metrics' input contract and the shared preparation of one (pred, gt) pair.

Every metric takes ``pred`` and ``gt``: real arrays of the same 2-D shape with values in [0, 1]
(bool and integer arrays holding only 0 and 1 are accepted too). Anything else raises
``ValueError`` (wrong ndim, shape mismatch, empty array, NaN, a value outside [0, 1]); a
non-numeric dtype raises ``TypeError``. A ``Pair`` validates once and derives each protocol's
inputs on first use, so scoring many metrics of one pair prepares it once.
"""
from __future__ import annotations

import numpy as np

# PySODMetrics' epsilon (MATLAB's eps), used exactly where it uses it.
EPS = np.spacing(1)


def as_unit_map(x, name: str) -> np.ndarray:
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


def to_uint8(x: np.ndarray) -> np.ndarray:
    """The 8-bit image a float map in [0, 1] becomes: round(x * 255), half to even."""
    return np.round(x * 255.0).astype(np.uint8)


class Pair:
    """One validated (pred, gt) pair; each protocol's inputs are derived once, on first use."""

    def __init__(self, pred, gt):
        self.pred = as_unit_map(pred, "pred")
        self.gt = as_unit_map(gt, "gt")
        if self.pred.shape != self.gt.shape:
            raise ValueError(
                f"pred and gt must have the same shape, got {self.pred.shape} and {self.gt.shape}")
        self._sod = None
        self._hist = None

    @property
    def sod(self) -> tuple[np.ndarray, np.ndarray]:
        """(pred, gt) as PySODMetrics' ``prepare_data`` makes them from the uint8 images."""
        if self._sod is None:
            gt = to_uint8(self.gt) > 128
            pred = to_uint8(self.pred) / 255
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
# Binary overlap: both maps thresholded at 0.5 (``x >= 0.5`` is foreground). When both masks
# are empty the prediction is exactly right and both metrics are 1.0 (the formulas give 0/0).
# --------------------------------------------------------------------------------------------

def _overlap(p: Pair) -> tuple[int, int, int]:
    pm = p.pred >= 0.5
    gm = p.gt >= 0.5
    return int(np.count_nonzero(pm & gm)), int(np.count_nonzero(pm)), int(np.count_nonzero(gm))


def iou_of_pair(p: Pair) -> float:
    inter, n_pred, n_gt = _overlap(p)
    union = n_pred + n_gt - inter
    return 1.0 if union == 0 else inter / union


def dice_of_pair(p: Pair) -> float:
    inter, n_pred, n_gt = _overlap(p)
    total = n_pred + n_gt
    return 1.0 if total == 0 else 2.0 * inter / total

"""The field's metrics for foreground masks and alpha mattes, on numpy arrays, and their registry.

Every metric takes ``pred`` and ``gt``: real arrays of the same 2-D shape with values in [0, 1]
(bool and integer arrays holding only 0 and 1 are accepted too), and returns a Python float.
Anything else raises ``ValueError`` (wrong ndim, shape mismatch, empty array, NaN, a value outside
[0, 1]); a non-numeric dtype raises ``TypeError`` (``pair.py``). ``score_all`` validates and
prepares a pair once and computes any subset of the metrics from it: the evaluation pipeline's
entry point. ``REGISTRY`` is the one table of them: name, function, and whether higher is better
(``higher_is_better("iou")``); ``METRICS`` maps each name to its function.

Pure numpy on purpose (no scipy, cv2 or skimage at run time): the distance transform, the
Gaussian filters and the connected components that the protocols need are in ``ndimage.py``.

Three protocols live here; which one a metric follows decides how it reads its inputs.
1. Binary overlap (``pair.py``): ``iou``, ``dice``. Both maps are thresholded at 0.5
   (``x >= 0.5`` is foreground). IoU = |P & G| / |P | G|, Dice = 2 |P & G| / (|P| + |G|); both
   1.0 when both masks are empty (the formulas would give 0/0). ``boundary_iou``
   (``boundary.py``, Cheng et al., CVPR 2021): the IoU of the bands within 2% of the image
   diagonal inside each mask's contour, so it grades the outline, not the bulk.
2. Salient-object detection (``sod.py``, PySODMetrics 1.6.2 to floating-point precision, on the
   8-bit, min-max normalised prediction and the gt binarised above 128/255): ``mae``,
   ``s_measure``, ``e_measure``, ``weighted_f_measure``, ``max_f_measure`` (the max of
   ``f_measure_curve``). So ``mae`` is the SOD MAE, not the matting ``mad``.
3. Matting (``matting.py``, the P3M-10K benchmark's code, on raw alpha): ``sad``, ``mse``,
   ``mad``, ``grad``, ``conn``. SAD, Grad and Conn grow with the image's size.

``baselines.py`` holds the trivial predictions (all foreground, a centred ellipse) that reports
score beside a model.
"""
from __future__ import annotations

from typing import Callable, Iterable, NamedTuple

import numpy as np

from model.metrics import matting, sod
from model.metrics.boundary import boundary_iou_of_pair
from model.metrics.baselines import (BASELINES, ELLIPSE_FRACTION, baseline_prediction,
                                     centred_ellipse)
from model.metrics.pair import Pair, dice_of_pair, iou_of_pair

__all__ = [
    "iou", "dice", "boundary_iou", "mae", "s_measure", "e_measure", "weighted_f_measure",
    "max_f_measure", "sad", "mse", "mad", "grad", "conn", "METRICS", "REGISTRY", "Metric",
    "higher_is_better", "score_all", "f_measure_curve", "BASELINES", "ELLIPSE_FRACTION",
    "baseline_prediction", "centred_ellipse",
]


def iou(pred, gt) -> float:
    """Intersection over union of the masks ``pred >= 0.5`` and ``gt >= 0.5``; 1.0 if both
    are empty. Higher is better."""
    return iou_of_pair(Pair(pred, gt))


def dice(pred, gt) -> float:
    """Dice coefficient (F1) of the masks ``pred >= 0.5`` and ``gt >= 0.5``; 1.0 if both are
    empty. Higher is better."""
    return dice_of_pair(Pair(pred, gt))


def boundary_iou(pred, gt) -> float:
    """Boundary IoU (Cheng et al., CVPR 2021): IoU of the masks' inner bands of width 2% of the
    image diagonal (``pred >= 0.5``, ``gt >= 0.5``); 1.0 if both are empty. Higher is better."""
    return boundary_iou_of_pair(Pair(pred, gt))


def mae(pred, gt) -> float:
    """SOD mean absolute error (PySODMetrics ``MAE``): min-max normalised 8-bit pred against
    the gt mask ``round(gt * 255) > 128``. Lower is better."""
    return sod.mae_of_pair(Pair(pred, gt))


def s_measure(pred, gt) -> float:
    """Structure measure S_alpha, alpha = 0.5 (PySODMetrics ``Smeasure``). Higher is better."""
    return sod.s_measure_of_pair(Pair(pred, gt))


def e_measure(pred, gt) -> float:
    """Mean enhanced-alignment measure over the thresholds 0..255 (PySODMetrics ``Emeasure``,
    mean of its curve). Higher is better."""
    return sod.e_measure_of_pair(Pair(pred, gt))


def weighted_f_measure(pred, gt) -> float:
    """Weighted F-measure F^w_1 (PySODMetrics ``WeightedFmeasure``); 0.0 for an empty gt.
    Higher is better."""
    return sod.weighted_f_measure_of_pair(Pair(pred, gt))


def max_f_measure(pred, gt) -> float:
    """Maximum over the thresholds 0..255 of the F-measure, beta^2 = 0.3 (PySODMetrics
    ``Fmeasure``, max of its curve for this image: ``f_measure_curve``). Higher is better."""
    return sod.max_f_measure_of_pair(Pair(pred, gt))


def sad(pred, gt) -> float:
    """P3M sum of absolute differences over the whole image, divided by 1000. Lower is better."""
    return matting.sad_of_pair(Pair(pred, gt))


def mse(pred, gt) -> float:
    """P3M mean squared error per pixel, on alpha in [0, 1]. Lower is better."""
    return matting.mse_of_pair(Pair(pred, gt))


def mad(pred, gt) -> float:
    """P3M mean absolute difference per pixel, on alpha in [0, 1]. Lower is better."""
    return matting.mad_of_pair(Pair(pred, gt))


def grad(pred, gt) -> float:
    """P3M gradient error: sum of squared differences of the Gaussian-derivative (sigma 1.4)
    gradient magnitudes, divided by 10 (P3M's scaling). Lower is better."""
    return matting.grad_of_pair(Pair(pred, gt))


def conn(pred, gt) -> float:
    """P3M connectivity error (threshold step 0.1), summed over the image, divided by 1000.
    Lower is better."""
    return matting.conn_of_pair(Pair(pred, gt))


def f_measure_curve(pred: np.ndarray, gt: np.ndarray, beta2: float = 0.3) -> np.ndarray:
    """One image's F-measure at each of the 256 thresholds; `max_f_measure` is its max.
    Averaged over a dataset, its max is the papers' maxF."""
    return sod.f_measure_curve_of_pair(Pair(pred, gt), beta2)


class Metric(NamedTuple):
    """One row of the registry."""
    name: str
    function: Callable[[np.ndarray, np.ndarray], float]
    higher_is_better: bool
    of_pair: Callable[[Pair], float]   # the same metric on a prepared Pair (for score_all)


# The one table of metrics, in the order reports list them.
REGISTRY: dict[str, Metric] = {m.name: m for m in (
    Metric("iou", iou, True, iou_of_pair),
    Metric("dice", dice, True, dice_of_pair),
    Metric("boundary_iou", boundary_iou, True, boundary_iou_of_pair),
    Metric("mae", mae, False, sod.mae_of_pair),
    Metric("s_measure", s_measure, True, sod.s_measure_of_pair),
    Metric("e_measure", e_measure, True, sod.e_measure_of_pair),
    Metric("weighted_f_measure", weighted_f_measure, True, sod.weighted_f_measure_of_pair),
    Metric("max_f_measure", max_f_measure, True, sod.max_f_measure_of_pair),
    Metric("sad", sad, False, matting.sad_of_pair),
    Metric("mse", mse, False, matting.mse_of_pair),
    Metric("mad", mad, False, matting.mad_of_pair),
    Metric("grad", grad, False, matting.grad_of_pair),
    Metric("conn", conn, False, matting.conn_of_pair),
)}

METRICS: dict[str, Callable[[np.ndarray, np.ndarray], float]] = {
    name: m.function for name, m in REGISTRY.items()}


def higher_is_better(name: str) -> bool:
    """Whether a larger value of the metric `name` is a better prediction (KeyError if unknown)."""
    return REGISTRY[name].higher_is_better


def score_all(pred, gt, names: Iterable[str] | None = None) -> dict[str, float]:
    """Every metric named in ``names`` (default: all of ``REGISTRY``, in its order) for one pair.

    The pair is validated and converted once; the SOD preparation and threshold histogram are
    shared by the metrics that use them. Unknown names raise ``ValueError``.
    """
    if names is None:
        selected = list(REGISTRY)
    elif isinstance(names, str):
        selected = [names]
    else:
        selected = list(names)
    unknown = [n for n in selected if n not in REGISTRY]
    if unknown:
        raise ValueError(f"unknown metric name(s) {unknown}; known: {sorted(REGISTRY)}")
    pair = Pair(pred, gt)
    return {name: REGISTRY[name].of_pair(pair) for name in selected}

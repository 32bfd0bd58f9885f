"""Matting metrics: the P3M-10K benchmark's whole-image evaluation (Li et al., "Privacy-Preserving
Portrait Matting", ACM MM 2021, ``core/evaluate.py``), on the raw alpha values in [0, 1] (no
quantisation, no normalisation):
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

import numpy as np

from model.metrics.ndimage import correlate1d, largest_component
from model.metrics.pair import Pair


def sad_of_pair(p: Pair) -> float:
    return float(np.sum(np.abs(p.pred - p.gt)) / 1000)


def mse_of_pair(p: Pair) -> float:
    return float(np.mean((p.pred - p.gt) ** 2))


def mad_of_pair(p: Pair) -> float:
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
    gx = correlate1d(correlate1d(a, derivative, 0, "symmetric").astype(f32), smooth, 1,
                      "symmetric").astype(f32)
    gy = correlate1d(correlate1d(a, smooth, 0, "symmetric").astype(f32), derivative, 1,
                      "symmetric").astype(f32)
    return np.sqrt(gx ** 2 + gy ** 2)


def grad_of_pair(p: Pair) -> float:
    error = np.square(_gradient_magnitude(p.pred) - _gradient_magnitude(p.gt))
    return float(np.sum(error) / 10)


def conn_of_pair(p: Pair, step: float = 0.1) -> float:
    pred, gt = p.pred, p.gt
    thresholds = np.arange(0, 1.1, step)
    level = np.full(pred.shape, -1, dtype=np.float32)
    for i in range(1, thresholds.size):
        omega = largest_component((pred >= thresholds[i]) & (gt >= thresholds[i]))
        if omega is None:
            continue
        level[(level == -1) & ~omega] = thresholds[i - 1]
    level[level == -1] = 1
    d_pred = pred - level
    d_gt = gt - level
    phi_pred = 1 - d_pred * (d_pred >= 0.15).astype(np.float32)
    phi_gt = 1 - d_gt * (d_gt >= 0.15).astype(np.float32)
    return float(np.sum(np.abs(phi_pred - phi_gt)) / 1000)

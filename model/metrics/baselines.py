"""Trivial predictions scored beside a model, so a model that learned nothing is obvious: what a
metric's value means depends on the data, and these give each report its floor."""
from __future__ import annotations

import numpy as np

BASELINES = ("all_foreground", "centred_ellipse")
ELLIPSE_FRACTION = 0.8            # the ellipse spans the middle 80% of each side


def centred_ellipse(height: int, width: int, fraction: float = ELLIPSE_FRACTION) -> np.ndarray:
    """The centred-ellipse baseline: 1.0 inside an ellipse centred in the frame whose axes span
    `fraction` of the height and width, 0.0 elsewhere (float32 [height, width])."""
    y = (np.arange(height, dtype=np.float64) + 0.5 - height / 2) / (fraction * height / 2)
    x = (np.arange(width, dtype=np.float64) + 0.5 - width / 2) / (fraction * width / 2)
    return ((y[:, None] ** 2 + x[None, :] ** 2) <= 1.0).astype(np.float32)


def baseline_prediction(name: str, height: int, width: int) -> np.ndarray:
    """The baseline `name` (one of BASELINES) for a ground truth of this size."""
    if name == "all_foreground":
        return np.ones((height, width), np.float32)
    if name == "centred_ellipse":
        return centred_ellipse(height, width)
    raise ValueError(f"unknown baseline {name!r}")

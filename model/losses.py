"""Loss and training metrics for soft alpha masks (targets in [0, 1], not just 0/1).

- `BceDiceLoss`: binary cross-entropy written as KL(target || prediction), i.e. BCE minus the
  target's own entropy (same gradient as plain BCE, but exactly 0 for a perfect prediction even
  when the target is soft), plus a soft Dice loss with squared terms in the denominator
  (Milletari et al.'s V-Net form: 1 - 2*sum(y*p) / (sum(y^2) + sum(p^2))), which is also exactly 0
  at p == y for soft targets; the linear-denominator form is not. BCE drives every pixel, Dice
  keeps small foregrounds from being drowned by the background. Its batch reduction is
  `mean_with_sample_weight`, sum(w * loss) / sum(w) (Keras' default divides by the batch size),
  for padded validation batches (`model.data.make_eval_dataset`); without weights (training)
  both are the plain batch mean.
  `boundary_weight` w > 0 weighs the BCE pixels by 1 + w * band, where band is 1 within
  `boundary_width` pixels of the target's edge (the dilation minus the erosion of the target,
  soft for soft targets): on people the hard pixels are the outline (hair, arms, the gap
  between legs), a few % of the image that an unweighted mean drowns. Still 0 at p == y.
- `ThresholdedIoU` ("iou"): both masks thresholded at 0.5, IoU per image, averaged over images
  (an image where both are empty scores 1). `MaskMAD` ("mad"): mean absolute difference of the
  raw alphas per image, averaged over images: `model.metrics.mad`, not evaluate's `mae` (the
  salient-object MAE). Both honour per-image sample weights.

Everything is computed in float32, so it is the same under mixed precision.
"""
from __future__ import annotations

import keras
from keras import ops

EPSILON = 1e-6
DICE_SMOOTH = 1.0   # keeps an empty target with an almost empty prediction near 0 loss


def _flatten(y_true, y_pred):
    y_true = ops.cast(y_true, "float32")
    y_pred = ops.cast(y_pred, "float32")
    batch = ops.shape(y_pred)[0]
    return ops.reshape(y_true, (batch, -1)), ops.reshape(y_pred, (batch, -1))


def boundary_band(y_true, width: int):
    """[N, H, W, 1] in [0, 1]: max - min of the target over a (2 * width + 1) square window,
    i.e. 1 within `width` pixels of an edge of a hard mask, 0 far inside or outside."""
    y = ops.cast(y_true, "float32")
    size = 2 * int(width) + 1
    dilated = ops.max_pool(y, size, strides=1, padding="same")
    eroded = -ops.max_pool(-y, size, strides=1, padding="same")
    return dilated - eroded


def soft_bce(y_true, y_pred, pixel_weights=None):
    """Per-image mean of KL(y || p) = BCE(y, p) - H(y); [N]. 0 when p == y. With
    `pixel_weights` (shaped like y), the weighted mean sum(w * kl) / sum(w) per image."""
    y, p = _flatten(y_true, y_pred)
    p = ops.clip(p, EPSILON, 1.0 - EPSILON)
    yc = ops.clip(y, EPSILON, 1.0 - EPSILON)
    kl = y * (ops.log(yc) - ops.log(p)) + (1.0 - y) * (ops.log(1.0 - yc) - ops.log(1.0 - p))
    if pixel_weights is None:
        return ops.mean(kl, axis=1)
    w = ops.reshape(ops.cast(pixel_weights, "float32"), ops.shape(kl))
    return ops.sum(w * kl, axis=1) / ops.sum(w, axis=1)


def soft_dice_loss(y_true, y_pred, smooth: float = DICE_SMOOTH):
    """Per-image 1 - (2*sum(y*p) + s) / (sum(y^2) + sum(p^2) + s); [N]."""
    y, p = _flatten(y_true, y_pred)
    inter = ops.sum(y * p, axis=1)
    denom = ops.sum(y * y, axis=1) + ops.sum(p * p, axis=1)
    return 1.0 - (2.0 * inter + smooth) / (denom + smooth)


@keras.saving.register_keras_serializable(package="cutout")
class BceDiceLoss(keras.losses.Loss):
    """soft_bce (boundary-weighted when boundary_weight > 0) + dice_weight * soft_dice_loss,
    per image; averaged over the batch with the sample weights (no weights: the plain mean)."""

    def __init__(self, dice_weight: float = 1.0, boundary_weight: float = 0.0,
                 boundary_width: int = 3, name: str = "bce_dice",
                 reduction: str = "mean_with_sample_weight", **kwargs):
        super().__init__(name=name, reduction=reduction, **kwargs)
        self.dice_weight = float(dice_weight)
        self.boundary_weight = float(boundary_weight)
        self.boundary_width = int(boundary_width)

    def call(self, y_true, y_pred):
        weights = None
        if self.boundary_weight > 0:
            weights = 1.0 + self.boundary_weight * boundary_band(y_true, self.boundary_width)
        return (soft_bce(y_true, y_pred, weights)
                + self.dice_weight * soft_dice_loss(y_true, y_pred))

    def get_config(self):
        return {**super().get_config(), "dice_weight": self.dice_weight,
                "boundary_weight": self.boundary_weight, "boundary_width": self.boundary_width}


def _per_image_weights(sample_weight, batch):
    if sample_weight is None:
        return ops.ones((batch,), "float32")
    return ops.reshape(ops.cast(sample_weight, "float32"), (batch,))


class _PerImageMean(keras.metrics.Metric):
    """Weighted mean over images of a per-image score."""

    def __init__(self, name, **kwargs):
        super().__init__(name=name, **kwargs)
        self.total = self.add_variable(shape=(), initializer="zeros", name="total")
        self.count = self.add_variable(shape=(), initializer="zeros", name="count")

    def per_image(self, y, p):
        raise NotImplementedError

    def update_state(self, y_true, y_pred, sample_weight=None):
        y, p = _flatten(y_true, y_pred)
        w = _per_image_weights(sample_weight, ops.shape(p)[0])
        self.total.assign_add(ops.sum(self.per_image(y, p) * w))
        self.count.assign_add(ops.sum(w))

    def result(self):
        return ops.divide_no_nan(self.total, self.count)

    def reset_state(self):
        self.total.assign(0.0)
        self.count.assign(0.0)


@keras.saving.register_keras_serializable(package="cutout")
class ThresholdedIoU(_PerImageMean):
    """Mean over images of IoU(y >= t, p >= t); 1 where both masks are empty."""

    def __init__(self, threshold: float = 0.5, name: str = "iou", **kwargs):
        super().__init__(name=name, **kwargs)
        self.threshold = float(threshold)

    def per_image(self, y, p):
        yb = ops.cast(y >= self.threshold, "float32")
        pb = ops.cast(p >= self.threshold, "float32")
        inter = ops.sum(yb * pb, axis=1)
        union = ops.sum(ops.maximum(yb, pb), axis=1)
        return ops.where(union > 0, inter / ops.maximum(union, 1.0), 1.0)

    def get_config(self):
        return {**super().get_config(), "threshold": self.threshold}


@keras.saving.register_keras_serializable(package="cutout")
class MaskMAD(_PerImageMean):
    """Mean over images of mean |y - p| (alpha on the 0..1 scale)."""

    def __init__(self, name: str = "mad", **kwargs):
        super().__init__(name=name, **kwargs)

    def per_image(self, y, p):
        return ops.mean(ops.abs(y - p), axis=1)


def make_loss(boundary_weight: float = 0.0, boundary_width: int = 3) -> keras.losses.Loss:
    return BceDiceLoss(boundary_weight=boundary_weight, boundary_width=boundary_width)


def make_metrics() -> list[keras.metrics.Metric]:
    return [ThresholdedIoU(), MaskMAD()]

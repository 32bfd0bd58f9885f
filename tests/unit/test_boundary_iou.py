"""Boundary IoU against the reference's steps done by hand (3x3 erosions iterated d times on a
zero-padded mask, as boundary-iou-api does with cv2), and on constructed cases."""
import numpy as np
import pytest

from model import metrics
from model.metrics.boundary import band_width, inner_band


def band_by_iterated_erosion(mask, d):
    h, w = mask.shape
    m = np.pad(mask.astype(bool), 1)
    for _ in range(d):
        p = np.pad(m, 1, constant_values=True)   # cv2's border value for erosion: no effect
        m = np.logical_and.reduce([p[1 + dy:h + 3 + dy, 1 + dx:w + 3 + dx]
                                   for dy in (-1, 0, 1) for dx in (-1, 0, 1)])
    return mask.astype(bool) & ~m[1:h + 1, 1:w + 1]


def boundary_iou_reference(pred, gt):
    d = max(1, int(round(0.02 * np.sqrt(gt.shape[0] ** 2 + gt.shape[1] ** 2))))
    bp, bg = band_by_iterated_erosion(pred >= 0.5, d), band_by_iterated_erosion(gt >= 0.5, d)
    union = (bp | bg).sum()
    return 1.0 if union == 0 else (bp & bg).sum() / union


@pytest.mark.parametrize("d", [1, 2, 5])
def test_band_matches_iterated_erosion(d):
    rng = np.random.default_rng(d)
    mask = rng.random((23, 31)) < 0.7
    mask[5:15, 8:25] = True
    np.testing.assert_array_equal(inner_band(mask, d), band_by_iterated_erosion(mask, d))


@pytest.mark.parametrize("seed", range(4))
def test_boundary_iou_matches_the_reference(seed):
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:90, 0:120]
    gt = (((yy - 45) / 30.0) ** 2 + ((xx - 60) / 40.0) ** 2 < 1).astype(float)
    pred = np.clip(np.roll(gt, rng.integers(-6, 7, 2), axis=(0, 1))
                   + rng.normal(0, 0.3, gt.shape), 0, 1)
    assert metrics.boundary_iou(pred, gt) == pytest.approx(boundary_iou_reference(pred, gt))


def test_band_width_is_two_percent_of_the_diagonal():
    assert band_width(1440, 1080) == 36
    assert band_width(3, 4) == 1          # at least one pixel


def test_constructed_cases():
    gt = np.zeros((100, 100))
    gt[20:80, 20:80] = 1                  # d = round(0.02 * 141.4) = 3
    assert metrics.boundary_iou(gt, gt) == 1.0
    assert metrics.boundary_iou(np.zeros_like(gt), np.zeros_like(gt)) == 1.0
    assert metrics.boundary_iou(np.zeros_like(gt), gt) == 0.0
    # a 1-pixel shift: the bands (3 wide) overlap mostly, IoU of the whole squares barely moves
    shifted = np.roll(gt, 1, axis=1)
    b = metrics.boundary_iou(shifted, gt)
    assert 0.5 < b < metrics.iou(shifted, gt) < 1.0
    # a ragged outline costs boundary IoU far more than IoU
    ragged = gt.copy()
    ragged[20:80:2, 20:23] = 0
    assert metrics.iou(ragged, gt) > 0.97 and metrics.boundary_iou(ragged, gt) < 0.75
    # a mask cut by the image border has its band along the border too
    full = np.ones((50, 50))
    assert inner_band(full >= 0.5, 1).sum() == 50 * 4 - 4


def test_registered_higher_is_better():
    assert metrics.higher_is_better("boundary_iou")
    assert "boundary_iou" in metrics.score_all(np.ones((4, 4)), np.ones((4, 4)))

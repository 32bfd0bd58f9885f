"""model.metrics against the field's reference code.

SOD metrics are compared with PySODMetrics (a test-only dependency) on the same 8-bit maps;
matting metrics are checked on hand-computed cases and against P3M-10K's evaluation code, copied
below and run with scipy/scikit-image (which PySODMetrics brings; the module itself uses neither).
"""
from __future__ import annotations

import warnings

import numpy as np
import py_sod_metrics
import pytest
from scipy.ndimage import distance_transform_edt, gaussian_filter
from skimage.measure import label, regionprops

from model import metrics
from model.metrics.ndimage import edt_sites

SOD_NAMES = ["mae", "s_measure", "e_measure", "weighted_f_measure", "max_f_measure"]
MATTING_NAMES = ["sad", "mse", "mad", "grad", "conn"]


# --------------------------------------------------------------------------------------------
# Reference implementations
# --------------------------------------------------------------------------------------------

def to_uint8(x):
    """The documented conversion of a float map to the 8-bit image PySODMetrics reads."""
    return np.round(np.asarray(x, dtype=np.float64) * 255).astype(np.uint8)


def pysod_scores(pred, gt) -> dict[str, float]:
    p8, g8 = to_uint8(pred), to_uint8(gt)
    with warnings.catch_warnings():
        # Fmeasure warns that FmeasureV2 will replace it; Smeasure warns on its NaN case.
        warnings.simplefilter("ignore")
        mae = py_sod_metrics.MAE()
        sm = py_sod_metrics.Smeasure()
        em = py_sod_metrics.Emeasure()
        wfm = py_sod_metrics.WeightedFmeasure()
        fm = py_sod_metrics.Fmeasure()
        for evaluator in (mae, sm, em, wfm, fm):
            evaluator.step(p8, g8)
    return {
        "mae": float(mae.get_results()["mae"]),
        "s_measure": float(sm.get_results()["sm"]),
        "e_measure": float(np.mean(em.get_results()["em"]["curve"])),
        "weighted_f_measure": float(wfm.get_results()["wfm"]),
        "max_f_measure": float(np.max(fm.get_results()["fm"]["curve"])),
    }


def p3m_grad(pd, gt):
    """P3M-10K core/evaluate.py compute_gradient_whole_image."""
    pd_x = gaussian_filter(pd, sigma=1.4, order=[1, 0], output=np.float32)
    pd_y = gaussian_filter(pd, sigma=1.4, order=[0, 1], output=np.float32)
    gt_x = gaussian_filter(gt, sigma=1.4, order=[1, 0], output=np.float32)
    gt_y = gaussian_filter(gt, sigma=1.4, order=[0, 1], output=np.float32)
    pd_mag = np.sqrt(pd_x ** 2 + pd_y ** 2)
    gt_mag = np.sqrt(gt_x ** 2 + gt_y ** 2)
    return float(np.sum(np.square(pd_mag - gt_mag)) / 10)


def p3m_conn(pd, gt, step=0.1):
    """P3M-10K core/evaluate.py compute_connectivity_loss_whole_image (its unused distance
    map and lambda map left out)."""
    h, w = pd.shape
    thresh_steps = np.arange(0, 1.1, step)
    l_map = -1 * np.ones((h, w), dtype=np.float32)
    for i in range(1, thresh_steps.size):
        pd_th = pd >= thresh_steps[i]
        gt_th = gt >= thresh_steps[i]
        label_image = label(pd_th & gt_th, connectivity=1)
        cc = regionprops(label_image)
        size_vec = np.array([c.area for c in cc])
        if len(size_vec) == 0:
            continue
        max_id = np.argmax(size_vec)
        coords = cc[max_id].coords
        omega = np.zeros((h, w), dtype=np.float32)
        omega[coords[:, 0], coords[:, 1]] = 1
        flag = (l_map == -1) & (omega == 0)
        l_map[flag == 1] = thresh_steps[i - 1]
    l_map[l_map == -1] = 1
    d_pd = pd - l_map
    d_gt = gt - l_map
    phi_pd = 1 - d_pd * (d_pd >= 0.15).astype(np.float32)
    phi_gt = 1 - d_gt * (d_gt >= 0.15).astype(np.float32)
    return float(np.sum(np.abs(phi_pd - phi_gt)) / 1000)


# --------------------------------------------------------------------------------------------
# Synthetic maps
# --------------------------------------------------------------------------------------------

def ellipse(h, w, cy, cx, ry, rx):
    yy, xx = np.ogrid[:h, :w]
    return (((yy - cy) / ry) ** 2 + ((xx - cx) / rx) ** 2 <= 1).astype(np.float64)


def box_blur(x, radius, passes=2):
    k = np.ones(2 * radius + 1) / (2 * radius + 1)
    for _ in range(passes):
        for axis in (0, 1):
            x = np.apply_along_axis(
                lambda v: np.convolve(np.pad(v, radius, mode="edge"), k, mode="valid"), axis, x)
    return np.clip(x, 0.0, 1.0)


def shapes_gt(h=48, w=64):
    gt = ellipse(h, w, h * 0.45, w * 0.4, h * 0.3, w * 0.22)
    gt[int(h * 0.6):int(h * 0.9), int(w * 0.65):int(w * 0.9)] = 1.0
    return gt


def sod_cases():
    rng = np.random.default_rng(20240611)
    h, w = 48, 64
    gt = shapes_gt(h, w)
    blurred = box_blur(np.roll(gt, (2, -3), axis=(0, 1)), 2)
    soft_gt = box_blur(gt, 3)  # P3M-like soft alpha: values around 0.5 test the gt > 128 rule
    diamond = (np.abs(np.arange(31)[:, None] - 15) + np.abs(np.arange(31)[None, :] - 15) <= 6)
    lines = np.zeros((40, 40))
    lines[::7, :] = 1.0
    lines[:, 5] = 1.0
    checker = (np.add.outer(np.arange(20), np.arange(24)) % 2).astype(np.float64)
    near_constant = np.full((h, w), 0.5)
    near_constant[rng.random((h, w)) < 0.05] = 0.5 + 1 / 255
    return {
        "random_soft": (rng.random((h, w)), gt),
        "blurred_shapes": (blurred, gt),
        "noisy_shapes": (np.clip(gt * 0.7 + rng.normal(0.15, 0.25, (h, w)), 0, 1), gt),
        "soft_gt": (np.clip(soft_gt + rng.normal(0, 0.1, (h, w)), 0, 1), soft_gt),
        "near_constant_pred": (near_constant, gt),
        "constant_pred": (np.full((h, w), 0.3), gt),
        "empty_gt": (blurred, np.zeros((h, w))),
        "empty_gt_empty_pred": (np.zeros((h, w)), np.zeros((h, w))),
        "full_gt": (blurred, np.ones((h, w))),
        "full_gt_full_pred": (np.ones((h, w)), np.ones((h, w))),
        "empty_pred": (np.zeros((h, w)), gt),
        "full_pred": (np.ones((h, w)), gt),
        "binary_pred": ((blurred > 0.5).astype(np.float64), gt),
        "perfect_pred": (gt.copy(), gt),
        "inverted_pred": (1.0 - gt, gt),
        "diamond_ties": (box_blur(diamond.astype(float), 1), diamond.astype(float)),
        "thin_lines": (rng.random((40, 40)) * 0.6 + lines * 0.4, lines),
        "checkerboard": (rng.random((20, 24)), checker),
        "tiny": (np.array([[0.2, 0.9, 0.4], [0.7, 0.1, 1.0]]), np.array([[0, 1, 0], [1, 0, 0.]])),
        "single_pixel_gt": (rng.random((9, 11)), np.pad(np.ones((1, 1)), ((4, 4), (5, 5)))),
        "portrait_320": (box_blur(np.roll(ellipse(320, 320, 190, 160, 120, 90), 6, axis=1), 4),
                         ellipse(320, 320, 190, 160, 120, 90)),
    }


SOD_CASES = sod_cases()


# --------------------------------------------------------------------------------------------
# SOD metrics: PySODMetrics' protocol
# --------------------------------------------------------------------------------------------

@pytest.mark.parametrize("case", sorted(SOD_CASES))
def test_sod_metrics_match_pysodmetrics(case):
    pred, gt = SOD_CASES[case]
    expected = pysod_scores(pred, gt)
    got = metrics.score_all(pred, gt, SOD_NAMES)
    for name in SOD_NAMES:
        assert got[name] == pytest.approx(expected[name], abs=1e-4), name
        assert got[name] == pytest.approx(metrics.METRICS[name](pred, gt), abs=1e-12), name


def test_sod_metrics_match_pysodmetrics_on_many_random_pairs():
    rng = np.random.default_rng(7)
    for _ in range(40):
        h, w = rng.integers(3, 40, size=2)
        gt = ellipse(h, w, rng.uniform(0, h), rng.uniform(0, w),
                     rng.uniform(1, h), rng.uniform(1, w))
        if rng.random() < 0.3:
            gt = (rng.random((h, w)) < rng.uniform(0.05, 0.6)).astype(np.float64)
        pred = np.clip(gt * rng.uniform(0, 1) + rng.normal(0, rng.uniform(0.01, 0.5), (h, w)), 0, 1)
        expected = pysod_scores(pred, gt)
        got = metrics.score_all(pred, gt, SOD_NAMES)
        for name in SOD_NAMES:
            if np.isnan(expected[name]):  # S-measure's empty-quadrant case, tested below
                continue
            assert got[name] == pytest.approx(expected[name], abs=1e-4), name


def test_sod_metrics_hit_their_ideal_values_on_a_perfect_prediction():
    gt = shapes_gt()
    s = metrics.score_all(gt, gt, SOD_NAMES)
    assert s["mae"] == 0.0
    assert s["s_measure"] == pytest.approx(1.0)
    assert s["weighted_f_measure"] == pytest.approx(1.0)
    assert s["max_f_measure"] == pytest.approx(1.0)
    # A binary map's E-measure curve is 1 at every threshold but 0, where all is foreground.
    assert 0.99 < s["e_measure"] <= 1.0


def test_gt_is_binarised_above_128_of_255():
    pred = np.array([[1.0, 0.0]])
    # 128/255 stays background, 129/255 becomes foreground (PySODMetrics: gt > 128).
    assert metrics.mae(pred, np.array([[128 / 255, 0.0]])) == pytest.approx(0.5)
    assert metrics.mae(pred, np.array([[129 / 255, 0.0]])) == pytest.approx(0.0)


def test_s_measure_with_centroid_on_last_column_is_finite_where_pysodmetrics_gives_nan():
    rng = np.random.default_rng(3)
    pred = rng.random((8, 9))
    gt = np.zeros((8, 9))
    gt[2:6, 8] = 1.0  # the foreground centroid rounds onto the last column: empty quadrants
    assert np.isnan(pysod_scores(pred, gt)["s_measure"])
    # Expected: PySODMetrics' own pieces, with the empty (zero-weight) quadrants left out.
    ref = py_sod_metrics.Smeasure()
    p = to_uint8(pred) / 255
    p = (p - p.min()) / (p.max() - p.min())
    g = to_uint8(gt) > 128
    cy, cx = np.argwhere(g).mean(axis=0).round()
    cy, cx = int(cy) + 1, int(cx) + 1
    h, w = g.shape
    assert cx == w
    region = (ref.ssim(p[:cy, :cx], g[:cy, :cx]) * cy * cx / (h * w)
              + ref.ssim(p[cy:, :cx], g[cy:, :cx]) * (h - cy) * cx / (h * w))
    expected = max(0.0, 0.5 * ref.object(p, g) + 0.5 * region)
    got = metrics.s_measure(pred, gt)
    assert np.isfinite(got)
    assert got == pytest.approx(expected, abs=1e-12)


def test_distance_transform_matches_scipy_including_ties():
    rng = np.random.default_rng(11)
    masks = []
    for _ in range(60):
        h, w = rng.integers(1, 35, size=2)
        masks.append(rng.random((h, w)) < rng.choice([0.01, 0.05, 0.3, 0.8]))
    diamond = np.abs(np.arange(25)[:, None] - 12) + np.abs(np.arange(25)[None, :] - 12) <= 5
    grid = np.zeros((30, 33), bool)
    grid[::6, ::5] = True
    masks += [diamond, grid, np.eye(17, dtype=bool), SOD_CASES["portrait_320"][1] > 0.5]
    for sites in masks:
        if not sites.any():
            continue
        dist, rows, cols = edt_sites(sites)
        expected_dist, (expected_rows, expected_cols) = distance_transform_edt(
            ~sites, return_indices=True)
        np.testing.assert_array_equal(rows, expected_rows)
        np.testing.assert_array_equal(cols, expected_cols)
        np.testing.assert_array_equal(dist, expected_dist)


# --------------------------------------------------------------------------------------------
# IoU and Dice
# --------------------------------------------------------------------------------------------

def test_iou_and_dice_hand_computed():
    pred = np.array([[0.9, 0.6, 0.1],
                     [0.5, 0.49, 0.0]])  # foreground (>= 0.5): (0,0), (0,1), (1,0)
    gt = np.array([[1.0, 0.0, 0.0],
                   [1.0, 1.0, 0.0]])      # foreground: (0,0), (1,0), (1,1)
    # intersection 2, union 4, sizes 3 + 3
    assert metrics.iou(pred, gt) == pytest.approx(2 / 4)
    assert metrics.dice(pred, gt) == pytest.approx(2 * 2 / 6)


def test_iou_and_dice_edge_cases():
    empty = np.zeros((4, 5))
    some = np.zeros((4, 5))
    some[1:3, 1:4] = 1.0
    assert metrics.iou(empty, empty) == 1.0  # both empty: defined as a perfect score
    assert metrics.dice(empty, empty) == 1.0
    assert metrics.iou(empty, some) == 0.0
    assert metrics.dice(some, empty) == 0.0
    assert metrics.iou(some, some) == 1.0
    assert metrics.dice(some * 0.7, some) == 1.0  # 0.7 >= 0.5 counts as foreground
    half = np.full((1, 2), 0.5)
    assert metrics.iou(half, np.ones((1, 2))) == 1.0  # exactly 0.5 is foreground


def test_bool_and_integer_masks_are_accepted():
    gt = np.array([[True, False], [True, True]])
    pred = np.array([[1, 0], [0, 1]], dtype=np.uint8)
    assert metrics.iou(pred, gt) == pytest.approx(2 / 3)
    assert isinstance(metrics.iou(pred, gt), float)


# --------------------------------------------------------------------------------------------
# Matting metrics: P3M-10K's protocol
# --------------------------------------------------------------------------------------------

def test_sad_mse_mad_hand_computed():
    gt = np.zeros((20, 50))  # 1000 pixels
    pred = np.full((20, 50), 0.25)
    assert metrics.sad(pred, gt) == pytest.approx(250 / 1000)
    assert metrics.mse(pred, gt) == pytest.approx(0.0625)
    assert metrics.mad(pred, gt) == pytest.approx(0.25)

    gt = np.full((40, 40), 0.2)
    pred = gt.copy()
    pred[:10, :10] = 0.7  # 100 pixels off by 0.5
    assert metrics.sad(pred, gt) == pytest.approx(100 * 0.5 / 1000)
    assert metrics.mse(pred, gt) == pytest.approx(100 * 0.25 / 1600)
    assert metrics.mad(pred, gt) == pytest.approx(100 * 0.5 / 1600)


def test_identical_maps_have_zero_matting_error():
    for gt in (box_blur(shapes_gt(), 3), shapes_gt(), np.zeros((9, 7)), np.ones((9, 7))):
        for name in MATTING_NAMES:
            assert metrics.METRICS[name](gt, gt) == 0.0, name


def test_grad_ignores_flat_offsets():
    # Two flat maps have no gradient anywhere, whatever their levels.
    flat = metrics.grad(np.full((12, 15), 0.3), np.full((12, 15), 0.9))
    assert flat == pytest.approx(0.0, abs=1e-9)


def test_conn_hand_computed():
    gt = np.ones((6, 6))
    pred = np.ones((6, 6))
    pred[2, 3] = 0.0
    # Every threshold's largest common component misses (2, 3), so its level is 0 there and 1
    # elsewhere: phi_pred = 1, phi_gt = 1 - (1 - 0) = 0 at that pixel, equal elsewhere.
    assert metrics.conn(pred, gt) == pytest.approx(1 / 1000)
    # The connectivity error is blind to a prediction with no overlap at any threshold.
    assert metrics.conn(np.zeros((6, 6)), gt) == pytest.approx(0.0)


def test_matting_metrics_match_p3m_code():
    rng = np.random.default_rng(5)
    pairs = []
    for i in range(30):
        h, w = rng.integers(1, 45, size=2)
        gt = rng.random((h, w))
        if i % 3 == 0:
            gt = (gt > 0.5).astype(np.float64)
        elif i % 3 == 1:
            gt = np.round(gt * 255) / 255
        pred = np.clip(gt + rng.normal(0, rng.choice([0.05, 0.3, 1.0]), (h, w)), 0, 1)
        pairs.append((pred, gt))
    soft = box_blur(shapes_gt(), 3)
    pairs.append((np.clip(np.roll(soft, 3, axis=1) + rng.normal(0, 0.05, soft.shape), 0, 1), soft))
    pairs.append(SOD_CASES["portrait_320"])
    for pred, gt in pairs:
        got = metrics.score_all(pred, gt, MATTING_NAMES)
        assert got["sad"] == pytest.approx(np.sum(np.abs(pred - gt)) / 1000, rel=1e-12)
        assert got["mse"] == pytest.approx(np.mean((pred - gt) ** 2), rel=1e-12)
        assert got["mad"] == pytest.approx(np.mean(np.abs(pred - gt)), rel=1e-12)
        assert got["grad"] == pytest.approx(p3m_grad(pred, gt), rel=1e-5, abs=1e-9)
        assert got["conn"] == pytest.approx(p3m_conn(pred, gt), rel=1e-9, abs=1e-12)


def test_worse_predictions_score_worse():
    rng = np.random.default_rng(9)
    gt = box_blur(shapes_gt(96, 128), 3)
    good = np.clip(gt + rng.normal(0, 0.03, gt.shape), 0, 1)
    bad = np.clip(np.roll(gt, (4, 6), axis=(0, 1)) + rng.normal(0, 0.25, gt.shape), 0, 1)
    s_good = metrics.score_all(good, gt)
    s_bad = metrics.score_all(bad, gt)
    for name in MATTING_NAMES + ["mae"]:
        assert s_bad[name] > s_good[name], name  # errors: lower is better
    for name in ["iou", "dice", "s_measure", "e_measure", "weighted_f_measure", "max_f_measure"]:
        assert s_bad[name] < s_good[name], name  # scores: higher is better


# --------------------------------------------------------------------------------------------
# Registry, score_all and validation
# --------------------------------------------------------------------------------------------

def test_registry_names_are_function_names():
    assert list(metrics.METRICS) == ["iou", "dice", "boundary_iou"] + SOD_NAMES + MATTING_NAMES
    for name, fn in metrics.METRICS.items():
        assert fn.__name__ == name
        assert getattr(metrics, name) is fn


def test_registry_says_which_way_is_better():
    assert list(metrics.REGISTRY) == list(metrics.METRICS)
    better_high = {"iou", "dice", "boundary_iou", "s_measure", "e_measure",
                   "weighted_f_measure", "max_f_measure"}
    for name, entry in metrics.REGISTRY.items():
        assert entry.name == name and entry.function is metrics.METRICS[name]
        assert metrics.higher_is_better(name) is (name in better_high), name
    with pytest.raises(KeyError):
        metrics.higher_is_better("accuracy")


def test_f_curve_max_is_max_f_measure():
    rng = np.random.default_rng(1)
    gt = (rng.random((30, 40)) > 0.6).astype(np.float32)
    pred = np.clip(gt * 0.7 + rng.random((30, 40)) * 0.4, 0, 1)
    curve = metrics.f_measure_curve(pred, gt)
    assert curve.shape == (256,)
    assert float(curve.max()) == metrics.max_f_measure(pred, gt)


def test_centred_ellipse_is_centred_and_symmetric():
    e = metrics.centred_ellipse(40, 60)
    assert e.shape == (40, 60) and set(np.unique(e)) == {0.0, 1.0}
    assert e[20, 30] == 1 and e[0, 0] == 0 and e[20, 0] == 0 and e[0, 30] == 0
    assert np.array_equal(e, e[::-1]) and np.array_equal(e, e[:, ::-1])
    assert abs(e.mean() - np.pi / 4 * 0.8 ** 2) < 0.02  # the area of the inscribed ellipse
    assert np.array_equal(metrics.baseline_prediction("centred_ellipse", 40, 60), e)
    assert metrics.baseline_prediction("all_foreground", 3, 2).tolist() == [[1, 1]] * 3
    with pytest.raises(ValueError, match="unknown baseline"):
        metrics.baseline_prediction("nope", 3, 2)


def test_score_all_equals_the_single_metrics():
    pred, gt = SOD_CASES["noisy_shapes"]
    scores = metrics.score_all(pred, gt)
    assert list(scores) == list(metrics.METRICS)
    for name, value in scores.items():
        assert isinstance(value, float)
        assert value == pytest.approx(metrics.METRICS[name](pred, gt), abs=1e-12), name


def test_score_all_subsets_and_unknown_names():
    pred, gt = SOD_CASES["blurred_shapes"]
    assert list(metrics.score_all(pred, gt, ["conn", "iou"])) == ["conn", "iou"]
    assert list(metrics.score_all(pred, gt, "iou")) == ["iou"]
    assert metrics.score_all(pred, gt, []) == {}
    with pytest.raises(ValueError, match="unknown metric"):
        metrics.score_all(pred, gt, ["iou", "accuracy"])


BAD_INPUTS = {
    "shape_mismatch": (np.zeros((4, 5)), np.zeros((5, 4)), "same shape"),
    "one_d": (np.zeros(5), np.zeros(5), "2-D"),
    "three_d": (np.zeros((4, 5, 1)), np.zeros((4, 5, 1)), "2-D"),
    "pred_above_one": (np.full((3, 3), 1.5), np.zeros((3, 3)), r"\[0, 1\]"),
    "gt_below_zero": (np.zeros((3, 3)), np.full((3, 3), -0.1), r"\[0, 1\]"),
    "uint8_0_255": (np.full((3, 3), 255, dtype=np.uint8), np.zeros((3, 3)), r"\[0, 1\]"),
    "nan": (np.array([[0.5, np.nan]]), np.zeros((1, 2)), "NaN"),
    "empty": (np.zeros((0, 3)), np.zeros((0, 3)), "empty"),
}


@pytest.mark.parametrize("name", list(metrics.METRICS))
@pytest.mark.parametrize("case", sorted(BAD_INPUTS))
def test_bad_inputs_raise_value_error(name, case):
    pred, gt, message = BAD_INPUTS[case]
    with pytest.raises(ValueError, match=message):
        metrics.METRICS[name](pred, gt)


@pytest.mark.parametrize("case", sorted(BAD_INPUTS))
def test_score_all_validates_too(case):
    pred, gt, message = BAD_INPUTS[case]
    with pytest.raises(ValueError, match=message):
        metrics.score_all(pred, gt)


def test_non_numeric_input_raises_type_error():
    with pytest.raises(TypeError):
        metrics.iou(np.array([["a", "b"]]), np.zeros((1, 2)))

"""The confidence score: in [0, 1], and lower for the signs of a bad cut-out."""
import numpy as np
import pytest

from pipelines.serving import confidence


def disc(size=64, radius=20, centre=(32, 32), soft=1.0):
    yy, xx = np.mgrid[0:size, 0:size]
    d = np.hypot(yy - centre[0], xx - centre[1]) - radius
    return 1 / (1 + np.exp(d / soft))


def test_range_on_random_and_extreme_maps():
    rng = np.random.default_rng(0)
    for alpha in [rng.random((32, 32)), np.zeros((8, 8)), np.ones((8, 8)),
                  np.full((8, 8), 0.5), disc()[..., None]]:
        c = confidence.confidence(alpha)
        assert 0.0 <= c <= 1.0 and isinstance(c, float)


def test_a_crisp_single_subject_is_near_one_and_empty_is_zero():
    assert confidence.confidence(disc(soft=0.1)) > 0.9
    assert confidence.confidence(np.zeros((16, 16))) == 0.0


def test_monotone_in_hesitation():
    """The wider the unsure band around the same subject, the lower the score."""
    scores = [confidence.confidence(disc(soft=s)) for s in (0.3, 1, 2, 4, 8)]
    assert all(a > b for a, b in zip(scores, scores[1:])), scores


def test_monotone_in_fragmentation():
    """The same area split into more pieces scores lower."""
    one = np.zeros((64, 64))
    one[16:48, 8:56] = 1
    two, four = np.zeros_like(one), np.zeros_like(one)
    two[16:48, 8:30] = two[16:48, 34:56] = 1
    for y in (16, 34):
        four[y:y + 14, 8:30] = four[y:y + 14, 34:56] = 1
    scores = [confidence.confidence(m) for m in (one, two, four)]
    assert scores[0] == 1.0 and scores[0] > scores[1] > scores[2] > 0, scores
    assert scores[1] == pytest.approx(0.5) and scores[2] == pytest.approx(0.25)


def test_hesitating_everywhere_scores_zero():
    assert confidence.confidence(np.full((16, 16), 0.6)) == 0.0


def test_bad_shape_raises():
    with pytest.raises(ValueError):
        confidence.confidence(np.zeros((2, 3, 4)))

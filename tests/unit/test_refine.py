"""The guided filter against a direct implementation of the paper's definition, with loops."""
import numpy as np
import pytest
from PIL import Image

from pipelines.serving import refine


def box_mean_loops(x, r):
    h, w = x.shape[:2]
    out = np.zeros(x.shape, np.float64)
    for i in range(h):
        for j in range(w):
            out[i, j] = x[max(0, i - r):i + r + 1, max(0, j - r):j + r + 1].mean(axis=(0, 1))
    return out


def guided_filter_loops(guide, p, r, eps):
    """He et al. eqs. (5)-(8): per window k, (a_k, b_k) by ridge regression of p on I; q_i is
    the mean of a_k . I_i + b_k over the windows k that contain i (clipped at the borders)."""
    guide = guide.astype(np.float64)
    p = p.astype(np.float64)
    h, w = p.shape
    colour = guide.ndim == 3
    a = np.zeros((h, w, 3) if colour else (h, w))
    b = np.zeros((h, w))
    for i in range(h):
        for j in range(w):
            win = (slice(max(0, i - r), i + r + 1), slice(max(0, j - r), j + r + 1))
            gi, pi = guide[win], p[win]
            if colour:
                g = gi.reshape(-1, 3)
                mu = g.mean(axis=0)
                sigma = (g - mu).T @ (g - mu) / len(g)
                cov = ((g - mu) * (pi.reshape(-1, 1) - pi.mean())).mean(axis=0)
                a[i, j] = np.linalg.solve(sigma + eps * np.eye(3), cov)
                b[i, j] = pi.mean() - a[i, j] @ mu
            else:
                mu, var = gi.mean(), gi.var()
                a[i, j] = ((gi * pi).mean() - mu * pi.mean()) / (var + eps)
                b[i, j] = pi.mean() - a[i, j] * mu
    mean_a, mean_b = box_mean_loops(a, r), box_mean_loops(b, r)
    if colour:
        return (mean_a * guide).sum(axis=-1) + mean_b
    return mean_a * guide + mean_b


@pytest.mark.parametrize("shape,r", [((7, 9), 1), ((12, 15), 2), ((5, 4), 3), ((1, 6), 2)])
def test_box_mean_matches_loops(shape, r):
    x = np.random.default_rng(0).random(shape)
    np.testing.assert_allclose(refine.box_mean(x, r), box_mean_loops(x, r), rtol=1e-6)


def box_mean_padded(x, r):
    """The cumulative sums padded (r + 1 zeros before, the total r times after), then one
    difference of slices: the plain form of the window sums `box_mean` computes in place."""
    out = np.asarray(x, dtype=np.float64)
    for axis in (0, 1):
        out = np.moveaxis(out, axis, 0)
        n = out.shape[0]
        c = np.cumsum(out, axis=0)
        c = np.concatenate([np.zeros_like(c[:1])] * (r + 1) + [c] + [c[-1:]] * r)
        idx = np.arange(n)
        count = np.minimum(idx + r, n - 1) + 1 - np.maximum(idx - r, 0)
        out = np.moveaxis((c[2 * r + 1:] - c[:n]) / count.reshape((n,) + (1,) * (out.ndim - 1)),
                          0, axis)
    return out.astype(np.float32)


@pytest.mark.parametrize("shape", [(1, 1), (2, 3), (5, 4), (7, 9, 3), (37, 53), (135, 180, 3),
                                   (3, 200), (200, 3)])
@pytest.mark.parametrize("r", [1, 2, 3, 10])
def test_box_mean_is_the_padded_cumulative_sums_to_the_bit(shape, r):
    """Refinement's pixels must not move when box_mean gets faster: same sums, same order."""
    x = (np.random.default_rng(3).random(shape) * 255).astype(np.float32)
    assert np.array_equal(refine.box_mean(x, r), box_mean_padded(x, r))


@pytest.mark.parametrize("colour", [False, True])
@pytest.mark.parametrize("shape,r,eps", [((12, 15), 2, 1e-2), ((9, 7), 1, 1e-3),
                                         ((16, 11), 3, 1e-1)])
def test_guided_filter_matches_the_papers_definition(colour, shape, r, eps):
    rng = np.random.default_rng(1)
    guide = rng.random(shape + ((3,) if colour else ()))
    p = rng.random(shape)
    got = refine.guided_filter(guide, p, r, eps)
    np.testing.assert_allclose(got, guided_filter_loops(guide, p, r, eps), atol=2e-4)


def resize_pil(x, width, height):
    img = Image.fromarray(np.asarray(x, np.float32), "F")
    return np.asarray(img.resize((width, height), Image.Resampling.BILINEAR))


def test_fast_variant_is_the_filter_at_low_resolution_upsampled():
    """He and Sun's fast filter: the paper's coefficients on 4x4 block means (radius 4 / 4),
    upsampled bilinearly (PIL's resize), applied to the full-size guide."""
    rng = np.random.default_rng(2)
    guide, p = rng.random((40, 32)), rng.random((40, 32))
    got = refine.guided_filter(guide, p, radius=4, eps=1e-2, subsample=4)
    small_g = guide.reshape(10, 4, 8, 4).mean(axis=(1, 3))
    small_p = p.reshape(10, 4, 8, 4).mean(axis=(1, 3))
    r, eps = 1, 1e-2
    mean_i, mean_p = box_mean_loops(small_g, r), box_mean_loops(small_p, r)
    a = (box_mean_loops(small_g * small_p, r) - mean_i * mean_p) / (
        box_mean_loops(small_g * small_g, r) - mean_i ** 2 + eps)
    b = mean_p - a * mean_i
    big_a = resize_pil(box_mean_loops(a, r), 32, 40)
    big_b = resize_pil(box_mean_loops(b, r), 32, 40)
    np.testing.assert_allclose(got, big_a * guide + big_b, atol=1e-4)


@pytest.mark.parametrize("s,shape", [(4, (10, 8)), (2, (7, 5)), (3, (4, 6))])
def test_upsampling_is_pils_bilinear_resize(s, shape):
    x = np.random.default_rng(4).random(shape).astype(np.float32)
    h, w = shape[0] * s, shape[1] * s

    def upsample(height, width):  # what refine does with the coefficients, on x
        padded = np.pad(x, 1, mode="edge")
        cy, cx = np.nonzero(np.ones(shape, bool))
        neighbours = np.stack([padded[cy + 1 + dy, cx + 1 + dx]
                               for dy in (-1, 0, 1) for dx in (-1, 0, 1)], axis=1)
        blocks = refine._bilinear_weights(s) @ neighbours[..., None]
        return refine._unblock(blocks[..., 0], s, shape[0], shape[1], height, width)

    np.testing.assert_allclose(upsample(h, w), resize_pil(x, w, h), atol=1e-5)
    # cropped: the fast filter pads the picture to a multiple of s and crops the result
    np.testing.assert_allclose(upsample(h - 1, w - 2), resize_pil(x, w, h)[:h - 1, :w - 2],
                               atol=1e-5)


def test_eight_bit_pictures_are_block_means_rounded():
    x = np.random.default_rng(6).integers(0, 256, (13, 10, 3)).astype(np.uint8)
    exact = refine._downsample(x.astype(np.float64), 4)
    assert np.abs(refine._downsample(x, 4) - exact).max() <= 0.5 + 1e-9


def test_sizes_that_are_not_a_multiple_of_the_subsampling():
    rng = np.random.default_rng(5)
    photo = Image.fromarray(rng.integers(0, 256, (37, 29, 3), np.uint8))
    alpha = rng.integers(0, 256, (37, 29)).astype(np.uint8)
    for colour in (False, True):
        out = refine.refine_alpha(photo, alpha, settings={"colour": colour})
        assert out.shape == (37, 29) and out.dtype == np.uint8


def test_edges_follow_the_guide():
    """A soft ramp of alpha around a sharp step in the photo gets a sharp step where the photo's
    is; what the model was sure of (0 and 255) does not move."""
    h, w = 64, 96
    photo = np.zeros((h, w, 3), np.uint8)
    photo[:, 48:] = 200
    x = np.arange(w)
    soft = np.clip((x - 44) / 12.0, 0, 1)               # ramp from 44 to 56, centre 50
    alpha = np.rint(np.tile(soft, (h, 1)) * 255).astype(np.uint8)
    for subsample in (2, 4):
        out = refine.refine_alpha(Image.fromarray(photo), alpha,
                                  settings={"subsample": subsample, "radius": 8,
                                            "min_magnification": 0})
        row = out[h // 2].astype(int)
        jumps = np.diff(row)
        assert int(np.argmax(jumps)) == 47 and jumps[47] > 100   # the step, at the photo's edge
        assert (jumps >= -10).all()     # one outline (a block left as it was may differ a little)
        sure = (alpha == 0) | (alpha == 255)
        np.testing.assert_array_equal(out[sure], alpha[sure])
    assert np.abs(np.diff(alpha[h // 2].astype(int))).max() < 25


def test_refine_alpha_is_the_fast_filter_in_the_band():
    """refine_alpha = guided_filter (8-bit units, eps * 255^2) on the band's pixels, the input
    elsewhere: the block-wise computation gives the same numbers as the whole-picture one."""
    rng = np.random.default_rng(7)
    h, w, s = 37, 45, 4
    photo = rng.integers(0, 256, (h, w, 3)).astype(np.uint8)
    alpha = np.zeros((h, w), np.uint8)
    alpha[10:30, 12:35] = 255
    alpha[8:12, 10:40] = rng.integers(0, 256, (4, 30))          # a soft strip: the band
    for colour in (False, True):
        settings = {"radius": 8, "eps": 1e-3, "subsample": s, "colour": colour,
                    "min_magnification": 0, "min_step": 0}
        guide = photo if colour else np.asarray(Image.fromarray(photo).convert("L"))
        q = refine.guided_filter(guide, alpha, 8, 1e-3 * 255 ** 2, s)
        expected = np.rint(np.clip(q, 0, 255)).astype(np.uint8)
        small = refine._downsample(alpha, s)
        active = np.kron((small > 0) & (small < 255), np.ones((s, s), bool))[:h, :w]
        band = active & (alpha > 0) & (alpha < 255)
        expected = np.where(band, expected, alpha)
        got = refine.refine_alpha(Image.fromarray(photo), alpha, settings=settings)
        assert np.abs(got.astype(int) - expected).max() <= 1     # float32 rounding only
        assert band.any() and (got[band] != alpha[band]).any()


def test_only_the_outline_is_refined_and_only_when_magnified():
    rng = np.random.default_rng(8)
    photo = Image.fromarray(rng.integers(0, 256, (64, 64, 3), np.uint8))
    alpha = np.full((64, 64), 100, np.uint8)          # hesitant everywhere, no outline
    alpha[:, 40:] = 255                                # one outline, at column 40
    settings = {"subsample": 4, "min_magnification": 0}
    out = refine.refine_alpha(photo, alpha, settings=settings)
    changed = np.nonzero((out != alpha).any(axis=0))[0]
    assert changed.size and changed.min() >= 32 and changed.max() < 40
    # the photo is not 3x the model's side: nothing to do
    assert (refine.refine_alpha(photo, alpha, model_size=32,
                                settings={"subsample": 4}) == alpha).all()


def test_constant_alpha_stays_constant():
    photo = Image.fromarray(np.random.default_rng(3).integers(0, 256, (30, 20, 3), np.uint8))
    for value in (0, 255):
        alpha = np.full((30, 20), value, np.uint8)
        assert (refine.refine_alpha(photo, alpha) == value).all()


def test_the_scale_follows_the_magnification():
    assert refine.settings_for(1080, 1440, 256)["subsample"] == 8      # 1.4 * 5.6
    assert refine.settings_for(1080, 1440, 256)["radius"] == 8
    assert refine.settings_for(412, 545, 256)["subsample"] == 3
    assert refine.settings_for(100, 80, 256)["subsample"] == 1
    assert refine.settings_for(1080, 1440, 256, {"subsample": 4})["subsample"] == 4


def test_apply_refinement_modes():
    photo = Image.new("RGB", (8, 8))
    alpha = np.arange(64, dtype=np.uint8).reshape(8, 8)
    assert refine.apply_refinement("none", photo, alpha, 4) is alpha
    assert refine.apply_refinement("guided", photo, alpha, 4).shape == (8, 8)
    with pytest.raises(ValueError):
        refine.apply_refinement("bogus", photo, alpha, 4)

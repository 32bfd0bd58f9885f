"""synthetic/scenes: the photo-like people scenes are deterministic, sized like their masks, have
soft hair edges, people cut by the border and several people in some; the figures' fields are
distances; scikit-image's pictures load offline and only when a people scene is rendered."""
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageFilter

from pipelines.synthetic import scenes
from pipelines.synthetic.scenes import figures, photos

REPO_ROOT = Path(__file__).resolve().parents[2]
H, W = 360, 480


@pytest.fixture(scope="module")
def people():
    rng = np.random.default_rng(7)
    return [scenes.render_people(rng, H, W) for _ in range(12)]


def wisp_pixels(alpha: np.ndarray) -> int:
    """Pixels of partial alpha more than 4 px away from the mask's solid (>= 128) part."""
    solid = Image.fromarray(((alpha >= 128) * 255).astype(np.uint8))
    near = np.asarray(solid.filter(ImageFilter.MaxFilter(9))) > 0
    return int(((alpha > 0) & ~near).sum())


def test_people_scenes_are_byte_identical_per_seed_and_differ_across_seeds():
    first = scenes.render_people(np.random.default_rng(3), 200, 150)
    again = scenes.render_people(np.random.default_rng(3), 200, 150)
    other = scenes.render_people(np.random.default_rng(4), 200, 150)
    for a, b in zip(first, again):
        assert a.tobytes() == b.tobytes()
    assert first[0].tobytes() != other[0].tobytes()


def test_people_scenes_match_their_size_and_value_ranges(people):
    for rgb, alpha, instance in people:
        assert rgb.shape == (H, W, 3) and rgb.dtype == np.uint8
        assert alpha.shape == (H, W) and alpha.dtype == np.uint8
        assert instance.shape == (H, W) and instance.dtype == np.uint8
        assert alpha.max() == 255 and alpha.min() == 0
        assert instance.max() <= 3
        assert ((alpha >= 128) <= (instance > 0)).all() and ((alpha > 0) <= (instance > 0)).all()
    for height, width in ((97, 211), (640, 480)):
        rgb, alpha = scenes.render_people_scene(np.random.default_rng(1), height, width)
        assert rgb.shape == (height, width, 3) and alpha.shape == (height, width)


def test_hair_gives_a_soft_alpha_band_the_shapes_do_not(people):
    wisps = [wisp_pixels(alpha) for _, alpha, _ in people]
    assert sum(w > 0 for w in wisps) >= 4 and sum(wisps) > 50, wisps
    rng = np.random.default_rng(7)
    assert all(wisp_pixels(scenes.render_objects(rng, H, W)[1]) == 0 for _ in range(6))


def test_people_touch_the_border_in_some_scenes_and_several_share_some(people):
    cut = [bool(a[0].any() or a[-1].any() or a[:, 0].any() or a[:, -1].any())
           for _, a, _ in people]
    assert sum(cut) >= 6
    assert sum(inst.max() >= 2 for _, _, inst in people) >= 2
    _, _, three = scenes.render_people(np.random.default_rng(2), H, W, objects=3)
    assert three.max() >= 2


def test_masks_follow_the_pictures(people):
    ratios = []
    for rgb, alpha, _ in people:
        g = np.asarray(Image.fromarray(rgb).convert("L"), np.float32)
        grad = np.zeros_like(g)
        grad[:, 1:] += np.abs(np.diff(g, axis=1))
        grad[1:, :] += np.abs(np.diff(g, axis=0))
        soft = (alpha > 0) & (alpha < 255)
        ratios.append(float(grad[soft].mean() / grad.mean()))
    assert np.median(ratios) > 1.5


def test_no_people_gives_a_background_only():
    rgb, alpha, instance = scenes.render_people(np.random.default_rng(0), 120, 90, objects=0)
    assert rgb.std() > 1 and not alpha.any() and not instance.any()


def test_figure_fields_are_signed_distances():
    fields = [figures.capsule((20.0, 20.0), (60.0, 20.0), 5.0, 5.0),
              figures.ellipse((40.0, 40.0), 10.0, 10.0),
              figures.quad([(10.0, 10.0), (50.0, 10.0), (50.0, 30.0), (10.0, 30.0)])]
    points = [((40.0, 20.0), -5.0), ((40.0, 30.0), 5.0)], [((40.0, 40.0), -10.0),
                                                            ((40.0, 55.0), 5.0)], \
        [((30.0, 20.0), -10.0), ((30.0, 35.0), 5.0)]
    for (_, _, sdf), checks in zip(fields, points):
        for (x, y), expected in checks:
            got = sdf(np.array([[x]], np.float32), np.array([[y]], np.float32))
            assert got[0, 0] == pytest.approx(expected, abs=1e-4)
    box, field = figures.layer_field(fields[:1], 100, 100)
    assert field.shape == (box[0].stop - box[0].start, box[1].stop - box[1].start)
    assert figures.layer_field([figures.ellipse((-50.0, -50.0), 5.0, 5.0)], 100, 100) is None


def test_every_photo_source_loads_without_the_network(monkeypatch):
    def refuse(*args, **kwargs):
        raise OSError("no network in this test")
    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    photos.source_image.cache_clear()
    for name, _ in photos.PHOTO_SOURCES:
        picture = photos.source_image(name)
        assert picture.ndim == 3 and picture.shape[2] == 3 and picture.dtype == np.uint8, name
        assert min(picture.shape[:2]) >= 256, name
    assert set(photos.TEXTURE_SOURCES) <= {name for name, _ in photos.PHOTO_SOURCES}


def test_scikit_image_is_imported_only_to_render_people():
    code = ("import sys, numpy as np; import pipelines.synthetic.datasets; "
            "import pipelines.synthetic.scenes as s; "
            "s.render_scene(np.random.default_rng(0), 32, 48); "
            "print('skimage' in sys.modules)")
    proc = subprocess.run([sys.executable, "-c", code], cwd=REPO_ROOT, capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "False"

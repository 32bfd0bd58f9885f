"""pipelines.synthetic: the stand-in datasets have the published layouts, the quirks, and agree
with their own masks, in both scene styles; output is byte-identical for a seed; the proxy folder
dataset has its train and held-out pairs."""
import io
import os
import re
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageOps

from pipelines.synthetic import datasets as synthetic

REPO_ROOT = Path(__file__).resolve().parents[2]
PAIRS, SEED = 30, 1

P3M_FILE = re.compile(
    r"^P3M-10k/(?:train/(?:blurred_image/[\w]+\.jpg|mask/[\w]+\.png)"
    r"|validation/P3M-500-P/(?:blurred_image/[\w]+\.jpg|(?:mask|trimap)/[\w]+\.png)"
    r"|validation/P3M-500-NP/(?:original_image/[\w]+\.jpg|(?:mask|trimap)/[\w]+\.png))$")
COD_STEM = r"COD10K-(?:CAM|NonCAM)-\d+-[A-Za-z]+-\d+-[A-Za-z]+-\d+"
COD_FILE = re.compile(
    rf"^COD10K-v3/(?:Train|Test)/"
    rf"(?:Image/{COD_STEM}\.jpg|(?:GT_Object|GT_Edge|GT_Instance)/{COD_STEM}\.png)$")
PEOPLE_FILE = re.compile(
    r"^people_segmentation/"
    r"(?:images/[\w-]+\.jpg|masks/[\w-]+\.png|segmentation/(?:train|val)\.txt)$")
DS_STORE = re.compile(r"^(?:P3M-10k|COD10K-v3|people_segmentation|photos)/(?:.+/)?\.DS_Store$")
MACOSX = re.compile(r"^__MACOSX/(?:P3M-10k|COD10K-v3)/(?:.+/)?\._[^/]+$")


@pytest.fixture(scope="module", params=["shapes", "people"])
def style(request):
    return request.param


@pytest.fixture(scope="module")
def written(tmp_path_factory, style):
    return synthetic.write_all(str(tmp_path_factory.mktemp("synthetic")), pairs=PAIRS, seed=SEED,
                               style=style)


def read_all(written: dict) -> dict[str, bytes]:
    """Every file written, keyed like the quirk paths (archive member names; folder paths
    relative to the output directory)."""
    files = {}
    with zipfile.ZipFile(written["p3m10k"]) as zf:
        files.update({n: zf.read(n) for n in zf.namelist() if not n.endswith("/")})
    with tarfile.open(written["cod10k"]) as tf:
        files.update({m.name: tf.extractfile(m).read() for m in tf.getmembers() if m.isfile()})
    for key in ("people_seg", "photos"):
        root = Path(written[key])
        for path in sorted(root.rglob("*")):
            if path.is_file():
                files[path.relative_to(root.parent).as_posix()] = path.read_bytes()
    return files


@pytest.fixture(scope="module")
def files(written):
    return read_all(written)


def decode(data: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(data)))


def dataset_files(files, prefix):
    return {n: d for n, d in files.items() if n.startswith(prefix) and not DS_STORE.match(n)}


def stem(name):
    return name.rsplit("/", 1)[1].rsplit(".", 1)[0]


def edge_contrast(image: Image.Image, mask: np.ndarray) -> float:
    """Mean luminance gradient on the mask's soft edge over the mean gradient everywhere:
    about 1 when the mask does not follow the picture."""
    g = np.asarray(image.convert("L"), np.float32)
    grad = np.zeros_like(g)
    grad[:, 1:] += np.abs(np.diff(g, axis=1))
    grad[1:, :] += np.abs(np.diff(g, axis=0))
    soft = (mask > 0) & (mask < 255)
    return float(grad[soft].mean() / grad.mean())


# ---------------------------------------------------------------- plan and API

def test_split_counts_follow_the_shares_with_a_floor():
    big = synthetic.split_counts(300)
    totals = {k: sum(v.values()) for k, v in big.items()}
    assert totals == {"p3m10k": 120, "cod10k": 105, "people_seg": 75}
    small = synthetic.split_counts(1)
    assert all(n >= 3 for splits in small.values() for n in splits.values())


def test_write_all_returns_paths_counts_and_every_quirk(written, files):
    assert os.path.isfile(written["p3m10k"]) and written["p3m10k"].endswith("P3M-10k.zip")
    assert os.path.isfile(written["cod10k"]) and written["cod10k"].endswith("COD10K-v3.tar.gz")
    assert os.path.isdir(written["people_seg"]) and os.path.isdir(written["photos"])
    assert set(written["quirks"]) == set(synthetic.QUIRK_KEYS)
    for key, paths in written["quirks"].items():
        assert paths, f"no {key} quirk"
        for path in paths:
            assert path in files, (key, path)
    image_dir = re.compile(r"/(blurred_image|original_image|Image|images)/[^.]")
    images = [n for n in files if image_dir.search(n)]
    expected = sum(sum(v.values()) for k, v in written["counts"].items() if k != "photos")
    assert len(images) == expected
    assert written["counts"]["photos"] == len([n for n in files if n.startswith("photos/IMG_")])


def test_render_scene_alpha_is_the_objects_coverage():
    rng = np.random.default_rng(0)
    ratios = []
    for _ in range(8):
        rgb, alpha = synthetic.render_scene(rng, 180, 260)
        assert rgb.shape == (180, 260, 3) and rgb.dtype == np.uint8
        assert alpha.shape == (180, 260) and alpha.dtype == np.uint8
        assert alpha.max() == 255 and alpha.min() == 0
        assert ((alpha > 0) & (alpha < 255)).any()  # anti-aliased, soft edges
        ratios.append(edge_contrast(Image.fromarray(rgb), alpha))
    assert np.median(ratios) > 2.0
    again = synthetic.render_scene(np.random.default_rng(0), 180, 260)
    first = synthetic.render_scene(np.random.default_rng(0), 180, 260)
    assert np.array_equal(again[0], first[0]) and np.array_equal(again[1], first[1])
    _, empty = synthetic.render_scene(rng, 64, 96, objects=0)
    assert not empty.any()


# ---------------------------------------------------------------- layouts

def test_p3m_zip_has_the_published_layout(written):
    with zipfile.ZipFile(written["p3m10k"]) as zf:
        infos = zf.infolist()
    names = [i.filename for i in infos]
    assert all(i.date_time == (1980, 1, 1, 0, 0, 0) for i in infos)
    dirs = [n for n in names if n.endswith("/")]
    plain = [n for n in names if not n.endswith("/")]
    for d in dirs:
        assert any(n.startswith(d) for n in plain), d
    for n in plain:
        assert P3M_FILE.match(n) or DS_STORE.match(n) or MACOSX.match(n), n
    assert any(n.startswith("__MACOSX/P3M-10k/") for n in plain)
    assert any(n.startswith("P3M-10k/") and n.endswith(".DS_Store") for n in plain)

    layout = {"train": ("blurred_image", ["mask"]),
              "validation/P3M-500-P": ("blurred_image", ["mask", "trimap"]),
              "validation/P3M-500-NP": ("original_image", ["mask", "trimap"])}
    for split, (image_dir, mask_dirs) in layout.items():
        base = f"P3M-10k/{split}/"
        images = {stem(n) for n in plain
                  if n.startswith(base + image_dir + "/") and P3M_FILE.match(n)}
        assert len(images) >= 3, split
        for mask_dir in mask_dirs:
            masks = {stem(n) for n in plain if n.startswith(base + mask_dir + "/")}
            assert masks == images, (split, mask_dir)


def test_cod_tar_gz_has_the_published_layout(written):
    with open(written["cod10k"], "rb") as f:
        header = f.read(10)
    assert header[:2] == b"\x1f\x8b" and header[4:8] == b"\x00\x00\x00\x00"  # gzip mtime 0
    with tarfile.open(written["cod10k"]) as tf:
        members = tf.getmembers()
    assert all(m.mtime == 0 for m in members)
    plain = [m.name for m in members if m.isfile()]
    for n in plain:
        assert COD_FILE.match(n) or DS_STORE.match(n) or MACOSX.match(n), n
    assert any(n.startswith("__MACOSX/COD10K-v3/") for n in plain)
    assert any(n.startswith("COD10K-v3/") and n.endswith(".DS_Store") for n in plain)
    for split in ("Train", "Test"):
        base = f"COD10K-v3/{split}/"
        images = {stem(n) for n in plain if n.startswith(base + "Image/") and COD_FILE.match(n)}
        cam = {s for s in images if "-CAM-" in s}
        assert len(cam) >= 3 and any("-NonCAM-" in s for s in images), split
        for gt in ("GT_Object", "GT_Edge", "GT_Instance"):
            masks = {stem(n) for n in plain if n.startswith(base + gt + "/")}
            assert cam <= masks <= images, (split, gt)


def test_people_folder_has_the_published_layout_and_split_lists(written, files):
    people = dataset_files(files, "people_segmentation/")
    for n in people:
        assert PEOPLE_FILE.match(n), n
    assert "people_segmentation/images/.DS_Store" in files
    images = {stem(n) for n in people if n.startswith("people_segmentation/images/")}
    masks = {stem(n) for n in people if n.startswith("people_segmentation/masks/")}
    train = people["people_segmentation/segmentation/train.txt"].decode().split()
    val = people["people_segmentation/segmentation/val.txt"].decode().split()
    assert len(train) == len(set(train)) >= 3 and len(val) == len(set(val)) >= 3
    assert not set(train) & set(val)
    assert set(train) | set(val) == images
    assert masks < images


def test_photos_are_plain_pictures_of_varied_sizes(written, files):
    photos = {n: d for n, d in files.items() if n.startswith("photos/IMG_")}
    assert len(photos) == synthetic.PHOTO_COUNT
    sizes = set()
    for name, data in photos.items():
        with Image.open(io.BytesIO(data)) as im:
            im.load()
            w, h = ImageOps.exif_transpose(im).size
        assert 300 <= min(w, h) and max(w, h) <= 900 and w != h, name
        sizes.add((w, h))
    assert len(sizes) > 6
    assert [n for n in photos if n.endswith(".png")] == written["quirks"]["png"]
    assert any(n.startswith("photos/") for n in written["quirks"]["exif_rotated"])


# ---------------------------------------------------------------- mask values

def test_mask_value_sets_per_dataset(files):
    p3m = dataset_files(files, "P3M-10k/")
    for name, data in p3m.items():
        if "/mask/" in name:
            values = decode(data)
            assert values.ndim == 2 and values.dtype == np.uint8
            assert ((values > 0) & (values < 255)).sum() > 50, name  # soft alpha
            assert values.max() == 255
        elif "/trimap/" in name:
            assert set(np.unique(decode(data))) == {0, 128, 255}, name

    cod = dataset_files(files, "COD10K-v3/")
    for name, data in cod.items():
        if "/GT_Object/" in name:
            obj = decode(data)
            assert set(np.unique(obj)) <= {0, 255}, name
            edge = decode(cod[name.replace("GT_Object", "GT_Edge")])
            inst = decode(cod[name.replace("GT_Object", "GT_Instance")])
            assert set(np.unique(edge)) <= {0, 255}
            assert not (edge > 0)[obj == 0].any()
            assert (edge > 0).sum() <= 0.35 * max((obj > 0).sum(), 1)  # a thin boundary
            assert np.array_equal(inst > 0, obj > 0) and inst.max() <= 3
            if "-CAM-" in name:
                assert obj.max() == 255

    people = dataset_files(files, "people_segmentation/masks/")
    assert people
    for name, data in people.items():
        assert set(np.unique(decode(data))) == {0, 1}, name


def test_masks_follow_the_pictures(files):
    ratios = []
    for name, data in dataset_files(files, "P3M-10k/").items():
        if not name.endswith(".jpg"):
            continue
        folder = name.rsplit("/", 2)[0]
        mask = decode(files[f"{folder}/mask/{stem(name)}.png"])
        with Image.open(io.BytesIO(data)) as im:
            upright = ImageOps.exif_transpose(im)
        if upright.size == mask.shape[::-1]:
            ratios.append(edge_contrast(upright, mask))
    assert len(ratios) >= 10 and np.median(ratios) > 2.0


# ---------------------------------------------------------------- quirks

def test_exif_rotated_images_are_stored_sideways_and_masks_are_upright(written, files):
    paths = written["quirks"]["exif_rotated"]
    assert {p.split("/")[0] for p in paths} >= {"P3M-10k", "people_segmentation", "photos"}
    for path in paths:
        with Image.open(io.BytesIO(files[path])) as im:
            orientation = im.getexif().get(synthetic.ORIENTATION_TAG)
            stored = im.size
            upright = ImageOps.exif_transpose(im)
        assert orientation in (6, 8), path
        assert upright.size == stored[::-1] and stored[0] != stored[1]
        if path.startswith("P3M-10k/"):
            mask = decode(files[path.replace("blurred_image", "mask").replace(".jpg", ".png")])
        elif path.startswith("people_segmentation/"):
            mask = decode(files[path.replace("/images/", "/masks/").replace(".jpg", ".png")])
        else:
            continue
        assert mask.shape == (upright.size[1], upright.size[0])


def test_grayscale_and_cmyk_jpegs(written, files):
    for key, mode in (("grayscale", "L"), ("cmyk", "CMYK")):
        for path in written["quirks"][key]:
            assert path.endswith(".jpg")
            with Image.open(io.BytesIO(files[path])) as im:
                assert (im.format, im.mode) == ("JPEG", mode), path


def test_mask_size_differs_from_its_image(written, files):
    for mask_path in written["quirks"]["mask_size_differs"]:
        image_path = mask_path.replace("/mask/", "/blurred_image/").replace(".png", ".jpg")
        with Image.open(io.BytesIO(files[image_path])) as im:
            image_size = im.size
        with Image.open(io.BytesIO(files[mask_path])) as mask:
            assert mask.size == (image_size[0] // 2, image_size[1] // 2)


def test_images_without_masks(written, files):
    for path in written["quirks"]["no_mask"]:
        assert path.startswith("people_segmentation/images/")
        assert path.replace("/images/", "/masks/").replace(".jpg", ".png") not in files
        lists = (files["people_segmentation/segmentation/train.txt"]
                 + files["people_segmentation/segmentation/val.txt"]).decode().split()
        assert stem(path) in lists
    for path in written["quirks"]["noncam_no_mask"]:
        assert "-NonCAM-" in path
        for gt in ("GT_Object", "GT_Edge", "GT_Instance"):
            assert path.replace("/Image/", f"/{gt}/").replace(".jpg", ".png") not in files
    for path in written["quirks"]["noncam_empty_mask"]:
        assert "-NonCAM-" in path
        gt = decode(files[path.replace("/Image/", "/GT_Object/").replace(".jpg", ".png")])
        assert not gt.any()


def test_truncated_and_zero_byte_files(written, files):
    for path in written["quirks"]["truncated"]:
        data = files[path]
        assert data[:2] == b"\xff\xd8" and not data.endswith(b"\xff\xd9")
        with pytest.raises(OSError):
            with Image.open(io.BytesIO(data)) as im:
                im.load()
    for path in written["quirks"]["zero_byte"]:
        assert files[path] == b""


def test_duplicate_image_in_two_splits(written, files):
    first, second = written["quirks"]["duplicate"]
    assert first.startswith("P3M-10k/train/") and second.startswith("P3M-10k/validation/")
    assert files[first] == files[second]
    mask = lambda p: p.replace("/blurred_image/", "/mask/").replace(".jpg", ".png")  # noqa: E731
    assert files[mask(first)] == files[mask(second)]


def test_os_junk(written, files):
    ds = written["quirks"]["ds_store"]
    tops = {p.split("/")[0] for p in ds}
    assert tops == {"P3M-10k", "COD10K-v3", "people_segmentation", "photos"}
    macosx = written["quirks"]["macosx"]
    assert any(p.startswith("__MACOSX/P3M-10k/") for p in macosx)
    assert any(p.startswith("__MACOSX/COD10K-v3/") for p in macosx)
    for path in macosx:
        assert MACOSX.match(path) and files[path][:4] == b"\x00\x05\x16\x07"


# ---------------------------------------------------------------- determinism and CLI

def test_same_seed_is_byte_identical_and_another_seed_differs(written, files, style, tmp_path):
    again = synthetic.write_all(str(tmp_path / "again"), pairs=PAIRS, seed=SEED, style=style)
    for key in ("p3m10k", "cod10k"):
        assert Path(again[key]).read_bytes() == Path(written[key]).read_bytes()
    assert read_all(again) == files
    assert again["quirks"] == written["quirks"]
    other = synthetic.write_all(str(tmp_path / "other"), pairs=PAIRS, seed=SEED + 1, style=style)
    assert Path(other["p3m10k"]).read_bytes() != Path(written["p3m10k"]).read_bytes()
    assert Path(other["cod10k"]).read_bytes() != Path(written["cod10k"]).read_bytes()


def test_rerun_replaces_the_folders(tmp_path):
    synthetic.write_all(str(tmp_path), pairs=12, seed=5)
    stale = tmp_path / "people_segmentation" / "images" / "stale.jpg"
    stale.write_bytes(b"old")
    synthetic.write_all(str(tmp_path), pairs=12, seed=5)
    assert not stale.exists()


def test_cli_writes_what_the_api_writes(tmp_path):
    out = tmp_path / "cli"
    proc = subprocess.run(
        [sys.executable, "-m", "pipelines.synthetic", "--output_dir", str(out),
         "--pairs", "12", "--seed", "3"],
        cwd=REPO_ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    api = synthetic.write_all(str(tmp_path / "api"), pairs=12, seed=3)
    for key, name in (("p3m10k", synthetic.P3M_ARCHIVE), ("cod10k", synthetic.COD_ARCHIVE)):
        assert (out / name).read_bytes() == Path(api[key]).read_bytes()
    assert (out / "people_segmentation" / "segmentation" / "train.txt").is_file()
    assert len(list((out / "photos").glob("IMG_*"))) == synthetic.PHOTO_COUNT


def test_the_styles_draw_different_scenes_in_the_same_layout(tmp_path):
    shapes = synthetic.write_all(str(tmp_path / "shapes"), pairs=12, seed=3)
    people = synthetic.write_all(str(tmp_path / "people"), pairs=12, seed=3, style="people")
    assert shapes["counts"] == people["counts"]
    # Names are drawn from the stream the scenes draw from, so only the kinds and counts agree.
    assert ({k: len(v) for k, v in shapes["quirks"].items()}
            == {k: len(v) for k, v in people["quirks"].items()})
    assert Path(shapes["p3m10k"]).read_bytes() != Path(people["p3m10k"]).read_bytes()


# ---------------------------------------------------------------- proxy folder dataset

def read_folder(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*"))
            if p.is_file()}


def test_proxy_dir_holds_train_and_heldout_pairs_of_photo_sizes(tmp_path):
    out = synthetic.write_proxy(str(tmp_path / "proxy"), train=5, heldout=3, seed=2)
    assert out["counts"] == {"train": 5, "heldout": 3}
    stems = {}
    for split, n in (("train", 5), ("heldout", 3)):
        root = Path(out[split])
        assert root == tmp_path / "proxy" / split
        images = sorted(root.glob("images/*.jpg"))
        masks = sorted(root.glob("masks/*.png"))
        assert len(images) == len(masks) == n
        assert [stem(str(p)) for p in images] == [stem(str(p)) for p in masks]
        stems[split] = {stem(str(p)) for p in images}
        for image_path, mask_path in zip(images, masks):
            with Image.open(image_path) as im, Image.open(mask_path) as mask:
                assert im.format == "JPEG" and im.mode == "RGB" and mask.mode == "L"
                assert im.size == mask.size and 480 <= max(im.size) <= 800
                values = np.asarray(mask)
            assert values.max() == 255 and values.min() == 0
    assert not stems["train"] & stems["heldout"]
    pixels = {split: [np.asarray(Image.open(p)) for p in sorted(Path(out[split]).glob("images/*"))]
              for split in ("train", "heldout")}
    assert not any(a.shape == b.shape and np.array_equal(a, b)
                   for a in pixels["train"] for b in pixels["heldout"])


def test_proxy_dir_is_byte_identical_per_seed_and_replaced_on_rerun(tmp_path):
    first = synthetic.write_proxy(str(tmp_path / "a"), train=3, heldout=2, seed=4)
    stale = Path(first["train"]) / "images" / "stale.jpg"
    stale.write_bytes(b"old")
    again = synthetic.write_proxy(str(tmp_path / "a"), train=3, heldout=2, seed=4)
    assert not stale.exists()
    other = synthetic.write_proxy(str(tmp_path / "b"), train=3, heldout=2, seed=4)
    assert read_folder(Path(again["train"]).parent) == read_folder(Path(other["train"]).parent)
    moved = synthetic.write_proxy(str(tmp_path / "c"), train=3, heldout=2, seed=5)
    assert read_folder(Path(moved["train"])) != read_folder(Path(other["train"]))


def test_cli_writes_the_proxy_the_api_writes(tmp_path):
    out = tmp_path / "cli"
    proc = subprocess.run(
        [sys.executable, "-m", "pipelines.synthetic", "--proxy_dir", str(out),
         "--train", "2", "--heldout", "1", "--seed", "6"],
        cwd=REPO_ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    api = synthetic.write_proxy(str(tmp_path / "api"), train=2, heldout=1, seed=6)
    assert read_folder(out) == read_folder(Path(api["train"]).parent)
    both = subprocess.run(
        [sys.executable, "-m", "pipelines.synthetic", "--proxy_dir", str(out),
         "--output_dir", str(tmp_path / "x")], cwd=REPO_ROOT, capture_output=True, text=True,
        timeout=120)
    assert both.returncode == 2 and "not allowed with" in both.stderr

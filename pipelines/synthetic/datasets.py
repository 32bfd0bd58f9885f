"""Synthetic stand-ins for the published datasets, for tests and the demo.

Runbook
-------
    python -m pipelines.synthetic --output_dir DIR [--pairs 300] [--seed 0] [--style shapes]

writes, byte-identical for the same `--pairs`, `--seed` and `--style`:

- `DIR/P3M-10k.zip`: `P3M-10k/train/{blurred_image/*.jpg,mask/*.png}`,
  `P3M-10k/validation/P3M-500-P/{blurred_image,mask,trimap}/` and
  `P3M-10k/validation/P3M-500-NP/{original_image,mask,trimap}/`, with `__MACOSX/P3M-10k/...`
  AppleDouble junk beside the top folder. Masks are soft alpha 0..255; trimaps 0/128/255.
- `DIR/COD10K-v3.tar.gz`: `COD10K-v3/{Train,Test}/{Image,GT_Object,GT_Edge,GT_Instance}/` with
  `COD10K-CAM-...` images (binary 0/255 GT_Object, thin GT_Edge, GT_Instance ids 1..k) and
  `COD10K-NonCAM-...` images whose masks are all zero or missing; `__MACOSX/` junk too.
- `DIR/people_segmentation/`: `images/*.jpg`, `masks/*.png` (values 0/1) and
  `segmentation/{train,val}.txt` listing every image stem exactly once.
- `DIR/photos/`: 12 plain photos (JPEGs of 300..900 px, one PNG, one EXIF-rotated JPEG) to remove
  backgrounds from.

`--pairs` is split about 40% P3M, 35% COD, 25% people, with at least 3 images in every split
folder (5 where a split carries quirks), so small values give a few more than asked; on top come
the duplicated P3M image and three COD NonCAM images. The two folders are replaced on every run;
the archives are overwritten. Time: about 5 s for 300 pairs (one core of a small VM), about 1 s
for the 30 the tests use.

With `--style shapes` (the default; the demo's) every image is a scene of one to three shaded
objects on a drawn texture; with `--style people` it is a photo-like scene of one to three people
on a real photograph (see `scenes/`). Either way the mask is the exact alpha the scene was
composited with, so ground truth and pixels agree. The datasets carry the quirks of the real ones
(EXIF-rotated, grayscale and CMYK JPEGs, a half-size mask, images with no mask, a truncated JPEG, a
zero-byte file, `.DS_Store`, `__MACOSX/`, one image duplicated across two splits); `write_all`
returns where each one is, so tests of the readers can assert on them.

The proxy for photos of people, on which a training recipe is tuned (never on the demo's set):

    python -m pipelines.synthetic --proxy_dir DIR [--train 240] [--heldout 48] [--seed 0]

writes `DIR/train/{images/*.jpg,masks/*.png}` and `DIR/heldout/{images,masks}/`, photo-like
scenes of 480..800 px (mostly portrait) with soft alpha masks 0..255; the held-out pairs come from
another random stream of the seed. Train with `--source folder=DIR/train`; score predictions of
`DIR/heldout/images` with `python -m pipelines.evaluate --pred_dir P --gt_dir DIR/heldout/masks`.
Both folders are replaced on every run. Time: about 0.3 s a pair on one core.

Python API: `write_all(output_dir, pairs=300, seed=0, style="shapes") -> dict`,
`write_proxy(proxy_dir, train=240, heldout=48, seed=0) -> dict` and
`render_scene(rng, height, width) -> (rgb uint8 HxWx3, alpha uint8 HxW)`.
Pillow + numpy; the people style also reads scikit-image's bundled pictures. Local paths only.
"""
from __future__ import annotations

import argparse
import io
import os
import shutil
import time
from typing import Callable

import numpy as np
from PIL import Image

from pipelines.synthetic.scenes import STYLES, render_scene
from pipelines.synthetic.files import (
    DS_STORE, ORIENTATION_TAG, add_macosx, half_size, inner_edge, jpeg_bytes, png_bytes, sideways,
    trimap, write_folder, write_tar_gz, write_zip)

P3M_ROOT = "P3M-10k"
COD_ROOT = "COD10K-v3"
PEOPLE_ROOT = "people_segmentation"
PHOTOS_ROOT = "photos"

P3M_ARCHIVE = "P3M-10k.zip"
COD_ARCHIVE = "COD10K-v3.tar.gz"

QUIRK_KEYS = (
    "exif_rotated",        # JPEG with EXIF Orientation 6 or 8: stored sideways, mask is upright
    "grayscale",           # mode L JPEG
    "cmyk",                # mode CMYK JPEG
    "mask_size_differs",   # the MASK path: half the image's size
    "no_mask",             # image whose mask is missing (its split expects one)
    "noncam_empty_mask",   # COD NonCAM image whose GT files are all zero
    "noncam_no_mask",      # COD NonCAM image with no GT files at all
    "truncated",           # a valid JPEG cut in half (has a mask)
    "zero_byte",           # an empty image file (has a mask)
    "duplicate",           # the same image bytes (and mask) in two splits: both image paths
    "ds_store",            # .DS_Store files
    "macosx",              # __MACOSX/ AppleDouble files (not directory entries)
    "png",                 # a PNG among the JPEG photos
)

COD_CAM_CLASSES = (
    "1-Aquatic-1-BatFish", "1-Aquatic-4-ClownFish", "1-Aquatic-5-Crab", "1-Aquatic-13-Octopus",
    "2-Terrestrial-23-Cat", "2-Terrestrial-24-Caterpillar", "2-Terrestrial-30-Frog",
    "3-Flying-53-Bird", "3-Flying-55-Butterfly", "3-Flying-60-Owl",
    "4-Amphibian-64-Lizard", "4-Amphibian-65-Snake", "5-Other-68-Human",
)
COD_NONCAM_CLASSES = ("5-Background-1-Sky", "5-Background-3-Grass", "5-Background-7-Forest")


# --------------------------------------------------------------------------------------------
# Datasets
# --------------------------------------------------------------------------------------------

def split_counts(pairs: int) -> dict[str, dict[str, int]]:
    """How many images each split folder gets for `pairs` (about 40% / 35% / 25%)."""
    p3m = round(0.40 * pairs)
    cod = round(0.35 * pairs)
    people = pairs - p3m - cod
    p3m_p, p3m_np = max(3, p3m * 15 // 100), max(3, p3m * 15 // 100)
    cod_test = max(5, cod * 40 // 100)
    people_val = max(3, people // 5)
    return {
        "p3m10k": {"train": max(5, p3m - p3m_p - p3m_np), "P3M-500-P": p3m_p, "P3M-500-NP": p3m_np},
        "cod10k": {"Train": max(5, cod - cod_test), "Test": cod_test},
        "people_seg": {"train": max(5, people - people_val), "val": people_val},
    }


def _size(rng: np.random.Generator, lo: int, hi: int) -> tuple[int, int]:
    """A non-square (height, width) in [lo, hi]."""
    while True:
        h, w = int(rng.integers(lo, hi + 1)), int(rng.integers(lo, hi + 1))
        if abs(h - w) >= 16:
            return h, w


def _names(rng: np.random.Generator, n: int, make: Callable[[np.random.Generator], str],
           used: set[str]) -> list[str]:
    out = []
    while len(out) < n:
        name = make(rng)
        if name not in used:
            used.add(name)
            out.append(name)
    return out


Render = Callable[..., tuple[np.ndarray, np.ndarray, np.ndarray]]  # a scenes.STYLES value
Files = list[tuple[str, bytes]]  # (path starting with the dataset's top folder, content)
Quirks = dict[str, list[str]]


def _p3m(seed: int, counts: dict[str, int], quirks: Quirks, render: Render) -> Files:
    rng = np.random.default_rng([seed, 1])
    used: set[str] = set()
    hexname = lambda r: "%08x" % int(r.integers(0, 2 ** 32))  # noqa: E731
    files: list[tuple[str, bytes]] = []
    train_pairs: list[tuple[str, bytes, bytes]] = []
    layout = [
        ("train", "train", "blurred_image", "p_", False),
        ("P3M-500-P", "validation/P3M-500-P", "blurred_image", "p_", True),
        ("P3M-500-NP", "validation/P3M-500-NP", "original_image", "p_np_", True),
    ]
    for split, folder, image_dir, prefix, with_trimap in layout:
        base = f"{P3M_ROOT}/{folder}"
        for i, stem in enumerate(_names(rng, counts[split], lambda r: prefix + hexname(r), used)):
            h, w = _size(rng, 240, 640)
            rgb, alpha, _ = render(rng, h, w)
            image_path = f"{base}/{image_dir}/{stem}.jpg"
            mask = alpha
            if split == "train" and i == 0:
                image = jpeg_bytes(sideways(rgb, 6), orientation=6)
                quirks["exif_rotated"].append(image_path)
            elif split == "P3M-500-NP" and i == 0:
                image = jpeg_bytes(Image.fromarray(rgb).convert("L"))
                quirks["grayscale"].append(image_path)
            else:
                image = jpeg_bytes(Image.fromarray(rgb))
            if split == "train" and i == 1:
                mask = half_size(alpha)
                quirks["mask_size_differs"].append(f"{base}/mask/{stem}.png")
            files.append((image_path, image))
            mask_png = png_bytes(mask)
            files.append((f"{base}/mask/{stem}.png", mask_png))
            if with_trimap:
                files.append((f"{base}/trimap/{stem}.png", png_bytes(trimap(alpha))))
            if split == "train":
                train_pairs.append((stem, image, mask_png))
            if split == "P3M-500-P" and i == 0:
                # The same photo published twice: a train pair reappears in P3M-500-P.
                dup_stem, dup_image, dup_mask = train_pairs[2]
                src = f"{P3M_ROOT}/train/blurred_image/{dup_stem}.jpg"
                dst = f"{base}/blurred_image/{dup_stem}.jpg"
                files.append((dst, dup_image))
                files.append((f"{base}/mask/{dup_stem}.png", dup_mask))
                dup_alpha = np.asarray(Image.open(io.BytesIO(dup_mask)))
                files.append((f"{base}/trimap/{dup_stem}.png", png_bytes(trimap(dup_alpha))))
                quirks["duplicate"] += [src, dst]
    for ds in (f"{P3M_ROOT}/train/.DS_Store", f"{P3M_ROOT}/train/blurred_image/.DS_Store"):
        files.append((ds, DS_STORE))
        quirks["ds_store"].append(ds)
    quirks["macosx"] += add_macosx(files)
    return files


def _cod(seed: int, counts: dict[str, int], quirks: Quirks, render: Render) -> Files:
    rng = np.random.default_rng([seed, 2])
    files: list[tuple[str, bytes]] = []
    index = 0
    for split in ("Train", "Test"):
        base = f"{COD_ROOT}/{split}"
        n = counts[split]
        # (stem, is_cam); NonCAM: one with all-zero GT (Train and Test), one with none (Train).
        items = []
        for i in range(n):
            index += 1
            cls = COD_CAM_CLASSES[int(rng.integers(0, len(COD_CAM_CLASSES)))]
            items.append((f"COD10K-CAM-{cls}-{index}", "cam"))
        noncam = ["empty", "missing"] if split == "Train" else ["empty"]
        for kind in noncam:
            index += 1
            cls = COD_NONCAM_CLASSES[int(rng.integers(0, len(COD_NONCAM_CLASSES)))]
            items.append((f"COD10K-NonCAM-{cls}-{index}", kind))
        for i, (stem, kind) in enumerate(items):
            h, w = _size(rng, 240, 640)
            rgb, alpha, inst = render(rng, h, w, camouflage=rng.uniform(0.2, 0.5),
                                       objects=None if kind == "cam" else 0)
            binary = np.where(alpha >= 128, 255, 0).astype(np.uint8)
            image_path = f"{base}/Image/{stem}.jpg"
            image = jpeg_bytes(Image.fromarray(rgb))
            if kind == "cam" and i == 0 and split == "Train":
                image = jpeg_bytes(Image.fromarray(rgb).convert("CMYK"))
                quirks["cmyk"].append(image_path)
            if kind == "cam" and i == 0 and split == "Test":
                image = image[: len(image) // 2]
                quirks["truncated"].append(image_path)
            files.append((image_path, image))
            if kind == "missing":
                quirks["noncam_no_mask"].append(image_path)
                continue
            if kind == "empty":
                quirks["noncam_empty_mask"].append(image_path)
            files.append((f"{base}/GT_Object/{stem}.png", png_bytes(binary)))
            files.append((f"{base}/GT_Edge/{stem}.png", png_bytes(inner_edge(binary))))
            files.append((f"{base}/GT_Instance/{stem}.png", png_bytes(np.where(binary > 0, inst, 0)
                                                                .astype(np.uint8))))
    for ds in (f"{COD_ROOT}/.DS_Store", f"{COD_ROOT}/Train/Image/.DS_Store"):
        files.append((ds, DS_STORE))
        quirks["ds_store"].append(ds)
    quirks["macosx"] += add_macosx(files)
    return files


def _people(seed: int, counts: dict[str, int], quirks: Quirks, render: Render) -> Files:
    rng = np.random.default_rng([seed, 3])
    used: set[str] = set()
    files: list[tuple[str, bytes]] = []
    lists: dict[str, list[str]] = {"train": [], "val": []}
    stems = _names(rng, counts["train"] + counts["val"],
                   lambda r: "pexels-photo-%07d" % int(r.integers(0, 10 ** 7)), used)
    splits = ["train"] * counts["train"] + ["val"] * counts["val"]
    order = rng.permutation(len(stems))  # the lists are not grouped by split on disk
    for j in order:
        stem, split = stems[j], splits[j]
        lists[split].append(stem)
    first = {s: lists[s][0] for s in lists}
    second_train = lists["train"][1]
    for stem, split in zip(stems, splits):
        h, w = _size(rng, 240, 640)
        rgb, alpha, _ = render(rng, h, w)
        image_path = f"{PEOPLE_ROOT}/images/{stem}.jpg"
        if stem == first["train"]:
            files.append((image_path, b""))
            quirks["zero_byte"].append(image_path)
        elif stem == first["val"]:
            files.append((image_path, jpeg_bytes(sideways(rgb, 8), orientation=8)))
            quirks["exif_rotated"].append(image_path)
        else:
            files.append((image_path, jpeg_bytes(Image.fromarray(rgb))))
        if stem == second_train:
            quirks["no_mask"].append(image_path)
            continue
        mask = png_bytes((alpha >= 128).astype(np.uint8))
        files.append((f"{PEOPLE_ROOT}/masks/{stem}.png", mask))
    for split in ("train", "val"):
        text = "".join(s + "\n" for s in lists[split]).encode()
        files.append((f"{PEOPLE_ROOT}/segmentation/{split}.txt", text))
    ds = f"{PEOPLE_ROOT}/images/.DS_Store"
    files.append((ds, DS_STORE))
    quirks["ds_store"].append(ds)
    return files


PHOTO_COUNT = 12


def _photos(seed: int, quirks: Quirks, render: Render) -> Files:
    rng = np.random.default_rng([seed, 4])
    files: list[tuple[str, bytes]] = []
    for i in range(1, PHOTO_COUNT + 1):
        h, w = _size(rng, 300, 900)
        rgb = render(rng, h, w)[0]
        if i == 4:
            path = f"{PHOTOS_ROOT}/IMG_{i:04d}.png"
            buf = io.BytesIO()
            Image.fromarray(rgb).save(buf, "PNG")
            files.append((path, buf.getvalue()))
            quirks["png"].append(path)
        elif i == 7:
            path = f"{PHOTOS_ROOT}/IMG_{i:04d}.jpg"
            files.append((path, jpeg_bytes(sideways(rgb, 6), orientation=6)))
            quirks["exif_rotated"].append(path)
        else:
            files.append((f"{PHOTOS_ROOT}/IMG_{i:04d}.jpg", jpeg_bytes(Image.fromarray(rgb))))
    ds = f"{PHOTOS_ROOT}/.DS_Store"
    files.append((ds, DS_STORE))
    quirks["ds_store"].append(ds)
    return files


def write_all(output_dir: str, pairs: int = 300, seed: int = 0, style: str = "shapes") -> dict:
    """Writes the three datasets and the photos folder under `output_dir` (see the runbook), with
    scenes of `style` (a `scenes.STYLES` key: "shapes", the demo's, or "people", photo-like).

    Returns {"p3m10k": zip path, "cod10k": tar.gz path, "people_seg": folder, "photos": folder,
    "counts": {source: {split folder: image files written, quirky ones included}, "photos": n},
    "quirks": {key: [path, ...]}} for the keys in QUIRK_KEYS. A quirk path starts with its
    dataset's top folder (`P3M-10k/...`, `COD10K-v3/...` as archive member names;
    `people_segmentation/...`, `photos/...` relative to `output_dir`).
    """
    if pairs < 1:
        raise ValueError(f"pairs must be positive, got {pairs}")
    render = STYLES[style]
    os.makedirs(output_dir, exist_ok=True)
    counts = split_counts(pairs)
    quirks: dict[str, list[str]] = {k: [] for k in QUIRK_KEYS}

    p3m_zip = os.path.join(output_dir, P3M_ARCHIVE)
    write_zip(p3m_zip, _p3m(seed, counts["p3m10k"], quirks, render))
    cod_tar = os.path.join(output_dir, COD_ARCHIVE)
    write_tar_gz(cod_tar, _cod(seed, counts["cod10k"], quirks, render))
    folders = {}
    for key, root, files in (
            ("people_seg", PEOPLE_ROOT, _people(seed, counts["people_seg"], quirks, render)),
            ("photos", PHOTOS_ROOT, _photos(seed, quirks, render))):
        folders[key] = os.path.join(output_dir, root)
        shutil.rmtree(folders[key], ignore_errors=True)  # never mix two runs' files
        write_folder(output_dir, files)

    counts["p3m10k"]["P3M-500-P"] += 1          # the duplicated train image
    counts["cod10k"]["Train"] += 2              # NonCAM: one empty mask, one without
    counts["cod10k"]["Test"] += 1               # NonCAM with an empty mask
    counts["photos"] = PHOTO_COUNT
    return {"p3m10k": p3m_zip, "cod10k": cod_tar, **folders, "counts": counts, "quirks": quirks}


PROXY_SPLITS = {"train": 10, "heldout": 11}  # split -> its random stream: no scene is in both


def _photo_size(rng: np.random.Generator) -> tuple[int, int]:
    """(height, width) of a phone or camera photo: long side 480..800, mostly portrait."""
    long_side = int(rng.integers(480, 801))
    short_side = int(long_side * rng.uniform(0.62, 0.85))
    return (long_side, short_side) if rng.random() < 0.65 else (short_side, long_side)


def write_proxy(proxy_dir: str, train: int = 240, heldout: int = 48, seed: int = 0,
                style: str = "people") -> dict:
    """A plain folder dataset of photo-like scenes (what `--source folder=PATH` reads):
    `proxy_dir/train/{images/*.jpg,masks/*.png}` (`train` pairs) and `proxy_dir/heldout/...`
    (`heldout` pairs, from another random stream of the same seed). Masks are soft alpha
    0..255 at the image's size. Each split folder is replaced on every run.
    Returns {"train": folder, "heldout": folder, "counts": {split: pairs}}."""
    out: dict = {"counts": {}}
    render = STYLES[style]
    for split, n in (("train", train), ("heldout", heldout)):
        rng = np.random.default_rng([seed, PROXY_SPLITS[split]])
        files: Files = []
        for i in range(1, n + 1):
            rgb, alpha, _ = render(rng, *_photo_size(rng))
            stem = f"{split}_{seed}_{i:05d}"
            files.append((f"{split}/images/{stem}.jpg", jpeg_bytes(Image.fromarray(rgb))))
            files.append((f"{split}/masks/{stem}.png", png_bytes(alpha)))
        out[split] = os.path.join(proxy_dir, split)
        shutil.rmtree(out[split], ignore_errors=True)
        write_folder(proxy_dir, files)
        out["counts"][split] = n
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    where = parser.add_mutually_exclusive_group(required=True)
    where.add_argument("--output_dir", help="write the published layouts here")
    where.add_argument("--proxy_dir", help="write a train/heldout folder dataset here")
    parser.add_argument("--style", choices=sorted(STYLES), default=None,
                        help="scenes: shapes (easy, the layouts' default) or people (photo-like, "
                             "the proxy's default)")
    parser.add_argument("--pairs", type=int, default=300)
    parser.add_argument("--train", type=int, default=240)
    parser.add_argument("--heldout", type=int, default=48)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    start = time.perf_counter()
    if args.proxy_dir:
        written = write_proxy(args.proxy_dir, args.train, args.heldout, args.seed,
                              args.style or "people")
        print(f"wrote {written['train']} ({args.train} pairs), {written['heldout']} "
              f"({args.heldout} pairs) in {time.perf_counter() - start:.1f}s")
        return
    written = write_all(args.output_dir, pairs=args.pairs, seed=args.seed,
                        style=args.style or "shapes")
    print(f"wrote {written['p3m10k']}, {written['cod10k']}, {written['people_seg']}, "
          f"{written['photos']} in {time.perf_counter() - start:.1f}s")

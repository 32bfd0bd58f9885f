"""Readers for the raw datasets as published: one layout class per dataset, any container.

A source is `KIND=PATH` where PATH is a .zip, .tar, .tar.gz/.tgz, .tar.bz2, .tar.xz or a folder,
local or gs://; `pipelines.preprocess.containers` lists and reads its members.

A layout (`P3M10K`, `COD10K`, `PeopleSegmentation`, `ImageMaskFolder`) classifies a member's path
into a `Role`: image or mask, the split folder it belongs to, its stem, and its path relative to
the layout's root, which it finds at any depth (archives carry their own top folder, and
`__MACOSX/` beside it). Keys are `source/relpath`, so a zip, a tar and an extracted folder of one
dataset give the same keys and splits.
"""
from __future__ import annotations

import dataclasses
import hashlib
import posixpath

from pipelines.core.rejects import JobError
from pipelines.preprocess.config import KINDS

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".webp", ".bmp", ".tif", ".tiff", ".gif")


@dataclasses.dataclass(frozen=True)
class Role:
    kind: str             # "image" | "mask" | "split_list"
    root: str             # the layout root's path inside the container ('' at the top)
    group: str            # the split folder, e.g. "train" or "validation/P3M-500-P"
    stem: str
    relpath: str          # path relative to the layout root (the key's second half)
    split: str | None = None  # the dataset's own split, when it defines one


def hash_fraction(key: str) -> float:
    """A stable number in [0, 1) from a key: splits drawn from it never move when data is added."""
    return int.from_bytes(hashlib.sha256(key.encode("utf-8")).digest()[:8], "big") / 2.0 ** 64


def hash_split(key: str, val_fraction: float, test_fraction: float) -> str:
    u = hash_fraction(key)
    if u < test_fraction:
        return "test"
    if u < test_fraction + val_fraction:
        return "val"
    return "train"


class Layout:
    """Folder patterns relative to the layout root: (folders, role kind, official split)."""
    kind = ""
    mask_encoding = "alpha"
    patterns: tuple = ()
    carve_val_from_train = False  # the dataset has train/test but no val: draw val from train
    auxiliary_folders: tuple = ()  # published material we don't use (trimaps, edges, ...)

    def is_auxiliary(self, name: str) -> bool:
        return any(part in self.auxiliary_folders for part in name.split("/")[:-1])

    def classify(self, name: str) -> Role | None:
        parts = name.split("/")
        folders, base = parts[:-1], parts[-1]
        for pattern, role_kind, split in self.patterns:
            n = len(pattern)
            if len(folders) >= n and tuple(folders[-n:]) == pattern:
                root = "/".join(folders[:-n])
                stem = posixpath.splitext(base)[0]
                return Role(kind=role_kind, root=root, group="/".join(pattern[:-1]), stem=stem,
                            relpath="/".join(pattern + (base,)), split=split)
        return None

    def split_for(self, role: Role, key: str, listed: dict, val_fraction: float,
                  test_fraction: float) -> str:
        if role.split == "train" and self.carve_val_from_train:
            return "val" if hash_fraction(key) < val_fraction else "train"
        if role.split:
            return role.split
        return hash_split(key, val_fraction, test_fraction)

    def skip_reason(self, role: Role) -> str | None:
        """Images left out on purpose (listed in _rejected/ with this reason)."""
        return None

    def empty_mask_allowed(self, role: Role) -> bool:
        return False


def _p3m_patterns():
    patterns = [(("train", "blurred_image"), "image", "train"),
                (("train", "mask"), "mask", "train")]
    # Newer copies nest the two validation sets under validation/; older ones name the folders
    # validation1 (P3M-500-P) and validation2 (P3M-500-NP), or put them at the top.
    for parent in (("validation",), ("validation1",), ("validation2",), ()):
        for subset, image_folder, split in (("P3M-500-P", "blurred_image", "val"),
                                            ("P3M-500-NP", "original_image", "test")):
            base = parent + (subset,)
            patterns.append((base + (image_folder,), "image", split))
            patterns.append((base + ("mask",), "mask", split))
    patterns.append((("validation1", "blurred_image"), "image", "val"))
    patterns.append((("validation1", "mask"), "mask", "val"))
    patterns.append((("validation2", "original_image"), "image", "test"))
    patterns.append((("validation2", "mask"), "mask", "test"))
    # Longest patterns first, so a nested match wins over a shorter one.
    return tuple(sorted(patterns, key=lambda p: -len(p[0])))


class P3M10K(Layout):
    """P3M-10K: train/blurred_image + train/mask; validation/P3M-500-P (val) and P3M-500-NP (test).
    Masks are soft 8-bit alpha. Trimaps are not used."""
    kind = "p3m10k"
    mask_encoding = "alpha"
    patterns = _p3m_patterns()
    auxiliary_folders = ("trimap",)


class COD10K(Layout):
    """COD-10K-v3: Train|Test/Image + GT_Object (binary 0/255). NonCAM images (no camouflaged
    object; empty or missing masks) are left out by default, as the field does."""
    kind = "cod10k"
    mask_encoding = "binary255"
    patterns = tuple(
        ((top, folder), role, split)
        for top, split in (("Train", "train"), ("Test", "test"))
        for folder, role in (("Image", "image"), ("GT_Object", "mask")))
    carve_val_from_train = True
    auxiliary_folders = ("GT_Edge", "GT_Instance")

    def __init__(self, keep_noncam: bool = False):
        self.keep_noncam = keep_noncam

    @staticmethod
    def is_noncam(role: Role) -> bool:
        return "-NonCAM-" in role.stem

    def skip_reason(self, role):
        if self.is_noncam(role) and not self.keep_noncam:
            return "noncam"
        return None

    def empty_mask_allowed(self, role):
        return self.keep_noncam and self.is_noncam(role)


class PeopleSegmentation(Layout):
    """People Segmentation: images/*.jpg + masks/*.png with values 0/1, and the dataset's own split
    in segmentation/{train,val}.txt (stems). Stems in neither list get a hash split."""
    kind = "people_seg"
    mask_encoding = "binary01"
    patterns = ((("images",), "image", None), (("masks",), "mask", None))
    LIST_FILES = {"train.txt": "train", "val.txt": "val"}

    def classify(self, name):
        parts = name.split("/")
        if len(parts) >= 2 and parts[-2] == "segmentation" and parts[-1] in self.LIST_FILES:
            return Role(kind="split_list", root="/".join(parts[:-2]), group="",
                        stem=self.LIST_FILES[parts[-1]], relpath="/".join(parts[-2:]))
        return super().classify(name)

    def split_for(self, role, key, listed, val_fraction, test_fraction):
        if role.stem in listed:
            return listed[role.stem]
        return hash_split(key, val_fraction, test_fraction)


def read_split_list(data: bytes, split: str) -> dict:
    """A split list's bytes (whitespace-separated stems or file names, folders allowed) ->
    {stem: split}, the `listed` that `split_for` takes."""
    return {_listed_stem(entry): split for entry in data.decode("utf-8", "replace").split()}


def _listed_stem(entry: str) -> str:
    base = entry.strip().rsplit("/", 1)[-1]
    return base.rsplit(".", 1)[0] if "." in base else base


class ImageMaskFolder(Layout):
    """Any images/ + masks/ pair of folders, matched by stem. Masks may be 0/1, 0/255 or soft
    alpha (0/1 is detected); splits are drawn from a hash of the key. A source may hold several
    such pairs (e.g. train/images and val/images): keys keep the folders above images/, so they
    stay distinct."""
    kind = "folder"
    mask_encoding = "auto"
    patterns = ((("images",), "image", None), (("masks",), "mask", None))

    def classify(self, name):
        role = super().classify(name)
        if role is None or not role.root:
            return role
        return dataclasses.replace(role, relpath=f"{role.root}/{role.relpath}")


def layout_for(kind: str, keep_noncam: bool = False) -> Layout:
    if kind == "p3m10k":
        return P3M10K()
    if kind == "cod10k":
        return COD10K(keep_noncam=keep_noncam)
    if kind == "people_seg":
        return PeopleSegmentation()
    if kind == "folder":
        return ImageMaskFolder()
    raise JobError(f"unknown source kind {kind!r}; expected one of {', '.join(KINDS)}")

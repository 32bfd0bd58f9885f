"""The bytes the synthetic datasets are written as: JPEG and PNG encodings, the published
quirks' encodings (EXIF-rotated pixels, half-size masks, trimaps, edges, OS junk) and byte-stable
containers (zip and tar.gz with fixed member times, plain folders), so the same scenes always give
the same files.
"""
from __future__ import annotations

import gzip
import io
import os
import struct
import tarfile
import zipfile

import numpy as np
from PIL import Image, ImageFilter

ORIENTATION_TAG = 0x0112
# Fixed member times, so archives are byte-identical run to run.
ZIP_DATE_TIME = (1980, 1, 1, 0, 0, 0)
TAR_MTIME = 0


def jpeg_bytes(img: Image.Image, orientation: int | None = None) -> bytes:
    buf = io.BytesIO()
    kwargs = {}
    if orientation is not None:
        exif = Image.Exif()
        exif[ORIENTATION_TAG] = orientation
        kwargs["exif"] = exif
    img.save(buf, "JPEG", quality=90, **kwargs)
    return buf.getvalue()


def png_bytes(array: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(array).save(buf, "PNG", compress_level=3)
    return buf.getvalue()


def sideways(rgb: np.ndarray, orientation: int) -> Image.Image:
    """The stored pixels of an upright image whose EXIF says `orientation` (6 or 8).

    exif_transpose applies ROTATE_270 for 6 and ROTATE_90 for 8, so store the inverse."""
    rotate = {6: Image.Transpose.ROTATE_90, 8: Image.Transpose.ROTATE_270}[orientation]
    return Image.fromarray(rgb).transpose(rotate)


def half_size(mask: np.ndarray) -> np.ndarray:
    h, w = mask.shape
    return np.asarray(Image.fromarray(mask).resize((max(1, w // 2), max(1, h // 2)),
                                                   Image.BILINEAR))


def trimap(alpha: np.ndarray) -> np.ndarray:
    """0 background, 255 foreground, 128 on every partial-alpha pixel and a band along the edge."""
    solid = np.where(alpha >= 128, 255, 0).astype(np.uint8)
    blurred = np.asarray(Image.fromarray(solid).filter(ImageFilter.BoxBlur(4)))
    out = solid.copy()
    out[((blurred > 0) & (blurred < 255)) | ((alpha > 0) & (alpha < 255))] = 128
    return out


def inner_edge(binary: np.ndarray) -> np.ndarray:
    """The inner boundary of a 0/255 mask (foreground pixels with a 4-neighbour outside), 0/255."""
    fg = binary > 0
    inner = fg.copy()
    inner[1:, :] &= fg[:-1, :]
    inner[:-1, :] &= fg[1:, :]
    inner[:, 1:] &= fg[:, :-1]
    inner[:, :-1] &= fg[:, 1:]
    return np.where(fg & ~inner, 255, 0).astype(np.uint8)


DS_STORE = b"\x00\x00\x00\x01Bud1" + bytes(2036)


def apple_double(name: str) -> bytes:
    """A minimal AppleDouble header, what macOS writes as `__MACOSX/.../._name`."""
    header = struct.pack(">II16sH", 0x00051607, 0x00020000, b"Mac OS X        ", 1)
    entry = struct.pack(">III", 9, 38, 32)  # Finder info
    return header + entry + name.encode()[:8].ljust(32, b"\x00")


# --------------------------------------------------------------------------------------------
# Containers
# --------------------------------------------------------------------------------------------

def _with_dirs(files: list[tuple[str, bytes]]) -> list[tuple[str, bytes | None]]:
    """Files preceded by their directory entries (as archivers write them), in first-seen order."""
    out: list[tuple[str, bytes | None]] = []
    seen: set[str] = set()
    for name, data in files:
        parts = name.split("/")[:-1]
        for i in range(1, len(parts) + 1):
            d = "/".join(parts[:i]) + "/"
            if d not in seen:
                seen.add(d)
                out.append((d, None))
        out.append((name, data))
    return out


def write_zip(path: str, files: list[tuple[str, bytes]]) -> None:
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in _with_dirs(files):
            info = zipfile.ZipInfo(name, date_time=ZIP_DATE_TIME)
            info.create_system = 3
            if data is None:
                info.external_attr = (0o40755 << 16) | 0x10
                zf.writestr(info, b"")
            else:
                info.external_attr = 0o100644 << 16
                info.compress_type = zipfile.ZIP_DEFLATED
                zf.writestr(info, data)


def write_tar_gz(path: str, files: list[tuple[str, bytes]]) -> None:
    with open(path, "wb") as raw, \
            gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0, compresslevel=6) as gz, \
            tarfile.open(fileobj=gz, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, data in _with_dirs(files):
            info = tarfile.TarInfo(name.rstrip("/"))
            info.mtime = TAR_MTIME
            info.uid = info.gid = 0
            info.uname = info.gname = ""
            if data is None:
                info.type = tarfile.DIRTYPE
                info.mode = 0o755
                tar.addfile(info)
            else:
                info.mode = 0o644
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))


def write_folder(output_dir: str, files: list[tuple[str, bytes]]) -> None:
    for name, data in files:
        path = os.path.join(output_dir, *name.split("/"))
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb") as f:
            f.write(data)


def add_macosx(files: list[tuple[str, bytes]], per_folder: int = 2) -> list[str]:
    """Appends `__MACOSX/<dir>/._<name>` for the first few files of each folder."""
    junk: list[str] = []
    taken: dict[str, int] = {}
    for name, _ in list(files):
        folder, base = name.rsplit("/", 1)
        if taken.get(folder, 0) >= per_folder:
            continue
        taken[folder] = taken.get(folder, 0) + 1
        junk_name = f"__MACOSX/{folder}/._{base}"
        files.append((junk_name, apple_double(base)))
        junk.append(junk_name)
    return junk


"""File helpers over Beam's FileSystems, so every path may be local or gs:// alike.

TensorFlow's gfile is kept out of the pipelines on purpose: it can't be pointed at a GCS
emulator, so code that used it could not be tested here.
"""
from __future__ import annotations

import os
import posixpath
import uuid
from typing import Optional

from apache_beam.io.filesystem import CompressionTypes
from apache_beam.io.filesystems import FileSystems

from pipelines.core import safe_files

TEMP_PREFIX = ".tmp-"  # write_bytes' temporary names: never a finished file


def is_gcs(path: str) -> bool:
    return path.startswith("gs://")


def is_inside(path: str, folder: str) -> bool:
    """Whether `path` lies below `folder` (compared as strings; both already normalised)."""
    return path.startswith(folder.rstrip("/") + "/")


def escape_glob(path: str) -> str:
    """A literal path as a FileSystems.match pattern: '[', '*' and '?' match only themselves."""
    return "".join(f"[{c}]" if c in "[*?" else c for c in path)


def join(base: str, *parts: str) -> str:
    if is_gcs(base):
        return posixpath.join(base, *parts)
    return os.path.join(base, *parts)


def read_bytes(path: str, max_bytes: Optional[int] = None) -> bytes:
    """The whole file. With `max_bytes` (every read of a user's file: inputs, masks,
    predictions) only a regular file is read, and only up to the cap (`safe_files.read_capped`),
    which raises rejects.Rejected (`not_a_regular_file`, `broken_link`, `too_large`,
    `read_failed`). Without it (the job's own files: a model, a manifest) the file is read as is."""
    if max_bytes is not None and is_gcs(path):  # an object is a regular file: read to the cap
        with open_read(path) as f:
            return safe_files.capped(f.read(max_bytes + 1), max_bytes)
    if max_bytes is not None:
        return safe_files.read_capped(path, max_bytes)
    with FileSystems.open(path, compression_type=CompressionTypes.UNCOMPRESSED) as f:
        return f.read()


def open_read(path: str):
    """A seekable binary reader (local file or GCS object)."""
    return FileSystems.open(path, compression_type=CompressionTypes.UNCOMPRESSED)


def write_bytes(path: str, data: bytes, mime_type: str = "application/octet-stream",
                temp_dir: Optional[str] = None) -> None:
    """Writes atomically: readers see the old state or the whole new file, never a part.

    A GCS object only appears once its upload completes; a local file is written under a
    temporary name and renamed into place: in `temp_dir` when given (a folder of the job's own,
    on the same filesystem, where no user's file can share a name with a temporary one and
    leftovers can be swept safely), else beside the final file.
    """
    if is_gcs(path):
        with FileSystems.create(path, mime_type=mime_type,
                                compression_type=CompressionTypes.UNCOMPRESSED) as f:
            f.write(data)
        return
    folder = os.path.dirname(path) or "."
    os.makedirs(folder, exist_ok=True)
    if temp_dir:
        os.makedirs(temp_dir, exist_ok=True)
    # The temporary name keeps at most the last 100 bytes of the final one, so a final name
    # near the filesystem's 255-byte limit still has a temporary name that fits.
    tail = os.fsdecode(os.fsencode(os.path.basename(path))[-100:])
    tmp = os.path.join(temp_dir or folder, f"{TEMP_PREFIX}{uuid.uuid4().hex}-{tail}")
    try:
        with open(tmp, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def resolved(path: str) -> str:
    """A local path with every symbolic link resolved (os.path.realpath); gs:// as given."""
    return path.rstrip("/") or path if is_gcs(path) else os.path.realpath(path)


def overlaps(a: str, b: str) -> bool:
    """Whether two folders (already resolved) are the same or one lies inside the other."""
    return a == b or is_inside(a, b) or is_inside(b, a)


def resolves_inside(path: str, folder_resolved: str) -> bool:
    """Whether a local path's folder, links resolved, is `folder_resolved` or lies inside it: a
    write to `path` then can't land elsewhere (the file itself is replaced, never followed)."""
    parent = os.path.realpath(os.path.dirname(path) or ".")
    return parent == folder_resolved or is_inside(parent, folder_resolved)


def escapes(path: str, root_resolved: Optional[str]) -> bool:
    """Whether a write to `path` could land outside `root_resolved` (DEST, links resolved): a
    local path whose folder does not resolve inside it. Never for gs:// (no links there) or
    without a root. The one inside-DEST test: the driver's bookkeeping (dest_guard), the workers'
    shards and temporaries (reject_io.check_inside) and every output write ask it."""
    return bool(root_resolved) and not is_gcs(path) and not resolves_inside(path, root_resolved)


def exists(path: str) -> bool:
    return FileSystems.exists(path)


def list_files(root: str) -> list[tuple[str, int]]:
    """Every file under `root` (recursively), as (path, size_in_bytes), sorted by path."""
    root = root.rstrip("/")
    if not is_gcs(root):
        found = []
        for folder, _, names in os.walk(root, followlinks=True):
            for name in names:
                full = os.path.join(folder, name)
                found.append((full, os.path.getsize(full)))
        return sorted(found)
    result = FileSystems.match([escape_glob(root) + "/**"])[0]
    return sorted((m.path, m.size_in_bytes) for m in result.metadata_list)


def list_entries(root: str) -> tuple[list[tuple[str, int]], list[tuple[str, str, str]]]:
    """Like `list_files`, but an entry that must not be read is reported, not listed, and never
    stops the listing: -> (files as (path, size), problems as (path, reason, detail)), each
    sorted. Local reasons: `not_a_regular_file`, `broken_link` (a loop too), `unencodable_name`
    (`safe_files.walk` and `safe_files.name_problem`); gs:// lists as `list_files`."""
    if is_gcs(root):
        return list_files(root), []
    files, problems = [], []
    for path, size, problem in safe_files.walk(root):
        problem = problem or safe_files.name_problem(path)
        if problem:
            problems.append((path, *problem))
        else:
            files.append((path, size))
    return files, problems


def match(pattern: str) -> list[tuple[str, int]]:
    """Files matching a glob, as (path, size_in_bytes), sorted; empty when none match."""
    result = FileSystems.match([pattern])[0]
    return sorted((m.path, m.size_in_bytes) for m in result.metadata_list)


def is_dir(path: str) -> bool:
    if is_gcs(path):
        return bool(match(escape_glob(path.rstrip("/")) + "/**"))
    return os.path.isdir(path)


def ensure_empty_or_absent(path: str) -> None:
    """Refuses to write into a non-empty output folder, so a re-run never mixes runs."""
    if is_gcs(path):
        leftovers = match(escape_glob(path.rstrip("/")) + "/**")
    else:
        leftovers = list_files(path) if os.path.isdir(path) else []
        if os.path.exists(path) and not os.path.isdir(path):
            raise ValueError(f"output path {path} exists and is not a folder")
        for folder, dirs, names in os.walk(path):  # links not followed: found, not entered
            for name in dirs + names:
                if os.path.islink(os.path.join(folder, name)):
                    raise ValueError(f"output folder {path} holds a link "
                                     f"({os.path.join(folder, name)}): the job's files would be "
                                     "written through it; give a new or empty folder")
    if leftovers:
        raise ValueError(
            f"output folder {path} is not empty ({len(leftovers)} files, e.g. {leftovers[0][0]}); "
            "give a new or empty folder so old and new outputs never mix")


def relative_to(path: str, root: str) -> str:
    root = root.rstrip("/") + "/"
    if not path.startswith(root):
        raise ValueError(f"{path} is not under {root}")
    return path[len(root):]

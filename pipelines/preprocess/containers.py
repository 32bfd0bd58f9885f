"""Containers: the members of a zip, a tar (plain or compressed) or a folder, local or gs://.

Containers are listed member by member (`list_members`), and members are read later by reference
(`MemberReader`), so big archives are never held in memory; a compressed tar can only be read as one
stream, so the members that will be read carry their bytes, read while streaming.

Nothing that is not a regular file is read, and every read is capped (`--max_file_bytes`): an
entry that must not be read is listed as a `BadEntry` with its reason (a pipe, a device, a broken
link, a link member of a tar, a name that is not UTF-8, a member over the cap), so it becomes a
reject while the rest of the job goes on (`pipelines.core.safe_files`).
"""
from __future__ import annotations

import dataclasses
import stat
import tarfile
import zipfile
from collections import OrderedDict

from pipelines.core import fileio, safe_files
from pipelines.core.rejects import Rejected, printable
from pipelines.core.safe_files import DEFAULT_MAX_FILE_BYTES
from pipelines.preprocess.config import TAR_STREAMS, SourceSpec, container_kind


def _stream_mode(path: str) -> str:
    lower = path.lower()
    return next(mode for suffixes, mode in TAR_STREAMS.items() if lower.endswith(suffixes))


@dataclasses.dataclass(frozen=True)
class Member:
    """One file inside a source. Read it with a `MemberReader`."""
    source: str
    container: str        # the archive or folder path
    name: str             # path inside the container
    offset: int = -1      # plain .tar: where the data starts
    size: int = 0
    data: bytes | None = None  # compressed tar: the bytes themselves

    @property
    def uri(self) -> str:
        """Where a person finds this file: `archive!/member` or the file's own path."""
        if container_kind(self.container) == "folder":
            return fileio.join(self.container, *self.name.split("/"))
        return f"{self.container}!/{self.name}"


@dataclasses.dataclass(frozen=True)
class BadEntry:
    """An entry of a source that must not be read (a pipe, a device, a broken link, a link member
    of a tar, a name that is not UTF-8, or one over the size cap): `reason` is a key of
    `pipelines.core.rejects.REASONS`. Its strings are printable (undecodable bytes escaped)."""
    source: str
    container: str
    name: str
    uri: str
    reason: str
    detail: str = ""


def list_members(spec: SourceSpec, wanted=None, max_bytes: int = DEFAULT_MAX_FILE_BYTES):
    """Yields every file of the source as a Member, or as a BadEntry when it must not be read.
    `wanted(name)` says which members will be read: those over `max_bytes` are BadEntry
    (`too_large`), and only those carry their bytes out of a compressed tar."""
    for entry in _list_entries(spec, wanted or (lambda name: True), max_bytes):
        if isinstance(entry, BadEntry):
            yield entry
            continue
        problem = safe_files.name_problem(entry.name)
        if problem is None and entry.size > max_bytes and (wanted is None or wanted(entry.name)):
            problem = ("too_large", f"{entry.size} bytes, over --max_file_bytes {max_bytes}")
        if problem is None:
            yield entry
        else:
            yield _bad(entry.source, entry.container, entry.name, *problem)


def _bad(source: str, container: str, name: str, reason: str, detail: str) -> BadEntry:
    uri = Member(source, container, name).uri
    return BadEntry(source, printable(container), printable(name), printable(uri), reason,
                    printable(detail))


def _tar_link_kind(info: tarfile.TarInfo) -> str | None:
    """What a tar member is when it is not a file or folder (its bytes are not an input's)."""
    if info.issym():
        return f"a symbolic link to {info.linkname}"
    if info.islnk():
        return f"a hard link to {info.linkname}"
    if info.isfifo():
        return "a named pipe"
    if info.ischr() or info.isblk():
        return "a device"
    return None if info.isfile() or info.isdir() else "not a regular file"


def _list_entries(spec: SourceSpec, wanted, max_bytes: int):
    kind = container_kind(spec.path)
    if kind == "folder" and not fileio.is_gcs(spec.path):
        root = spec.path.rstrip("/") or "/"
        for path, size, problem in safe_files.walk(root):
            name = fileio.relative_to(path, root)
            yield (_bad(spec.name, root, name, *problem) if problem
                   else Member(spec.name, root, name, size=size))
    elif kind == "folder":
        root = spec.path.rstrip("/")
        for path, size in fileio.list_files(root):
            if path.endswith("/"):  # a GCS 'folder' placeholder object, not a file
                continue
            yield Member(spec.name, root, fileio.relative_to(path, root), size=size)
    elif kind == "zip":
        with fileio.open_read(spec.path) as f, zipfile.ZipFile(f) as zf:
            for info in zf.infolist():
                if info.is_dir():
                    continue
                if stat.S_ISLNK(info.external_attr >> 16):
                    yield _bad(spec.name, spec.path, info.filename, "link_member",
                               "a symbolic link")
                else:
                    yield Member(spec.name, spec.path, info.filename, size=info.file_size)
    else:
        mode = "r:" if kind == "tar" else _stream_mode(spec.path)
        with fileio.open_read(spec.path) as f, tarfile.open(fileobj=f, mode=mode) as tf:
            for info in tf:
                link = _tar_link_kind(info)
                if link:
                    yield _bad(spec.name, spec.path, info.name, "link_member", link)
                elif info.isdir():
                    continue
                elif kind == "tar":
                    yield Member(spec.name, spec.path, info.name, offset=info.offset_data,
                                 size=info.size)
                elif info.size > max_bytes or not wanted(info.name):
                    # Not read: the stream skips the member in blocks, never holding it.
                    yield Member(spec.name, spec.path, info.name, size=info.size)
                else:
                    data = tf.extractfile(info).read(max_bytes + 1)
                    yield Member(spec.name, spec.path, info.name, size=info.size, data=data)


class MemberReader:
    """Reads members by reference, keeping a few archives open (a zip's directory is read once).
    Every read stops at `max_bytes` (Rejected `too_large`); a folder's files must be regular
    files (`fileio.read_bytes` with the cap)."""

    def __init__(self, max_open: int = 4, max_bytes: int = DEFAULT_MAX_FILE_BYTES):
        self._open = OrderedDict()
        self._max_open = max_open
        self._max_bytes = max_bytes

    def _zip(self, path):
        if path in self._open:
            self._open.move_to_end(path)
            return self._open[path][1]
        handle = fileio.open_read(path)
        archive = zipfile.ZipFile(handle)
        self._open[path] = (handle, archive)
        while len(self._open) > self._max_open:
            _, (old_handle, old_archive) = self._open.popitem(last=False)
            old_archive.close()
            old_handle.close()
        return archive

    def read(self, member: Member) -> bytes:
        """The member's bytes; Rejected (`too_large`, `not_a_regular_file`, ...) when they must
        not be read."""
        cap = self._max_bytes
        kind = container_kind(member.container)
        if kind == "folder":
            return fileio.read_bytes(member.uri, cap)
        if member.size > cap:  # a zip's declared size, a tar header's: checked before reading
            raise Rejected("too_large", f"{member.size} bytes, over --max_file_bytes {cap}")
        if member.data is not None:
            return member.data
        if kind == "zip":
            with self._zip(member.container).open(member.name) as f:
                data = f.read(cap + 1)  # a declared size can lie: the read is bounded too
            if len(data) > cap:
                raise Rejected("too_large", f"more than --max_file_bytes {cap} bytes")
            return data
        if kind == "tar":
            with fileio.open_read(member.container) as f:
                f.seek(member.offset)
                return f.read(member.size)
        raise ValueError(f"{member.uri}: compressed tar members must carry their bytes")

    def close(self):
        for handle, archive in self._open.values():
            archive.close()
            handle.close()
        self._open.clear()

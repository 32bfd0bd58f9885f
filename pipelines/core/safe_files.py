"""Reading files nobody vouched for: regular files only, every read capped, every name checked.

A job's inputs come from folders users fill by hand and archives from the internet. One odd
entry must become one reject (`rejects.Rejected`), never a hung, crashed or swollen job:
- a named pipe would block `open()` forever, and a link to `/dev/zero` never ends: only regular
  files are opened (symbolic links to regular files are followed), and opened non-blocking, so a
  file swapped for a pipe between the check and the open is caught by `fstat`, not waited on;
- every read stops at `max_bytes` + 1 (`too_large`): a real photo is far below the default;
- a dangling link or a link loop is `broken_link`; a link to a folder above it (a cycle that would
  list forever) is `broken_link` too;
- a walk never leaves its root: a link to a folder outside the root (`ln -s .. up`, a link to
  another disk) is `link_outside_input` and is not followed; links to folders inside the root
  and links to regular files (anywhere) are followed;
- a name that is not UTF-8 (Python hands it over as surrogate escapes, which Beam's coders, JSON
  and messages can't encode) is `unencodable_name`; `rejects.printable` gives it back readable.
"""
from __future__ import annotations

import errno
import os
import stat

from pipelines.core.rejects import Rejected

DEFAULT_MAX_FILE_BYTES = 256 * 2**20  # --max_file_bytes: far above any real photo or mask


JUNK_NAMES = (".DS_Store", "Thumbs.db", "desktop.ini")


def is_junk(name: str) -> bool:
    """Whether a '/'-separated relative name is OS junk (never an input): `.DS_Store` and
    friends, `._*` AppleDouble files, anything under `__MACOSX/` or a hidden folder."""
    parts = name.split("/")
    base = parts[-1]
    return ("__MACOSX" in parts or base.startswith("._") or base in JUNK_NAMES
            or any(p.startswith(".") and p not in (".", "..") for p in parts[:-1]))


def name_problem(name: str) -> tuple[str, str] | None:
    """('unencodable_name', detail) for a name that is not valid UTF-8, else None."""
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        return "unencodable_name", "the name is not valid UTF-8"
    return None


def _kind(mode: int) -> str:
    for test, kind in ((stat.S_ISFIFO, "a named pipe"), (stat.S_ISCHR, "a character device"),
                       (stat.S_ISBLK, "a block device"), (stat.S_ISSOCK, "a socket"),
                       (stat.S_ISDIR, "a folder")):
        if test(mode):
            return kind
    return "not a regular file"


def _stat_problem(path: str) -> tuple[tuple[str, str] | None, os.stat_result | None]:
    """(problem, stat following links) of a local path; problem None for a regular file."""
    try:
        st = os.stat(path)
    except OSError as e:
        if os.path.islink(path):
            return ("broken_link", f"the link leads nowhere ({e.strerror})"), None
        return ("read_failed", f"{type(e).__name__}: {e.strerror}"), None
    if stat.S_ISREG(st.st_mode):
        return None, st
    return ("not_a_regular_file", _kind(st.st_mode)), st


def local_problem(path: str) -> tuple[str, str] | None:
    """(reason, detail) when a local path must not be read as a file."""
    return _stat_problem(path)[0]


def scan(folder, chain: tuple = ()):
    """One local folder's entries, classified without opening any: ('file', path, size) for a
    regular file (or a link to one), ('folder', path, chain + (its (device, inode),)) for a
    folder to descend into, ('odd', path, reason, detail) for anything that must not be read.
    `chain` holds the (device, inode) of the folders above (the loop guard: a link back to one of
    them is `broken_link`; chain[0] is the walk's root: a link to a folder outside it is
    `link_outside_input`). Paths have the type of `folder`: str, or bytes (names that are not
    UTF-8 travel through Beam as bytes)."""
    try:
        entries = os.scandir(folder)
    except OSError as e:
        yield "odd", folder, "read_failed", f"the folder could not be listed: {e.strerror}"
        return
    with entries:
        for entry in entries:
            path = entry.path
            try:
                st = os.stat(path) if entry.is_symlink() else entry.stat(follow_symlinks=False)
            except FileNotFoundError:  # a dangling link (or an entry gone since the listing)
                yield "odd", path, "broken_link", "the link's target is missing"
                continue
            except OSError as e:
                if e.errno == errno.ELOOP:
                    yield "odd", path, "broken_link", "a link loop"
                else:  # no permission, vanished while listing
                    yield "odd", path, "read_failed", e.strerror or str(e)
                continue
            if stat.S_ISDIR(st.st_mode):
                ident = (st.st_dev, st.st_ino)
                if ident in chain:
                    yield "odd", path, "broken_link", "a link to a folder above it (a cycle)"
                elif chain and entry.is_symlink() and not _leads_inside(path, chain[0]):
                    yield ("odd", path, "link_outside_input", "a link to a folder outside the "
                           f"input ({os.fsdecode(os.path.realpath(path))}): not followed")
                else:
                    yield "folder", path, chain + (ident,)
            elif stat.S_ISREG(st.st_mode):
                yield "file", path, st.st_size
            else:
                yield "odd", path, "not_a_regular_file", _kind(st.st_mode)


def _leads_inside(link, root_ident: tuple) -> bool:
    """Whether a link to a folder resolves to the walk's root or a folder below it: some folder
    on its resolved path is the root (compared by (device, inode), so a root given through a
    link is recognised too)."""
    real = os.path.realpath(link)
    while True:
        try:
            st = os.stat(real)
        except OSError:
            return False
        if (st.st_dev, st.st_ino) == root_ident:
            return True
        parent = os.path.dirname(real)
        if parent == real:
            return False
        real = parent


def root_chain(root) -> tuple:
    """The loop guard of a walk that starts at `root`: its own (device, inode)."""
    st = os.stat(root)
    return ((st.st_dev, st.st_ino),)


def walk_events(folder, chain: tuple, recursive: bool = True, keep_folder=lambda path: True):
    """`scan`'s events below a folder, depth first: ('file', path, size) and ('odd', path,
    reason, detail); folders `keep_folder` accepts are descended into (`recursive`) or yielded as
    ('folder', path, chain) for the caller to list next."""
    stack = [(folder, chain)]
    while stack:
        folder, chain = stack.pop()
        for event in scan(folder, chain):
            if event[0] != "folder":
                yield event
            elif keep_folder(event[1]):
                if recursive:
                    stack.append(event[1:])
                else:
                    yield event


def walk(root: str) -> list[tuple[str, int, tuple[str, str] | None]]:
    """Every entry under a local folder that is not a folder, sorted by path:
    (path, size, problem), where problem is None for a regular file (links followed) and
    (reason, detail) for anything that must not be read (`scan`'s rules). Folders reached through
    links are listed unless they lead back above themselves."""
    root = root.rstrip("/") or "/"
    return sorted((event[1], event[2], None) if event[0] == "file" else (event[1], 0, event[2:])
                  for event in walk_events(root, root_chain(root)))


def output_problem(path: str) -> str | None:
    """Why a local path must not be written or replaced as a single-file output, or None: only a
    missing path, a regular file, or a link to a regular file (replaced by the new file, its
    target untouched) may be. A device (`/dev/null`), FIFO, socket, folder, a link to one, or a
    link that leads nowhere is refused, never opened."""
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return None
    except OSError as e:
        return f"can't be examined ({e.strerror})"
    if stat.S_ISLNK(st.st_mode):
        try:
            st = os.stat(path)
        except OSError as e:
            return f"is a link that leads nowhere ({e.strerror})"
        return None if stat.S_ISREG(st.st_mode) else f"is a link to {_kind(st.st_mode)}"
    return None if stat.S_ISREG(st.st_mode) else f"is {_kind(st.st_mode)}"


def read_capped(path: str, max_bytes: int) -> bytes:
    """A local file's bytes, or Rejected: not a regular file, a broken link, or more than
    max_bytes. Checked before and after opening (gs:// objects: `fileio.read_bytes`)."""
    problem, st = _stat_problem(path)
    if problem:
        raise Rejected(*problem)
    if st.st_size > max_bytes:
        raise Rejected("too_large", f"{st.st_size} bytes, over --max_file_bytes {max_bytes}")
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0))
    with os.fdopen(fd, "rb") as f:
        mode = os.fstat(f.fileno()).st_mode
        if not stat.S_ISREG(mode):  # swapped for something else since the check above
            raise Rejected("not_a_regular_file", _kind(mode))
        return capped(f.read(max_bytes + 1), max_bytes)


def capped(data: bytes, max_bytes: int) -> bytes:
    if len(data) > max_bytes:
        raise Rejected("too_large", f"more than --max_file_bytes {max_bytes} bytes")
    return data


"""DEST's bookkeeping space kept inside DEST, and each run's own temporary folder.

A job writes its bookkeeping under DEST's reserved `_*` names (`_index/`, `_rejected/`,
`_review/`, `_tmp/`, `_job.json`, `_summary.json`). Anyone may have put something else there
before the run: a link to a folder elsewhere (the index and rejects would land there, and
`--overwrite` would delete files there), or a FIFO, a socket, a file where a folder belongs.
`check_bookkeeping` refuses all of it before any work (one line, `JobError`): every top-level
`_*` entry that is a link, and every known entry that is not of its kind. Writes then go through
paths checked to resolve inside DEST (`checked_path`).

Temporaries: each run writes its outputs first into its own folder, `DEST/_tmp/<run>/`, holding
`owner.json` (the pid, its start time and the host of the run's launcher). A start-up sweeps only
what is provably stale: a run folder whose owner ran on this host and is no longer alive (its pid
gone, or reused by another process since). A folder of a live run, of another host, or without a
readable owner file is left alone: a second job on the same DEST never sweeps a running job's
temporaries. A run removes its own folder when it ends, however it ends, except by kill -9 (the
next start-up's sweep).
"""
from __future__ import annotations

import json
import os
import shutil
import socket
import stat
from typing import Optional

from pipelines.core import fileio
from pipelines.core.rejects import JobError

TEMP_DIR = "_tmp"
OWNER_FILE = "owner.json"
FOLDER, FILE = "folder", "file"


def _kind(mode: int) -> str:
    for test, kind in ((stat.S_ISDIR, "a folder"), (stat.S_ISREG, "a regular file"),
                       (stat.S_ISFIFO, "a named pipe"), (stat.S_ISSOCK, "a socket"),
                       (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device")):
        if test(mode):
            return kind
    return "an odd entry"


def check_bookkeeping(dest: str, entries: dict[str, str]) -> None:
    """Before any work, for a local DEST: raises JobError when a top-level `_*` entry is a
    symbolic link (whatever its name: a future bookkeeping name is covered too) or when an entry
    of `entries` ({name: FOLDER or FILE}) exists and is not of that kind."""
    if fileio.is_gcs(dest) or not os.path.isdir(dest):
        return
    with os.scandir(dest) as listing:
        found = {entry.name: entry for entry in listing if entry.name.startswith("_")}
    for name in sorted(set(found) | set(entries)):
        if name not in found:
            continue
        path = os.path.join(dest, name)
        mode = os.lstat(path).st_mode
        if stat.S_ISLNK(mode):
            raise JobError(f"{path} is a symbolic link (to {os.readlink(path)}): DEST's "
                           "bookkeeping is written only inside DEST; remove the link")
        want = entries.get(name)
        ok = {FOLDER: stat.S_ISDIR, FILE: stat.S_ISREG}.get(want, lambda m: True)(mode)
        if not ok:
            raise JobError(f"{path} is {_kind(mode)}, where the job keeps its {want} "
                           f"{name}: remove or rename it")


def checked_path(path: str, dest_resolved: Optional[str]) -> str:
    """`path` when its folder, links resolved, lies inside DEST (resolved); else JobError.
    gs:// paths (no links there) and DEST=None pass as given."""
    if fileio.escapes(path, dest_resolved):
        raise JobError(f"{path} would be written outside {dest_resolved} (through a link)")
    return path


# ---------------------------------------------------------------------------------------------
# Each run's temporary folder.

def run_temp_dir(dest: str, run: str) -> str:
    return os.path.join(dest, TEMP_DIR, run)


def _start_time(pid: int) -> Optional[str]:
    """The process's start time (clock ticks since boot, /proc/<pid>/stat field 22), or None
    when there is no such process (or no /proc)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            fields = f.read().rsplit(b")", 1)[1].split()
        return fields[19].decode()
    except (OSError, IndexError):
        return None


def owner_record() -> dict:
    pid = os.getpid()
    return {"pid": pid, "start": _start_time(pid), "host": socket.gethostname()}


def _is_alive(pid: int, start: Optional[str]) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: alive
        pass
    return start is None or _start_time(pid) in (None, start)


def is_stale(folder: str) -> bool:
    """Whether a run folder provably belongs to a dead run on this host."""
    try:
        owner = json.loads(open(os.path.join(folder, OWNER_FILE), "rb").read())
        pid, host = int(owner["pid"]), owner["host"]
    except (OSError, ValueError, KeyError, TypeError):
        return False
    return host == socket.gethostname() and not _is_alive(pid, owner.get("start"))


def sweep_stale(dest: str) -> list[str]:
    """Removes the run folders of DEST/_tmp/ that `is_stale` proves dead; returns them."""
    root = os.path.join(dest, TEMP_DIR)
    swept = []
    if not os.path.isdir(root) or os.path.islink(root):
        return swept
    with os.scandir(root) as listing:
        for entry in listing:
            if entry.is_dir(follow_symlinks=False) and is_stale(entry.path):
                shutil.rmtree(entry.path, ignore_errors=True)
                swept.append(entry.path)
    return swept


def open_run_temp_dir(dest: str, run: str) -> str:
    """Creates DEST/_tmp/<run>/ with its owner file (the start-up's proof that DEST can be
    written: every output goes through this folder). Raises OSError."""
    folder = run_temp_dir(dest, run)
    os.makedirs(folder)
    try:
        fileio.write_bytes(os.path.join(folder, OWNER_FILE),
                           json.dumps(owner_record(), sort_keys=True).encode("utf-8"))
    except OSError:
        close_run_temp_dir(dest, run)
        raise
    return folder


def close_run_temp_dir(dest: str, run: str) -> None:
    """Removes this run's folder, and DEST/_tmp/ when nothing else is left in it."""
    shutil.rmtree(run_temp_dir(dest, run), ignore_errors=True)
    try:
        os.rmdir(os.path.join(dest, TEMP_DIR))
    except OSError:  # another run's folder is there, or it is gone already
        pass

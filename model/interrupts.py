"""Ctrl-C and SIGTERM end any Cutout job cleanly: one line, exit 130 / 143, nothing left behind.

    cutout remove: interrupted after 6 outputs; run the same command again to finish

Without this, Ctrl-C in a Beam job prints a long traceback from the runner's threads, exits 1,
and leaves the local runner's worker processes and a job's temporary folder behind; SIGTERM
kills the process without any cleanup. `guard(prog)` (every entry point calls it once its flags
are checked) installs one handler for both signals that
1. stops this process's descendants (Beam's local workers: SIGTERM, then SIGKILL after a grace
   period), so nothing keeps running or writing;
2. runs the cleanups the job registered (`on_interrupt`: a temporary folder, an unfinished
   output folder) and the process's exit handlers (progress folders);
3. prints one line naming how far the job got, when the job said how to count it
   (`on_interrupt(count=...)`), and that the same command finishes the rest: every job resumes
   or redoes its work on a re-run;
4. exits at once with 128 + the signal's number (130 for SIGINT, 143 for SIGTERM), the shells'
   convention, without unwinding through library threads that would print tracebacks.
A second Ctrl-C while this runs is not caught (the default handlers are back).
Kept free of heavy imports: it is installed before TensorFlow and Beam load.
"""
from __future__ import annotations

import atexit
import logging
import os
import signal
import sys
import threading
import time
from typing import Callable, Optional

from model import console

EXIT_STATUS = {signal.SIGINT: 130, signal.SIGTERM: 143}
GRACE_S = 2.0  # how long descendants get to end after SIGTERM before SIGKILL


class _State:
    prog = "cutout"
    unit = "outputs"
    count: Optional[Callable[[], Optional[int]]] = None
    cleanups: list = []
    installed = False


def guard(prog: str) -> None:
    """Installs the handler for SIGINT and SIGTERM (main thread only; idempotent)."""
    _State.prog = prog
    if _State.installed:
        return
    for sig in EXIT_STATUS:
        signal.signal(sig, _handle)
    _State.installed = True


def on_interrupt(count: Optional[Callable[[], Optional[int]]] = None, unit: str = "outputs",
                 cleanup: Optional[Callable[[], None]] = None) -> None:
    """What the job knows once it has started: how to count what it has done (`count()` ->
    N or None) and what to remove if it is interrupted."""
    if count is not None:
        _State.count, _State.unit = count, unit
    if cleanup is not None:
        _State.cleanups.append(cleanup)


def reset() -> None:
    """Forgets the job's count and cleanups (a process that runs several jobs, tests)."""
    _State.count, _State.unit, _State.cleanups = None, "outputs", []


def message(prog: str, done: Optional[int], unit: str = "outputs") -> str:
    if done == 1 and unit.endswith("s"):
        unit = unit[:-1]  # "after 1 output"
    got = f" after {done:,} {unit}" if done is not None else ""
    return f"{prog}: interrupted{got}; run the same command again to finish"


def _handle(signum, frame) -> None:
    for sig in EXIT_STATUS:  # a second Ctrl-C ends it the hard way
        signal.signal(sig, signal.SIG_DFL)
    # The runner's threads see their workers end and would print tracebacks and log errors:
    # what they say now is the interrupt, which the one line below reports.
    threading.excepthook = lambda args: None
    logging.disable(logging.CRITICAL)
    stop_descendants()
    for cleanup in reversed(_State.cleanups):
        _quietly(cleanup)
    done = None
    if _State.count is not None:
        try:
            done = _State.count()
        except Exception:  # counting is a courtesy: never in the way of the exit
            done = None
    _quietly(atexit._run_exitfuncs)  # progress folders, the console filter's last lines
    try:
        sys.stderr.write(message(_State.prog, done, _State.unit) + "\n")
        sys.stderr.flush()
    except (OSError, ValueError):
        pass
    os._exit(EXIT_STATUS.get(signum, 128 + signum))


def _quietly(fn) -> None:
    try:
        fn()
    except BaseException:  # noqa: BLE001 - nothing may stop the exit
        pass


def descendants(pid: int) -> list[int]:
    """Every process below `pid` (children, their children, ...), from /proc; [] where there is
    no /proc."""
    children: dict[int, list[int]] = {}
    try:
        names = os.listdir("/proc")
    except OSError:
        return []
    for name in names:
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat", "rb") as f:
                stat = f.read()
        except OSError:  # ended meanwhile
            continue
        # "pid (comm) state ppid ...": comm may hold spaces and parentheses.
        ppid = int(stat[stat.rindex(b")") + 2:].split()[1])
        children.setdefault(ppid, []).append(int(name))
    found, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def stop_descendants(grace_s: float = GRACE_S) -> None:
    """SIGTERM to every descendant, then SIGKILL to those still there after `grace_s`; never
    to the stderr filter (model/console.py), which forwards the last lines and then ends."""
    keep = {console.filter_pid}
    pids = [pid for pid in descendants(os.getpid()) if pid not in keep]
    for pid in pids:
        _signal(pid, signal.SIGTERM)
    deadline = time.monotonic() + grace_s
    while pids and time.monotonic() < deadline:
        pids = [pid for pid in pids if _alive(pid)]
        time.sleep(0.05)
    for pid in pids:
        _signal(pid, signal.SIGKILL)


def _signal(pid: int, sig: int) -> None:
    try:
        os.kill(pid, sig)
    except OSError:
        pass


def _alive(pid: int) -> bool:
    try:
        waited, _ = os.waitpid(pid, os.WNOHANG)  # our own child: reap it
        if waited:
            return False
    except ChildProcessError:
        pass  # a grandchild: not ours to reap
    except OSError:
        return False
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            return f.read().split(b") ")[-1][:1] != b"Z"
    except OSError:
        return False

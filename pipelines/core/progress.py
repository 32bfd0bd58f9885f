"""Progress lines for long local runs: done / total, images per second, time left.

    remove_background: 1,200 / 3,000 images (40%), 6.4 images/s, about 4m 41s left

Beam's local runner runs a job's stages one after another, each to its end, and in
multi_processing mode its workers are separate processes that share no Python object. So the
counts meet in a small local folder: every counting DoFn instance keeps one file of its own
(count, time of its first element), rewritten at most every second; the one that updates also
sums every file and, holding a lock, prints a line to stderr when `interval_s` has passed since
the last line. The total is counted the same way where the inputs are listed: a stage that ends
before the work starts, so the total is whole by the time the first image is done. A run shorter
than the interval prints nothing; a run longer than the interval since the job started (start-up
included, whatever its size) prints at least its last line, and every line the interval allows
once outputs arrive.

On runners whose workers are on other machines (Dataflow) no step is added: the job's Beam
counters show progress there. CUTOUT_PROGRESS_SECONDS sets the interval (default 10; a negative
value turns progress off).
"""
from __future__ import annotations

import atexit
import dataclasses
import os
import shutil
import sys
import tempfile
import time
import uuid
from typing import Optional

import apache_beam as beam

from pipelines.core.options import shares_local_disk

INTERVAL_ENV = "CUTOUT_PROGRESS_SECONDS"
DEFAULT_INTERVAL_S = 10.0
TOTAL, DONE = "total", "done"
_PRINTED_FILE = "printed"   # when the last line was printed; "final" once the last one was
_LOCK_FILE = "lock"


@dataclasses.dataclass(frozen=True)
class Tracker:
    """What the counting steps share: a local folder, the job's name and the unit counted."""
    job: str
    unit: str
    folder: str
    interval_s: float = DEFAULT_INTERVAL_S
    started: float = 0.0   # when the job started (time.time()); 0: at its first element done


def tracker_for(pipeline: beam.Pipeline, job: str, unit: str = "images") -> Optional[Tracker]:
    """A Tracker when every worker runs on this machine and progress is on; else None."""
    interval = float(os.environ.get(INTERVAL_ENV, DEFAULT_INTERVAL_S))
    if interval < 0 or not shares_local_disk(pipeline.options):
        return None
    folder = tempfile.mkdtemp(prefix=f"cutout-progress-{job}-")
    atexit.register(shutil.rmtree, folder, True)
    return Tracker(job, unit, folder, interval, started=process_started())


def process_started() -> float:
    """When this process started (time.time() scale): a job's start-up (imports, listing) is part
    of how long the user has waited. Read from /proc on Linux; elsewhere, now."""
    try:
        with open("/proc/self/stat") as f:
            ticks = int(f.read().rsplit(")", 1)[1].split()[19])   # field 22, starttime
        with open("/proc/stat") as f:
            boot = next(int(line.split()[1]) for line in f if line.startswith("btime "))
        started = boot + ticks / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError, StopIteration):
        return time.time()
    return min(started, time.time())


def count(tracker: Optional[Tracker], kind: str, label: str, *pcolls) -> None:
    """Counts the elements of each PCollection as `kind` (TOTAL or DONE); nothing without a
    tracker. Each gets its own step, not one after a Flatten: the local runner materialises a
    Flatten of several stages' outputs, which would delay the counts to the end of the work."""
    if tracker is None:
        return
    for i, pcoll in enumerate(pcolls):
        _ = pcoll | f"{label}{i}" >> beam.ParDo(_CountDoFn(tracker, kind))


class _CountDoFn(beam.DoFn):
    def __init__(self, tracker: Tracker, kind: str):
        self._tracker = tracker
        self._kind = kind

    def setup(self):
        self._path = os.path.join(self._tracker.folder, f"{self._kind}-{uuid.uuid4().hex}")
        self._count = 0
        self._first = None
        self._flushed_at = 0.0
        self._flush_every_s = min(1.0, self._tracker.interval_s / 2)

    def process(self, element):
        now = time.time()
        if self._first is None:
            self._first = now
        self._count += 1
        if now - self._flushed_at >= self._flush_every_s:
            self._flush(now)
        return ()

    def finish_bundle(self):
        if self._count:
            self._flush(time.time())

    def _flush(self, now: float) -> None:
        _write_atomically(self._path, f"{self._count} {self._first}")
        self._flushed_at = now
        if self._kind == DONE:
            report(self._tracker, now)


def _write_atomically(path: str, text: str) -> None:
    tmp = f"{path}.tmp"
    with open(tmp, "w") as f:
        f.write(text)
    os.replace(tmp, path)


def totals(folder: str) -> tuple[int, int, Optional[float]]:
    """(done, total, time the first element was done) summed over every counting file."""
    done = total = 0
    first = None
    for name in os.listdir(folder):
        kind = name.split("-", 1)[0]
        if kind not in (TOTAL, DONE) or name.endswith(".tmp"):
            continue
        try:
            with open(os.path.join(folder, name)) as f:
                n, started = f.read().split()
        except (OSError, ValueError):  # replaced while read: counted at the next update
            continue
        if kind == TOTAL:
            total += int(n)
        else:
            done += int(n)
            first = float(started) if first is None else min(first, float(started))
    return done, total, first


def format_line(job: str, unit: str, done: int, total: int, elapsed_s: float,
                final: bool = False) -> str:
    rate = done / elapsed_s if elapsed_s > 0 else 0.0
    line = f"{job}: {done:,} / {total:,} {unit}" if total else f"{job}: {done:,} {unit}"
    if total and not final:
        line += f" ({100 * done // total}%)"
    line += f", {rate:.1f} {unit}/s"
    if final:
        return line + f", {_duration(elapsed_s)}"
    if total and rate > 0:
        line += f", about {_duration((total - done) / rate)} left"
    return line


def _duration(seconds: float) -> str:
    seconds = int(round(seconds))
    hours, rest = divmod(seconds, 3600)
    minutes, seconds = divmod(rest, 60)
    if hours:
        return f"{hours}h {minutes:02d}m"
    return f"{minutes}m {seconds:02d}s" if minutes else f"{seconds}s"


def report(tracker: Tracker, now: float) -> None:
    """Prints one line if it is time to; at most one process does, holding the lock."""
    with open(os.path.join(tracker.folder, _LOCK_FILE), "a") as lock:
        _lock(lock)
        done, total, first = totals(tracker.folder)
        if first is None:
            return
        printed_path = os.path.join(tracker.folder, _PRINTED_FILE)
        try:
            with open(printed_path) as f:
                printed = f.read()
        except OSError:
            printed = ""
        final = total > 0 and done >= total
        # Longer than the interval since the job started, whatever its size: a run of 10 photos
        # that took 18 s, most of it start-up, says so.
        long_run = now - (tracker.started or first) >= tracker.interval_s
        if printed == "final" or (final and not printed and not long_run):
            return  # finished, or a run too short to need any line
        if not final and now - float(printed or tracker.started or first) < tracker.interval_s:
            return
        print(format_line(tracker.job, tracker.unit, done, total, now - first, final),
              file=sys.stderr, flush=True)
        _write_atomically(printed_path, "final" if final else str(now))


def _lock(f) -> None:
    try:
        import fcntl
    except ImportError:  # no flock (Windows): a rare doubled line is harmless
        return
    fcntl.flock(f.fileno(), fcntl.LOCK_EX)  # released when the file closes

"""What a person sees on the terminal: the libraries' known notices left out, every failure kept.

Importing TensorFlow prints lines a newcomer reads as failures ("failed call to cuInit: ... CUDA
error" on every machine without a GPU), plus oneDNN and CPU-feature notices and absl's "All log
messages before absl::InitializeLog()". They come from C++ through file descriptor 2, before any
Python logging exists, so no logger setting reaches them; Beam's worker processes print
"Discarding unparseable args" for every job flag they don't know; Pillow and TensorFlow print
Python warnings (DecompressionBombWarning for a large image, which the jobs check themselves
against --max_pixels).

What is dropped is a list of known notices, named by their message (`NOTICES`), never by the
source file that printed them: TensorFlow's `cuda_dnn.cc` prints both "Loaded cuDNN version"
and "Could not create cudnn handle". Lines that report a failure (`FAILURES`: a failed check,
out of memory, cuDNN, missing GPU libraries, a traceback) are always shown, whatever a notice
pattern says. The GPU start-up messages ("failed call to cuInit", "Could not find cuda drivers")
are notices only where no GPU is expected (`gpu_expected`): on a machine with an NVIDIA driver,
or with CUDA_VISIBLE_DEVICES naming a device, they say the GPU can't be used, and are shown.
Python warnings issued from Pillow's or TensorFlow's own files are dropped with their source line.

How: `quiet()` points fd 2 at a pipe read by a small filter process: C++ libraries, Python's own
stderr (tracebacks, logging, warnings) and worker subprocesses (which inherit fd 2) all write
there, so stderr keeps one order. A separate process, not a thread, so that nothing written
before a crash is lost: when this process dies in any way (an exception, os._exit, abort,
SIGKILL), the pipe's write end closes and the filter forwards what it still holds, an unfinished
last line included, before it exits. It ignores Ctrl-C and the other terminal signals, which
reach the whole process group, and ends when the last writer has gone; at a normal exit this
process waits for it (up to 2 s), so the shell's prompt comes after the last line. A line waits
in the filter until its newline (or the end): a notice can only be told from a whole line.

Every entry point calls `start(argv)` (quiet unless `--verbose`, which it strips) before
TensorFlow or Beam is imported; `--verbose` (or CUTOUT_VERBOSE=1) leaves everything as it was.
Kept free of TensorFlow and Beam imports.
"""
from __future__ import annotations

import atexit
import os
import re
import signal
import subprocess
import sys
import threading

from model import feedback

_GLOG = r"^[IWEF]\d{4} [\d:. ]+\d+ \S+\] "  # absl/glog prefix: level, date, time, thread, file:line

# Always shown: a line that reports a failure, whatever a notice pattern matches.
FAILURES = tuple(re.compile(p) for p in (
    r"Check failed", r"^F\d{4} ",                       # a fatal check: the process aborts
    r"(?i)out of memory", r"\bOOM\b", r"RESOURCE_EXHAUSTED|ResourceExhausted",
    r"(?i)could not create cudnn handle", r"CUDNN_STATUS_(?!SUCCESS)",
    r"Cannot dlopen", r"^Traceback \(most recent call last\)",
))

# Known notices on a correct setup: dropped.
NOTICES = tuple(re.compile(p) for p in (
    r"^WARNING: All log messages before absl::InitializeLog\(\) is called",
    _GLOG + r"oneDNN custom operations are on",
    _GLOG + r"This TensorFlow binary is optimized to use available CPU instructions",
    r"^To enable the following instructions: .* in other operations, rebuild TensorFlow",
    _GLOG + r"Unable to register (cuDNN|cuFFT|cuBLAS) factory: Attempting to register factory "
            r"for plugin \S+ when one has already been registered",
    _GLOG + r"computation placer already registered",
    _GLOG + r"XLA service 0x[0-9a-f]+ initialized for platform",
    _GLOG + r"\s*StreamExecutor (device )?\[?\d+\]?: ",
    _GLOG + r"Compiled cluster using XLA!",
    _GLOG + r"Created device /job:\S+ with -?\d+ MB memory",
    _GLOG + r"successful NUMA node read from SysFS had negative value",
    _GLOG + r"could not open file to read NUMA node",
    _GLOG + r"Loaded cuDNN version \d+",
    _GLOG + r"Input of GeneratorDatasetOp::Dataset will not be optimized",
    _GLOG + r"Local rendezvous is aborting with status: OUT_OF_RANGE: End of sequence",
    r"TF-TRT Warning: Could not find TensorRT",
    # Beam: its workers' start-up (forwarded to this process as log records in multi_processing
    # mode), and RunInference's memory probe, which can't read memory use on this platform.
    r"Discarding unparseable args",
    r"Discarding invalid overrides",
    r"No semi_persistent_directory found",
    r"Resource module is not available for current platform",
    # tf.Transform's advice to feed Arrow record batches: ours feeds a few floats per image.
    r"You are passing instance dicts and DatasetMetadata to TFT",
))

# Notices only where no GPU is expected; on a GPU machine they say the GPU can't be used.
NO_GPU_NOTICES = tuple(re.compile(p) for p in (
    _GLOG + r"failed call to cuInit",
    _GLOG + r"Could not find cuda drivers on your machine, GPU will not be used",
    _GLOG + r"no NVIDIA GPU device is present",
    _GLOG + r"kernel driver does not appear to be running on this host",
))

# A Python warning issued from a library's own file: `FILE:LINE: CATEGORY: message`, then the
# indented source line (warnings.formatwarning; also inside a logging line, captureWarnings).
LIBRARY_WARNING = re.compile(
    r"[/\\](PIL|tensorflow|keras|tf_keras|tensorflow_transform|tfx_bsl|tensorflow_metadata)"
    r"[/\\][^:]*\.py:\d+: \w*Warning: ")

GPU_DEVICE_PATHS = ("/dev/nvidiactl", "/dev/nvidia0", "/proc/driver/nvidia/version")
_VERBOSE_FLAG = "--verbose"
_IGNORED_BY_FILTER = ("SIGINT", "SIGTERM", "SIGQUIT", "SIGHUP")
_started = False
filter_pid = None  # the filter process, once started


def gpu_expected(environ=os.environ, device_paths=GPU_DEVICE_PATHS) -> bool:
    """True where a GPU should be usable: CUDA_VISIBLE_DEVICES names a device, or (unset) the
    machine has an NVIDIA driver. "" or "-1" hide the GPUs on purpose."""
    visible = environ.get("CUDA_VISIBLE_DEVICES")
    if visible is not None:
        return visible.strip() not in ("", "-1")
    return any(os.path.exists(p) for p in device_paths)


def shows_failure(line: str) -> bool:
    return any(p.search(line) for p in FAILURES)


def is_noise(line: str, gpu: bool | None = None) -> bool:
    """A known notice (one line on its own). `gpu`: whether a GPU is expected (default: this
    machine's answer)."""
    if shows_failure(line):
        return False
    if any(p.search(line) for p in NOTICES) or LIBRARY_WARNING.search(line):
        return True
    if gpu is None:
        gpu = gpu_expected()
    return not gpu and any(p.search(line) for p in NO_GPU_NOTICES)


class NoticeFilter:
    """Line by line, in the order they were written: `keep(line)`. Drops a library warning's
    indented source line with the warning (the only state)."""

    def __init__(self, gpu: bool | None = None):
        self._gpu = gpu_expected() if gpu is None else gpu
        self._in_library_warning = False

    def keep(self, line: str) -> bool:
        if self._in_library_warning and line.startswith((" ", "\t")):
            return False
        self._in_library_warning = bool(LIBRARY_WARNING.search(line)) and not shows_failure(line)
        return not is_noise(line, self._gpu)


def wants_verbose(argv) -> bool:
    return _VERBOSE_FLAG in argv or os.environ.get("CUTOUT_VERBOSE", "") not in ("", "0")


def strip_verbose(argv) -> list:
    return [a for a in argv if a != _VERBOSE_FLAG]


def start(argv=None, prog: str = "") -> list:
    """For an entry point, before TensorFlow or Beam load: on a terminal, PROG's status line at
    once (model/feedback.py); quiet unless `--verbose`; returns the arguments without
    `--verbose`, for the job's own parser."""
    argv = sys.argv[1:] if argv is None else list(argv)
    rest = strip_verbose(argv)
    if prog:
        feedback.starting(prog, rest)
    quiet(wants_verbose(argv))
    return rest


def _write_all(fd: int, data: bytes) -> None:
    while data:
        data = data[os.write(fd, data):]


def pump(read_fd: int, write_fd: int, notices: NoticeFilter) -> None:
    """Copies lines from `read_fd` to `write_fd` until every writer has closed the pipe, leaving
    out notices; an unfinished last line is forwarded at the end."""
    buffered = b""
    while True:
        chunk = os.read(read_fd, 65536)
        if not chunk:
            break
        buffered += chunk
        *lines, buffered = buffered.split(b"\n")
        out = b"".join(line + b"\n" for line in lines
                       if notices.keep(line.decode("utf-8", "replace")))
        if out:
            _write_all(write_fd, out)
    if buffered and notices.keep(buffered.decode("utf-8", "replace")):
        _write_all(write_fd, buffered)
    os.close(read_fd)


def run_filter_process(read_fd: int) -> None:
    """The filter process's body (started by `quiet`): fd `read_fd` -> its own fd 2."""
    for name in _IGNORED_BY_FILTER:  # only EOF, when every writer is gone, ends it
        signal.signal(getattr(signal, name), signal.SIG_IGN)
    try:
        pump(read_fd, 2, NoticeFilter())
    except OSError:  # the terminal or the reader of our stderr went away: nothing to write to
        pass


def _start_filter_process(read_fd: int, out_fd: int) -> subprocess.Popen:
    """`python -I -S` runs only this module (standard library only), from the project's folder
    first on its path, whatever the current folder holds. The signals it ignores are ignored
    from its first instruction on (an ignored disposition survives exec)."""
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    code = (f"import sys; sys.path.insert(0, {root!r}); from model import console; "
            f"console.run_filter_process({read_fd})")
    in_main_thread = threading.current_thread() is threading.main_thread()
    before = ({name: signal.signal(getattr(signal, name), signal.SIG_IGN)
               for name in _IGNORED_BY_FILTER} if in_main_thread else {})
    try:
        return subprocess.Popen([sys.executable, "-I", "-S", "-c", code], stdin=subprocess.DEVNULL,
                                stdout=subprocess.DEVNULL, stderr=out_fd, pass_fds=(read_fd,))
    finally:
        for name, handler in before.items():
            signal.signal(getattr(signal, name), handler)


def quiet(verbose: bool = False) -> None:
    """Filters the known notices out of stderr for this process and its children.

    Also keeps TensorFlow's own C++ log at warnings and up (TF_CPP_MIN_LOG_LEVEL=1 unless the user
    set it). Idempotent; with `verbose`, does nothing."""
    global _started
    if verbose or _started or os.environ.get("CUTOUT_VERBOSE", "") not in ("", "0"):
        return
    try:
        sys.stderr.flush()
        original = os.dup(2)
        read_fd, write_fd = os.pipe()
    except OSError:  # no usable fd 2 (a daemon): nothing to filter
        return
    try:
        filter_process = _start_filter_process(read_fd, original)
    except OSError:  # no interpreter to start (an embedded Python): leave stderr as it is
        for fd in (original, read_fd, write_fd):
            os.close(fd)
        return
    global filter_pid
    filter_pid = filter_process.pid  # model/interrupts.py stops every child process but this
    os.close(read_fd)  # the filter's now: the pipe must close when the filter goes
    os.dup2(write_fd, 2)  # sys.stderr writes to fd 2 too: one stream, one order
    os.close(write_fd)
    _started = True
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "1")

    def _restore():
        # At exit: hand fd 2 back, so the pipe closes once the last child lets go, and let the
        # filter forward what is left before the shell prints its prompt (children still
        # holding the pipe keep the filter going on its own).
        try:
            sys.stderr.flush()
        except (OSError, ValueError):
            pass
        os.dup2(original, 2)
        os.close(original)
        try:
            filter_process.wait(timeout=2)
        except subprocess.TimeoutExpired:
            pass

    atexit.register(_restore)

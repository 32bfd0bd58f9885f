"""What a person sees on the terminal: the native libraries' start-up noise filtered out.

Importing TensorFlow prints lines a newcomer reads as failures ("failed call to cuInit: ...
CUDA error" on every machine without a GPU), plus oneDNN and CPU-feature notices and absl's
"All log messages before absl::InitializeLog()". They come from C++ through file descriptor 2,
before any Python logging exists, so no logger setting reaches them; and Beam's worker processes
print "Discarding unparseable args" for every job flag they don't know. `quiet()` puts a filter on
fd 2 itself (worker subprocesses inherit it): a line matching one of `NOISE` is dropped, every
other line passes through at once, in order. Python's own stderr (logging, warnings) gets the
same line filter, so the notices that reach this process as log records (Beam forwards its
workers' logs; tf.Transform's advice on input formats) are dropped too. Real errors and the
project's own warnings pass.

Every entry point calls `start(argv)` (quiet unless `--verbose`, which it strips) before
TensorFlow or Beam is imported; `--verbose` (or CUTOUT_VERBOSE=1) leaves everything as it was.
Kept free of TensorFlow and Beam imports.
"""
from __future__ import annotations

import atexit
import io
import os
import re
import sys
import threading

# Lines that are notices, not problems, on a correct setup.
NOISE = tuple(re.compile(p) for p in (
    r"^WARNING: All log messages before absl::InitializeLog\(\) is called",
    r"^[IWE]\d{4} [\d:. ]+\d+ (port|cudart_stub|cpu_feature_guard|cuda_platform|cuda_executor|"
    r"cuda_dnn|cuda_fft|cuda_blas|gpu_device|device_compiler|service|computation_placer)\.cc:\d+\]",
    r"^To enable the following instructions: .* in other operations, rebuild TensorFlow",
    r"^W\d{4} [\d:. ]+\d+ dataset\.cc:\d+\] Input of GeneratorDatasetOp::Dataset will not be "
    r"optimized",
    # Beam: its workers' start-up (forwarded to this process as log records in multi_processing
    # mode), and RunInference's memory probe, which can't read memory use on this platform.
    r"Discarding unparseable args",
    r"Discarding invalid overrides",
    r"No semi_persistent_directory found",
    r"Resource module is not available for current platform",
    # tf.Transform's advice to feed Arrow record batches: ours feeds a few floats per image.
    r"You are passing instance dicts and DatasetMetadata to TFT",
))

_VERBOSE_FLAG = "--verbose"
_started = False


def is_noise(line: str) -> bool:
    return any(p.search(line) for p in NOISE)


def wants_verbose(argv) -> bool:
    return _VERBOSE_FLAG in argv or os.environ.get("CUTOUT_VERBOSE", "") not in ("", "0")


def strip_verbose(argv) -> list:
    return [a for a in argv if a != _VERBOSE_FLAG]


def start(argv=None) -> list:
    """For an entry point, before TensorFlow or Beam load: quiet unless `--verbose`; returns the
    arguments without `--verbose`, for the job's own parser."""
    argv = sys.argv[1:] if argv is None else list(argv)
    quiet(wants_verbose(argv))
    return strip_verbose(argv)


class _LineFilter(io.TextIOBase):
    """sys.stderr for Python's own writes: whole lines go to `stream` unless they are noise;
    a partial line waits for its end (or a flush)."""

    def __init__(self, stream):
        super().__init__()
        self._stream = stream
        self._partial = ""

    def writable(self) -> bool:
        return True

    @property
    def encoding(self):
        return self._stream.encoding

    def fileno(self) -> int:
        return self._stream.fileno()

    def isatty(self) -> bool:
        return self._stream.isatty()

    def write(self, text: str) -> int:
        *lines, self._partial = (self._partial + text).split("\n")
        kept = "".join(line + "\n" for line in lines if not is_noise(line))
        if kept:
            self._stream.write(kept)
            self._stream.flush()
        return len(text)

    def flush(self) -> None:
        if self._partial and not is_noise(self._partial):
            self._stream.write(self._partial)
        self._partial = ""
        self._stream.flush()


def _pump(read_fd: int, write_fd: int) -> None:
    buffered = b""
    while True:
        chunk = os.read(read_fd, 65536)
        if not chunk:
            break
        buffered += chunk
        *lines, buffered = buffered.split(b"\n")
        out = b"".join(line + b"\n" for line in lines
                       if not is_noise(line.decode("utf-8", "replace")))
        if out:
            os.write(write_fd, out)
    if buffered and not is_noise(buffered.decode("utf-8", "replace")):
        os.write(write_fd, buffered)
    os.close(read_fd)


def quiet(verbose: bool = False) -> None:
    """Filters the native libraries' notices out of stderr for this process and its children.

    Also keeps TensorFlow's own C++ log at warnings and up (TF_CPP_MIN_LOG_LEVEL=1 unless the user
    set it). Idempotent; with `verbose`, does nothing."""
    global _started
    if verbose or _started or os.environ.get("CUTOUT_VERBOSE", "") not in ("", "0"):
        return
    _started = True
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "1")
    try:
        sys.stderr.flush()
        original = os.dup(2)
        read_fd, write_fd = os.pipe()
        os.dup2(write_fd, 2)
        os.close(write_fd)
    except OSError:  # no usable fd 2 (a daemon): nothing to filter
        return
    pump = threading.Thread(target=_pump, args=(read_fd, original), daemon=True,
                            name="cutout-stderr-filter")
    pump.start()
    # Python's own writes (tracebacks, our logs) go straight to the terminal, in order with
    # stdout, through the same line filter; what reaches fd 2 from C and from child processes
    # passes the pump's.
    sys.stderr = _LineFilter(os.fdopen(os.dup(original), "w", buffering=1,
                                       encoding=sys.stderr.encoding, errors="backslashreplace"))

    def _restore():
        # At exit: hand fd 2 back, so the pipe closes once the last child lets go, and
        # let the pump forward what is left.
        try:
            sys.stderr.flush()
        except (OSError, ValueError):
            pass
        os.dup2(original, 2)
        pump.join(timeout=2)

    atexit.register(_restore)

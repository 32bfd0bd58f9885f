"""What a job tells the person who started it, before the long part: one line on stderr.

    cutout remove: listing photos/ -> cutouts/ (model m/export, 256 px; --output cutout)

Each job says what it is about to do as soon as its flags and inputs are checked (inputs found or
being listed, model, destination), before it starts workers or loads a model, so the first
seconds of a run are not silent. The line is named like the command the user typed (`cutout
remove`, or the module's name under `python -m`), set once by the runner (model/errors.py).
Progress lines (pipelines/progress.py) and the closing summary follow. Kept light: it imports
only model/flags.py (the short forms), no library.

Those checks come after Beam and TensorFlow load (seconds). On a terminal, the launcher says at
once what the job is about to check, from the flags as typed (`starting`), on a line that the
job's first line, or its one-line error, then replaces: a refused run still ends as one line.
"""
from __future__ import annotations

import os
import sys

from model.flags import SHORT_FLAGS

_prog = {"name": "cutout"}


def set_prog(prog: str) -> None:
    _prog["name"] = prog


def say(message: str) -> None:
    print(f"{_prog['name']}: {message}", file=sys.stderr, flush=True)


CLEAR_LINE = "\r\x1b[K"   # back to the line's start, erase it
# The flags naming what a job reads, writes and runs, with their short forms (model/flags.py).
_IN = ("--input", SHORT_FLAGS["--input"], "--input_list", "--source", "--data_dir", "--pred_dir")
_OUT = ("--output_dir", SHORT_FLAGS["--output_dir"], "--model_dir", "--report_dir")
_MODEL = ("--model", SHORT_FLAGS["--model"])
_NO_STATUS = ("-h", "--help", "-V", "--version")


def _value(argv: list, names: tuple) -> str:
    for i, arg in enumerate(argv):
        for name in names:
            if arg == name and i + 1 < len(argv):
                return argv[i + 1]
            if arg.startswith(name + "="):
                return arg[len(name) + 1:]
    return ""


def about_to_check(argv: list) -> str:
    """What a job is about to check, from its flags as typed (nothing is validated here)."""
    leading = []
    for arg in argv:
        if arg.startswith("-"):
            break
        leading.append(arg)
    source = _value(argv, _IN) or (leading[0] if leading else "")
    dest = _value(argv, _OUT) or (leading[-1] if len(leading) > 1 else "")
    model = _value(argv, _MODEL)
    what = ", ".join(x for x in (" -> ".join(x for x in (source, dest) if x),
                                 f"model {model}" if model else "") if x)
    return (f"starting{': ' + what if what else ''} (loading Beam and TensorFlow, then checking "
            "the flags, inputs and model)")


class _ClearFirst:
    """sys.stderr while a status line is on the terminal: the first write erases it."""

    def __init__(self, stream):
        self._stream = stream

    def write(self, text):
        if text and sys.stderr is self:
            sys.stderr = self._stream
            text = CLEAR_LINE + text
        return self._stream.write(text)

    def __getattr__(self, name):
        return getattr(self._stream, name)


def starting(prog: str, argv: list) -> None:
    """On a terminal, at once: `PROG: starting: IN -> OUT, model M (...)`, left open for the job's
    first line on stderr to replace. Nothing when stderr is not a terminal (a log keeps whole
    lines only), or for --help / --version."""
    if not os.isatty(2) or any(arg in _NO_STATUS for arg in argv):
        return
    os.write(2, f"{prog}: {about_to_check(list(argv))}".encode("utf-8", "replace"))
    sys.stderr = _ClearFirst(sys.stderr)

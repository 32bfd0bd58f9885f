"""What a job tells the person who started it, before the long part: one line on stderr.

    cutout remove: listing photos/ -> cutouts/ (model m/export, 256 px; --output cutout)

Each job says what it is about to do as soon as its flags and inputs are checked (inputs found or
being listed, model, destination), before it starts workers or loads a model, so the first
seconds of a run are not silent. The line is named like the command the user typed (`cutout
remove`, or the module's name under `python -m`), set once by the runner (model/errors.py).
Progress lines (pipelines/progress.py) and the closing summary follow. Kept free of imports.
"""
from __future__ import annotations

import sys

_prog = {"name": "cutout"}


def set_prog(prog: str) -> None:
    _prog["name"] = prog


def say(message: str) -> None:
    print(f"{_prog['name']}: {message}", file=sys.stderr, flush=True)

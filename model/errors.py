"""The one error contract of every Cutout entry point: a user's mistake is one line, exit 2.

- `JobError`: "this job can't run" (a bad flag value, a missing or wrong data folder, a
  truncated shard, a model export that is not one, a destination it may not write). Raised as
  early as the job can tell, before any work where it can be; its text is the whole message the
  user reads, saying what is wrong and, where it can, what to do. `pipelines.core.rejects` re-exports
  this class: the pipelines and training raise the same one.
- `run_cli(prog, call)`: what every `main()` runs its job through. A JobError becomes
  `PROG: error: MESSAGE` on one line of stderr and exit status 2, the form and status argparse
  uses for a bad flag, so every usage mistake looks and exits alike. Anything else is a bug and
  keeps its traceback.

Exit statuses: 0 the job did its work (rejected inputs are data, not failures), 2 it could not
run (a JobError, or argparse's own usage errors).
This module imports nothing heavy: pipelines and model both stand on it.
"""
from __future__ import annotations

import sys
from typing import Any, Callable, Optional

from model import feedback, interrupts

EXIT_CANNOT_RUN = 2  # argparse's status for a usage error: one status for every user mistake


class JobError(Exception):
    """This job can't run: one line for the user, exit status 2, before any work."""


def one_line(message: object) -> str:
    """The message on one line: an error's text may carry line breaks (a nested library error,
    a file's content); a second line on stderr reads as a second message."""
    lines = (line.strip() for line in str(message).splitlines())
    return " ".join(line for line in lines if line)


def report(prog: str, error: BaseException) -> int:
    """Prints `PROG: error: MESSAGE` on one line of stderr; returns the exit status, 2."""
    print(f"{prog}: error: {one_line(error)}", file=sys.stderr, flush=True)
    return EXIT_CANNOT_RUN


def run_cli(prog: str, call: Callable[[], Any],
            on_result: Optional[Callable[[Any], None]] = None,
            errors: tuple = (JobError,)) -> int:
    """Runs `call()`; returns the exit status for `sys.exit`: 0 when it returned (then
    `on_result(result)`, e.g. to print a summary), 2 with one line on stderr when it raised one
    of `errors` (JobError: the job can't run). Ctrl-C and SIGTERM end it with one line and
    130/143 (model/interrupts.py)."""
    interrupts.guard(prog)
    feedback.set_prog(prog)
    try:
        result = call()
    except errors as e:
        return report(prog, e)
    if on_result is not None:
        on_result(result)
    return 0

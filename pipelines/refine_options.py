"""`--refine guided|none`, the one flag that remove_background and evaluate both take.

Beam parses every PipelineOptions class loaded in a process with one parser, and argparse
refuses a flag declared twice, so each job's options add it through `add_refine_argument`, which
adds it to a parser that lacks it (the job's own `--help` shows it, `options.job_view` reads it).
The default is each job's own (None here): remove_background refines (`refine.DEFAULT_REFINE`),
evaluate's folder mode scores the files as they are.
"""
from __future__ import annotations

from pipelines.refine import REFINE_MODES


def add_refine_argument(parser, help_text: str) -> None:
    if "--refine" not in parser._option_string_actions:  # already there: another job's options
        parser.add_argument("--refine", default=None, choices=REFINE_MODES, help=help_text)

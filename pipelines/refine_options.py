"""`--refine guided|none`, declared once for every job that takes it.

Beam parses every PipelineOptions class loaded in a process with one parser, and argparse
refuses a flag declared twice, so remove_background and evaluate can't each declare it (the
same reason `options.SharedJobOptions` exists). The default is each job's own: remove_background
refines (`refine.DEFAULT_REFINE`), evaluate's folder mode scores the files as they are.
"""
from __future__ import annotations

from apache_beam.options.pipeline_options import PipelineOptions

from pipelines.refine import REFINE_MODES


class RefineOptions(PipelineOptions):
    @classmethod
    def _add_argparse_args(cls, parser):
        parser.add_argument("--refine", default=None, choices=REFINE_MODES,
                            help="guided: the alpha's edges follow the photo's "
                                 "(pipelines/refine.py); none: plain upsampling. Default: "
                                 "guided in remove_background, none in evaluate.")


def refine_mode(options: PipelineOptions, default: str) -> str:
    """The --refine given, or this job's default."""
    return options.view_as(RefineOptions).refine or default

"""Typed options for the Cutout pipelines, and the one place that chooses the runner.

Every job takes the standard Beam options as well as its own. With no `--runner` (or with
`--runner DirectRunner`) a job runs locally and offline: Beam's DirectRunner would first try the
Prism runner, which downloads a binary, so we go straight to the FnApiRunner that the
DirectRunner itself picks for batch pipelines. It honours `--direct_num_workers` and
`--direct_running_mode` (in_memory, multi_threading, multi_processing) as usual.

Flags to config, the one way for every job: `job_config(options, JobOptions, build)` puts the
job's flags and the shared ones (`SharedJobOptions`: --output_dir, --model, --max_pixels,
--max_file_bytes, --inference_threads) in one namespace, checks the shared ones once
(`check_shared_flags`, which the one-image tool calls on its own arguments too), then calls the
job's `build` (its config.py: the job's own checks, a typed config). JobError for a bad value.
"""
from __future__ import annotations

import argparse
import json
import logging
import sys
import types

import apache_beam as beam
from apache_beam.options.pipeline_options import (PipelineOptions, PortableOptions,
                                                  StandardOptions)
from apache_beam.portability import python_urns
from apache_beam.runners.portability.fn_api_runner import fn_runner

from model.errors import run_cli
from pipelines.core import job_flags
from pipelines.core.fileio import is_gcs
from pipelines.core.imaging import DEFAULT_MAX_PIXELS
from pipelines.core.rejects import JobError
from pipelines.core.safe_files import DEFAULT_MAX_FILE_BYTES

LOCAL_RUNNER_NAMES = (None, "", "DirectRunner", "SwitchingDirectRunner")


class SharedJobOptions(PipelineOptions):
    """Flags that mean the same in several jobs, declared once: Beam parses every options class
    loaded in a process with one parser, and argparse refuses a flag declared twice."""

    @classmethod
    def _add_argparse_args(cls, parser):
        parser.add_argument("--output_dir", default=None,
                            help="Where the job writes (local folder or gs://).")
        parser.add_argument("--model", default=None, help="MODEL/export (local or gs://).")
        parser.add_argument("--max_pixels", type=int, default=DEFAULT_MAX_PIXELS,
                            help="Reject images with more pixels (decompression bombs); "
                                 "default: Pillow's limit.")
        parser.add_argument("--max_file_bytes", type=int, default=DEFAULT_MAX_FILE_BYTES,
                            help="Reject any input file or archive member larger than this "
                                 "(too_large); every read stops there. Default: 256 MiB.")
        parser.add_argument("--inference_threads", type=int, default=0,
                            help="TensorFlow threads per worker process (0: its default, or "
                                 "cores/workers on the local runner in multi_processing mode).")


# The shared flags' lowest allowed values, checked once for every job and tool that takes them.
SHARED_MINIMUMS = {"max_pixels": (1, ""), "max_file_bytes": (1, ""),
                   "inference_threads": (0, " (0: automatic)")}


def check_shared_flags(values) -> None:
    """The one check of the shared flags (--max_pixels, --max_file_bytes, --inference_threads),
    for any namespace holding some of them (a job's view, the one-image tool's arguments).
    Raises JobError."""
    for name, (lowest, meaning) in SHARED_MINIMUMS.items():
        value = getattr(values, name, None)
        if value is not None and value < lowest:
            raise JobError(f"--{name} {value}: must be at least {lowest}{meaning}")


def option_names(cls) -> list[str]:
    parser = argparse.ArgumentParser(add_help=False)
    cls._add_argparse_args(parser)
    return [a.dest for a in parser._actions]


def job_view(options: PipelineOptions, job_cls) -> types.SimpleNamespace:
    """One namespace with a job's own flags and the shared ones."""
    values = {}
    for cls in (SharedJobOptions, job_cls):
        view = options.view_as(cls)
        values.update({name: getattr(view, name) for name in option_names(cls)})
    return types.SimpleNamespace(**values)


def job_config(options: PipelineOptions, job_cls, build):
    """The one way a job's typed config is built from its flags: its own and the shared ones in
    one namespace (`job_view`), the shared ones checked (`check_shared_flags`), then
    `build(view)`, the job's own checks (its config.py). Raises JobError."""
    view = job_view(options, job_cls)
    check_shared_flags(view)
    return build(view)


def _local_runner(options: PipelineOptions):
    from apache_beam.portability.api import beam_provision_api_pb2
    from apache_beam.runners.portability.portable_runner import JobServiceHandle

    encoded = JobServiceHandle.encode_pipeline_options(options.get_all_options())
    provision_info = fn_runner.ExtendedProvisionInfo(
        beam_provision_api_pb2.ProvisionInfo(pipeline_options=encoded))
    return _LocalRunner(provision_info=provision_info)


class _LocalRunner(fn_runner.FnApiRunner):
    """The FnApiRunner, with its worker processes (multi_processing mode) started with Ctrl-C
    ignored: a terminal's Ctrl-C reaches every process of the foreground group, and each worker
    would print its own KeyboardInterrupt traceback. The job's handler (model/interrupts.py)
    stops them instead. `trap '' INT` in the worker's shell line: an ignored signal stays ignored
    through exec, and Python then installs no KeyboardInterrupt handler."""

    def run_via_runner_api(self, pipeline_proto, options):
        for environment in pipeline_proto.components.environments.values():
            if environment.urn == python_urns.SUBPROCESS_SDK:
                environment.payload = b"trap '' INT; exec " + environment.payload
        return super().run_via_runner_api(pipeline_proto, options)


def is_local(options: PipelineOptions) -> bool:
    return options.view_as(StandardOptions).runner in LOCAL_RUNNER_NAMES


def shares_local_disk(options: PipelineOptions) -> bool:
    """True when every worker runs on this machine (local runners, or a portable runner with
    LOOPBACK workers): then local temporary folders can pass files between stages."""
    if is_local(options):
        return True
    env = (options.view_as(PortableOptions).environment_type or "").upper()
    return options.view_as(StandardOptions).runner in ("PortableRunner", "FlinkRunner",
                                                       "SparkRunner") and env == "LOOPBACK"


def make_pipeline(options: PipelineOptions) -> beam.Pipeline:
    """A Pipeline on the runner the options name; local and offline when they name none."""
    if is_local(options):
        return beam.Pipeline(runner=_local_runner(options), options=options)
    return beam.Pipeline(options=options)


def run_job_cli(prog: str, run, job_cls, errors: tuple, summarize=None, argv=None,
                shared: tuple = (), label: str = "", description: str = "",
                positionals: tuple = (), required: tuple = ()) -> int:
    """The jobs' `main()`: strict flags (`job_flags`), help, Ctrl-C/SIGTERM (`model.interrupts`),
    run, one clear line for an input the job can't work with. `prog` names the command in help
    and errors (`cutout remove`, or `python -m pipelines.remove_background` with `label`
    `remove_background` in its errors); `shared`: the shared flags the job reads.

    Exit status: 0 when the job did its work (rejects are data), 2 when it could not, 130/143
    when interrupted.
    """
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(message)s")
    argv = sys.argv[1:] if argv is None else list(argv)
    argv = job_flags.strict_argv(prog, (job_cls, SharedJobOptions), shared, argv, description,
                                 positionals, required)

    def print_summary(result) -> None:
        if result and summarize:  # a --dry_run returns nothing to summarise
            print(json.dumps(summarize(result)))

    # model/errors.py's runner: the one contract of every entry point (and Ctrl-C's handler).
    return run_cli(label or prog, lambda: run(argv), on_result=print_summary, errors=errors)


def require_reachable(options: PipelineOptions, paths, error=ValueError) -> None:
    """Workers on other machines can't reach this machine's files: refuse local paths there."""
    if shares_local_disk(options):
        return
    local = [p for p in paths if p and not is_gcs(p)]
    if local:
        raise error(f"workers on other machines can't reach the local path {local[0]}: "
                    "use gs:// paths with this runner")

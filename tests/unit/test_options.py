"""With no --runner a job runs locally and offline: never the Prism runner (it downloads)."""
import os

import apache_beam as beam
from apache_beam.options.pipeline_options import PipelineOptions
from apache_beam.runners.portability.fn_api_runner import fn_runner
from apache_beam.testing.util import assert_that, equal_to

from pipelines.core.options import is_local, make_pipeline


def test_no_runner_means_local_fn_api_runner():
    for argv in ([], ["--runner", "DirectRunner"]):
        options = PipelineOptions(argv)
        assert is_local(options)
        pipeline = make_pipeline(options)
        assert isinstance(pipeline.runner, fn_runner.FnApiRunner)
    assert not is_local(PipelineOptions(["--runner", "DataflowRunner"]))


def test_local_runner_honours_direct_options():
    """Two worker processes, as asked: each element reports the process that squared it. Ignored
    options would leave everything in this one process."""
    options = PipelineOptions(["--direct_num_workers", "2", "--direct_running_mode",
                               "multi_processing"])
    with make_pipeline(options) as p:
        out = p | beam.Create(range(10)) | beam.Map(lambda x: (x * x, os.getpid()))
        assert_that(out | "Squares" >> beam.Map(lambda sq_pid: sq_pid[0]),
                    equal_to([x * x for x in range(10)]), label="squares")
        workers = out | "Pids" >> beam.Map(lambda sq_pid: sq_pid[1]) | beam.Distinct()
        assert_that(workers | "IsThisProcess" >> beam.Map(lambda pid, here: pid == here,
                                                           os.getpid()),
                    equal_to([False, False]), label="workers")

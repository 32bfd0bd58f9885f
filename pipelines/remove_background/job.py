"""remove_background's pipeline: the inference stage, the wiring of every stage, and `run`.

The runbook (flags, outputs, bookkeeping, exit status, performance) is the package's docstring,
`pipelines/remove_background/__init__.py`.
"""
from __future__ import annotations

import dataclasses
import json
import logging
import os
import shutil
from typing import Optional

import apache_beam as beam
from apache_beam.ml.inference.base import RunInference
from apache_beam.options.pipeline_options import DirectOptions, PipelineOptions, TestOptions

from pipelines.core import fileio, options as pipeline_options, progress
from pipelines.core.rejects import JobError, Rejected, record
from pipelines.remove_background.bookkeeping import (SUMMARY_FILE, WriteBookkeeping, claim_dest,
                                                     format_summary, rejection, temp_dir)
from pipelines.remove_background.config import JobConfig, RemoveBackgroundOptions, resolve_config
from pipelines.remove_background.index import WriteIndex, index_record
from pipelines.remove_background.inputs import ListInputs
from pipelines.remove_background.output_plan import ExistingOutputs, PlanOutputs, output_path
from pipelines.remove_background.review_page import build_review_page, remove_review_page
from pipelines.serving import inference
from pipelines.serving.confidence import confidence

_log = logging.getLogger(__name__)


# ---------------------------------------------------------------------------------------------
# The inference stage: read, prepare, RunInference, render and write.

class _PrepareDoFn(beam.DoFn):
    """(uri, outputs) -> Prepared (read once, draft-decoded to the model's input), or a reject."""

    def __init__(self, cfg: JobConfig):
        self._cfg = cfg

    def process(self, task):
        uri, outputs = task
        try:  # a regular file, at most --max_file_bytes (never a FIFO or /dev/zero)
            data = fileio.read_bytes(uri, self._cfg.max_file_bytes)
        except Exception as e:  # vanished, no permission, ...: this input only
            yield rejection(self._cfg.source, uri, e, "read_failed")
            return
        try:
            small = inference.prepare_image(data, self._cfg.image_size, self._cfg.max_pixels)
        except Exception as e:  # Rejected, or a decoder failing in a way Pillow doesn't classify
            yield rejection(self._cfg.source, uri, e, "undecodable")
            return
        yield inference.Prepared(uri, outputs, data, small)


class _RenderAndWriteDoFn(beam.DoFn):
    """PredictionResult -> outputs written under DEST; emits (uri, files written), and its index
    record on the 'index' output; or a reject."""

    def __init__(self, cfg: JobConfig):
        self._cfg = cfg

    def process(self, result):
        cfg = self._cfg
        prepared = result.example
        try:
            rgb, own_alpha, alpha = inference.full_size_alpha(
                prepared.data, result.inference, cfg.refine, cfg.max_pixels)
            pngs = inference.encode_outputs(
                rgb, own_alpha, alpha, [kind for kind, _ in prepared.outputs],
                background=cfg.background, png_compression=cfg.png_compression)
        except Exception as e:
            yield rejection(cfg.source, prepared.uri, e, "undecodable")
            return
        for kind, name in prepared.outputs:
            try:
                path = output_path(cfg.dest, name)
                if cfg.dest_resolved and not fileio.resolves_inside(path, cfg.dest_resolved):
                    # A folder in DEST that is a link elsewhere: checked here, at the write.
                    raise Rejected("unsafe_path", f"{name} would be written outside "
                                                  f"{cfg.dest_resolved}, through a link")
                fileio.write_bytes(path, pngs[kind], mime_type="image/png",
                                   temp_dir=cfg.dest_resolved and temp_dir(cfg.dest_resolved))
            except Exception as e:
                yield rejection(cfg.source, prepared.uri, e, "write_failed")
                return
        yield prepared.uri, len(prepared.outputs)
        yield beam.pvalue.TaggedOutput("index", index_record(
            prepared.uri, [name for _, name in prepared.outputs], rgb.width, rgb.height,
            confidence(result.inference), cfg.model, cfg.refine))


def _failed_batch_to_rejects(failed, source: str):
    batch, (exc_type, exc_repr, _) = failed
    for prepared in batch:
        yield record(source, prepared.uri, "inference_failed", exc_repr)


def make_model_handler(cfg: JobConfig) -> inference.SavedModelHandler:
    return inference.SavedModelHandler(cfg.model, max_batch_size=cfg.max_batch_size,
                                       inference_threads=cfg.inference_threads)


class RemoveBackgrounds(beam.PTransform):
    """(uri, outputs) tasks -> {'written': (uri, n files), 'rejected': reject records,
    'index': index records (`index.py`)}.

    Read + draft-decode + resize, batch, RunInference (our SavedModelHandler; a failed batch
    becomes rejects, the job goes on), then full decode, upsample, compose, encode, write.
    """

    def __init__(self, cfg: JobConfig, model_handler=None):
        super().__init__()
        self._cfg = cfg
        self._handler = model_handler or make_model_handler(cfg)

    def expand(self, tasks):
        cfg = self._cfg
        prepared, bad_inputs = (tasks | "Prepare" >> beam.ParDo(_PrepareDoFn(cfg))
                                .with_outputs("rejected", main="prepared"))
        predictions, dlq = (prepared
                            | "RunInference" >> RunInference(self._handler)
                            .with_exception_handling())
        failed = (dlq.failed_inferences
                  | "FailedBatches" >> beam.FlatMap(_failed_batch_to_rejects, cfg.source))
        rendered = (predictions
                    | "RenderAndWrite" >> beam.ParDo(_RenderAndWriteDoFn(cfg))
                    .with_outputs("rejected", "index", main="written"))
        rejected = (bad_inputs, failed, rendered.rejected) | "Rejected" >> beam.Flatten()
        return {"written": rendered.written, "rejected": rejected, "index": rendered.index}


def build_pipeline(p: beam.Pipeline, cfg: JobConfig, model_handler=None) -> None:
    listed = p | "ListInputs" >> ListInputs(cfg)
    existing = p | "ListExisting" >> ExistingOutputs(cfg.dest)
    plan = (listed["uris"], existing) | "PlanOutputs" >> PlanOutputs(cfg)
    bookkeeping = {"skipped": plan["skipped"], "ignored": listed["ignored"]}
    if cfg.plan_only:  # the tasks are counted, not run
        written = p | "NothingWritten" >> beam.Create([])
        late_rejects = ()
        bookkeeping["planned"] = plan["tasks"]
    else:
        done = plan["tasks"] | "RemoveBackgrounds" >> RemoveBackgrounds(cfg, model_handler)
        written, late_rejects = done["written"], (done["rejected"],)
        bookkeeping["below_review"] = done["index"] | "Index" >> WriteIndex(cfg)
    rejected = ((listed["rejected"], plan["rejected"], *late_rejects)
                | "AllRejected" >> beam.Flatten())
    bookkeeping.update(written=written, rejected=rejected)
    _ = bookkeeping | "Bookkeeping" >> WriteBookkeeping(cfg)
    tracker = progress.tracker_for(p, "remove_background")  # a line every ~10 s, local runs
    progress.count(tracker, progress.TOTAL, "ProgressListed", listed["uris"])
    progress.count(tracker, progress.DONE, "ProgressDone", written, plan["skipped"], rejected)


def _auto_threads(options: PipelineOptions, cfg: JobConfig) -> JobConfig:
    """On the local runner in multi_processing mode, cores/workers TensorFlow threads each."""
    direct = options.view_as(DirectOptions)
    if (cfg.inference_threads == 0 and pipeline_options.is_local(options)
            and direct.direct_running_mode == "multi_processing"):
        workers = max(1, direct.direct_num_workers or 1)
        return dataclasses.replace(cfg, inference_threads=max(1, (os.cpu_count() or 1) // workers))
    return cfg


def run(argv=None, model_handler=None) -> Optional[dict]:
    """Runs the job; returns the summary (None when the runner does not wait for the job).
    Raises JobError when it can't run."""
    options = PipelineOptions(argv)
    opts = pipeline_options.job_view(options, RemoveBackgroundOptions)
    cfg = _auto_threads(options, resolve_config(opts))
    pipeline_options.require_reachable(options, [cfg.pattern, cfg.root, cfg.dest, cfg.model],
                                       JobError)
    dry_run = options.view_as(TestOptions).dry_run
    if not dry_run and not cfg.plan_only:  # a plan makes no outputs: it claims nothing
        claim_dest(cfg)
    pipeline = pipeline_options.make_pipeline(options)
    build_pipeline(pipeline, cfg, model_handler)
    result = pipeline.run()
    if dry_run:
        _log.warning("remove_background: --dry_run: the job was built, not run")
        return None
    state = result.wait_until_finish()
    if str(state).split(".")[-1] != "DONE":
        return None
    if cfg.dest_resolved:  # the temporaries' folder, empty once every write is renamed
        shutil.rmtree(temp_dir(cfg.dest_resolved), ignore_errors=True)
    summary = json.loads(fileio.read_bytes(cfg.dest + "/" + SUMMARY_FILE))
    print(format_summary(summary, cfg.dest), flush=True)
    if cfg.review_below is not None and not cfg.plan_only:
        page = build_review_page(cfg.dest, log=lambda line: print(line, flush=True))
        print(f"remove_background: review page {page['page']} ({page['entries']} outputs "
              "under review)", flush=True)
    elif cfg.overwrite and not cfg.plan_only:  # the review lists went with the old outputs
        remove_review_page(cfg.dest)
    if summary["inputs"] == 0:
        raise JobError(f"no inputs matched {cfg.source!r}")
    return summary


def main(argv=None) -> int:
    return pipeline_options.run_job_cli("remove_background", run, RemoveBackgroundOptions,
                                        (JobError,), argv=argv)


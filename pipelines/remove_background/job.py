"""remove_background's pipeline: the inference stage, the wiring of every stage, and `run`.

The runbook (flags, outputs, bookkeeping, exit status, performance) is the package's docstring,
`pipelines/remove_background/__init__.py`.
"""
from __future__ import annotations

import dataclasses
import errno
import json
import logging
import os
import sys
import time
from typing import Optional

import apache_beam as beam
from apache_beam.ml.inference.base import RunInference
from apache_beam.options.pipeline_options import DirectOptions, PipelineOptions, TestOptions

from model import feedback, interrupts
from pipelines.core import fileio, options as pipeline_options, progress
from pipelines.core.job_flags import first_line
from pipelines.core.reject_io import check_inside
from pipelines.core.rejects import JobError, Rejected
from pipelines.remove_background import quick_plan
from pipelines.remove_background.bookkeeping import (SUMMARY_FILE, WriteBookkeeping, claim_dest,
                                                     count_outputs_since, describe_job,
                                                     format_summary, guard_dest, rejection,
                                                     release_dest, temp_dir, write_summary)
from pipelines.remove_background.config import JobConfig, RemoveBackgroundOptions, resolve_config
from pipelines.remove_background.index import WriteIndex, index_record
from pipelines.remove_background.index_recovery import ReadIndexedInputs, RecoverLineDoFn
from pipelines.remove_background.inputs import ListInputs
from pipelines.remove_background.output_plan import ExistingOutputs, PlanOutputs, output_path
from pipelines.remove_background.review_page import (build_review_page, remove_review_page,
                                                      shown_output, thumbnail_files)
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
        # Every file goes through this run's own temporary folder (local DEST).
        self._temp_dir = cfg.dest_resolved and temp_dir(cfg.dest_resolved, cfg.run_name)

    def _write(self, path: str, data: bytes, mime_type: str) -> None:
        fileio.write_bytes(path, data, mime_type=mime_type, temp_dir=self._temp_dir)

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
                if fileio.escapes(path, cfg.dest_resolved):
                    # A folder in DEST that is a link elsewhere: checked here, at the write.
                    raise Rejected("unsafe_path", f"{name} would be written outside "
                                                  f"{cfg.dest_resolved}, through a link")
                self._write(path, pngs[kind], "image/png")
            except Exception as e:
                yield rejection(cfg.source, prepared.uri, e, "write_failed")
                return
        score = confidence(result.inference)
        if cfg.review_below is not None and score < cfg.review_below:
            self._thumbnails(prepared, pngs, score)
        yield prepared.uri, len(prepared.outputs)
        yield beam.pvalue.TaggedOutput("index", index_record(
            prepared.uri, [name for _, name in prepared.outputs], rgb.width, rgb.height,
            score, cfg.model, cfg.refine))

    def _thumbnails(self, prepared, pngs: dict, score: float) -> None:
        """An output under --review_below: the review page's thumbnails, made here from the bytes
        in hand, so the page at the run's end reads no photo again. Best effort: what fails
        here, the page's builder makes, or shows with its reason (review_page.py)."""
        cfg = self._cfg
        kinds = {name: kind for kind, name in prepared.outputs}
        shown = shown_output(list(kinds))
        entry = {"input": prepared.uri, "output": shown, "confidence": score}
        try:
            for name, data, mime in thumbnail_files(entry, prepared.data, pngs[kinds[shown]]):
                self._write(check_inside(fileio.join(cfg.dest, *name.split("/")),
                                         cfg.dest_resolved), data, mime)
        except Exception as e:  # noqa: BLE001 - the output is written; its thumbnail can wait
            _log.debug("review thumbnails of %s left to the page: %s", prepared.uri, e)


def make_model_handler(cfg: JobConfig) -> inference.SavedModelHandler:
    return inference.SavedModelHandler(cfg.model, max_batch_size=cfg.max_batch_size,
                                       inference_threads=cfg.inference_threads,
                                       runtime=cfg.runtime)


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
                  | "FailedBatches" >> beam.FlatMap(inference.failed_batch_rejects, cfg.source))
        rendered = (predictions
                    | "RenderAndWrite" >> beam.ParDo(_RenderAndWriteDoFn(cfg))
                    .with_outputs("rejected", "index", main="written"))
        rejected = (bad_inputs, failed, rendered.rejected) | "Rejected" >> beam.Flatten()
        return {"written": rendered.written, "rejected": rejected, "index": rendered.index}


def build_pipeline(p: beam.Pipeline, cfg: JobConfig, model_handler=None) -> None:
    listed = p | "ListInputs" >> ListInputs(cfg)
    existing = p | "ListExisting" >> ExistingOutputs(cfg.dest)
    indexed = p | "ReadIndexed" >> ReadIndexedInputs(cfg.dest)
    plan = (listed["uris"], existing, indexed) | "PlanOutputs" >> PlanOutputs(cfg)
    bookkeeping = {"skipped": plan["skipped"], "ignored": listed["ignored"]}
    if cfg.plan_only:  # the tasks are counted, not run
        written = p | "NothingWritten" >> beam.Create([])
        late_rejects = ()
        bookkeeping["planned"] = plan["tasks"]
    else:
        done = plan["tasks"] | "RemoveBackgrounds" >> RemoveBackgrounds(cfg, model_handler)
        # Outputs a killed run left without index lines get theirs (index_recovery.py).
        recovered = plan["recover"] | "RecoverIndex" >> beam.ParDo(
            RecoverLineDoFn(cfg)).with_outputs("rejected", main="index")
        written, late_rejects = done["written"], (done["rejected"], recovered.rejected)
        bookkeeping["below_review"] = ((done["index"], recovered.index)
                                       | "AllIndexLines" >> beam.Flatten()
                                       | "Index" >> WriteIndex(cfg))
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
    cfg = _auto_threads(options, pipeline_options.job_config(options, RemoveBackgroundOptions,
                                                             resolve_config))
    pipeline_options.require_reachable(options, [cfg.pattern, cfg.root, cfg.dest, cfg.model],
                                       JobError)
    dry_run = options.view_as(TestOptions).dry_run
    if not dry_run and cfg.plan_only:  # a plan makes no outputs: it claims nothing
        guard_dest(cfg)
    elif not dry_run:
        claim_dest(cfg)
    if cfg.dest_resolved and not dry_run:  # Ctrl-C: "interrupted after N outputs", no _tmp/
        started = time.time()
        interrupts.on_interrupt(
            count=lambda: count_outputs_since(cfg.dest_resolved, started),
            cleanup=(lambda: None) if cfg.plan_only else (lambda: release_dest(cfg)))
    feedback.say(describe_job(cfg))
    try:
        return _run_claimed(options, cfg, model_handler, dry_run)
    finally:
        if not dry_run and not cfg.plan_only:
            release_dest(cfg)


def _run_claimed(options, cfg: JobConfig, model_handler, dry_run: bool) -> Optional[dict]:
    quick = None if dry_run else quick_plan.nothing_to_do(cfg)
    if quick is not None:  # told before any worker starts or model loads
        summary = write_summary(quick, cfg)
        print(format_summary(summary, cfg.dest), flush=True)
        return summary
    pipeline = pipeline_options.make_pipeline(options)
    build_pipeline(pipeline, cfg, model_handler)
    try:
        result = pipeline.run()
        if dry_run:
            _log.warning("remove_background: --dry_run: the job was built, not run")
            return None
        state = result.wait_until_finish()
    except Exception as e:  # noqa: BLE001 - a write failure in bookkeeping: one line, not a trace
        failure = write_failure(e)
        if failure is None:
            raise
        raise JobError(f"the job stopped: {failure}; the outputs written so far are kept "
                       "(each indexed by the next run): free the space and run again to "
                       "finish") from None
    if str(state).split(".")[-1] != "DONE":
        return None
    summary = json.loads(fileio.read_bytes(cfg.dest + "/" + SUMMARY_FILE))
    print(format_summary(summary, cfg.dest), flush=True)
    if cfg.review_below is not None and not cfg.plan_only:
        page = build_review_page(cfg.dest, log=lambda line: print(line, flush=True))
        print(f"remove_background: review page {page['page']} ({page['entries']} outputs "
              f"under review; thumbnails: {page['thumbnails_reused']} made by the workers (or an "
              f"earlier run), {page['thumbnails_made']} made now, "
              f"{page['thumbnail_problems']} not possible)", flush=True)
    elif cfg.overwrite and not cfg.plan_only:  # the review lists went with the old outputs
        remove_review_page(cfg.dest)
    if summary["inputs"] == 0:
        raise JobError(f"no inputs matched {cfg.source!r}")
    return summary


WRITE_ERRNOS = (errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EIO, errno.EFBIG, errno.EACCES)


def write_failure(error: BaseException) -> Optional[str]:
    """The OS error (a full disk, a read-only or vanished DEST, a write refused outside DEST)
    behind a failed pipeline, as one line; None when the failure is of another kind. Beam
    re-raises a worker's error wrapped, often as text only: the chain and the text are both
    searched."""
    seen = error
    while seen is not None:
        if isinstance(seen, OSError) and seen.errno in WRITE_ERRNOS:
            return f"{os.strerror(seen.errno)} ({seen.filename or 'a write'})"
        seen = seen.__cause__ or seen.__context__
    text = str(error)
    for code in WRITE_ERRNOS:
        if os.strerror(code) in text:
            return os.strerror(code)
    return None


# The shared flags (core.options.SharedJobOptions) this job reads; --help lists only these.
SHARED_FLAGS = ("--output_dir", "--model", "--max_pixels", "--max_file_bytes",
                "--inference_threads")


def main(argv=None, prog: str = "python -m pipelines.remove_background") -> int:
    return pipeline_options.run_job_cli(
        prog, run, RemoveBackgroundOptions, (JobError,), argv=argv, shared=SHARED_FLAGS,
        label="remove_background" if prog.startswith("python") else "",
        description=first_line(sys.modules[__package__].__doc__),
        positionals=("--input", "--output_dir"), required=("--output_dir", "--model"))


"""Remove backgrounds from any collection of images with an exported Cutout model.

Runbook
-------
    python -m pipelines.remove_background --input PATTERN_OR_FOLDER --output_dir DEST \\
        --model MODEL/export [--output cutout|mask|both] [--background COLOR] \\
        [--max_batch_size 16] [--png_compression fastest|rle|fast|default] [--max_pixels N] \\
        [--runtime openvino|openvino_bf16|savedmodel] [--max_file_bytes N] [--overwrite] \\
        [--inference_threads N] [--refine guided|none] \\
        [--review_below X] [--index_shards N] [standard Beam options]
    python -m pipelines.remove_background --input_list FILE_OR_GLOB --input_root PREFIX \\
        [--input_list_column NAME] ...
    python -m pipelines.remove_background --input ... --output_dir DEST --plan_only

Inputs: a folder or gs:// prefix (every file under it, recursively), a glob (`photos/*.jpg`,
`gs://b/in/**.png`; the root is the folder before the first wildcard) or a single file; or, with
`--input_list`, a text file of URIs, one per line (blank lines and surrounding spaces ignored;
a line that is not absolute or gs:// is taken relative to `--input_root`), or a glob of such
files (`gs://b/inventory/*.csv`: storage inventory reports arrive as many shards), read in
parallel. With `--input_list_column NAME` the list files are CSV (optionally .gz), each with a
header row naming its columns, and NAME is the column holding the object name (a GCS inventory
report's `name`, relative to `--input_root gs://BUCKET`). Any format Pillow reads:
JPEG, PNG (8/16-bit, palette, with alpha), WebP, GIF (first frame), TIFF, grayscale, CMYK;
EXIF orientation is applied, so cut-outs come out upright.

Writes, for each input at `<root>/<rel>.<ext>`:
- `--output cutout` (default): `DEST/<rel>.png`, RGBA at the input's full size: every original
  pixel with the predicted alpha (times the input's own alpha, when it has one). With
  `--background COLOR` (`white`, `#00ff00`, `0,255,0`) the cut-out is composited onto that colour
  instead and has no alpha.
- `--output mask`: `DEST/<rel>.png`, a single-channel PNG: the alpha the cut-out would have.
- `--output both`: `DEST/<rel>.png` (cut-out) and `DEST/<rel>.mask.png` (mask).
The alpha is the model's, upsampled to the photo and, with `--refine guided` (default), refined
with the photo as guide so its edges follow the photo's (`pipelines/refine.py`; `none`: plain
bilinear upsampling; README, "Refinement and confidence", says what it buys and costs).
and the bookkeeping, always under `DEST/_*` names:
- `DEST/_rejected/rejected-SSSSS-of-NNNNN.jsonl` (read every shard: `DEST/_rejected/*.jsonl`;
  one shard per 100,000 rejects, written by the workers): one JSON object per input that got no
  output in this run: `source` (the --input or --input_list value), `path` (the input URI; a name
  that is not UTF-8 with backslash escapes), `reason`, `detail`.
- `DEST/_index/<run>-SSSSS-of-NNNNN.jsonl`: one JSON line per input this run wrote outputs for:
  `input` (URI), `outputs` (names relative to DEST), `width`, `height`, `confidence` (in [0, 1]:
  how sure the model was, `pipelines/confidence.py`), `model`, `refine`. `<run>` is the run's
  UTC start time (names sort by time). Each run adds its own files and keeps earlier runs'; the
  index of DEST is all of them, the latest line winning per input (`rb_index.read_index`), so an
  input skipped on a re-run keeps its line. `--overwrite` removes earlier runs' index (and
  review) files once this run's are written. `--index_shards N` files per run (default 1; about
  one per million inputs), written by the workers.
- `DEST/_review/<run>-SSSSS-of-NNNNN.jsonl` (with `--review_below X`): `input`, `confidence`,
  `outputs` of this run's outputs with confidence under X: what a person should look at. The
  summary counts them (`below_review`).
- `DEST/_summary.json`: counts (`inputs` = `written` + `skipped` + `rejected`,
  `rejected_by_reason`, `files_written`) and the options of the run. Both are rewritten by every
  run; the summary is also printed at the end, and Beam counters `written`, `skipped`, `rejected`
  (namespace `remove_background`) count the same things.
- `DEST/_job.json`: the settings the outputs were made with (`output`, `background`, `model`):
  a run with other settings is refused (one line) unless `--overwrite`.
On gs:// every output object has content type image/png. Every write is atomic (a crash leaves
an output whole or absent; a local write goes through `DEST/_tmp/`, swept by the next run).

`--plan_only`: list and plan, load no model, write nothing but the bookkeeping: `_summary.json`
counts `planned` (inputs a run would process) and `files_planned` beside `skipped` and
`rejected` (`--model` may be left out).

Scale: a folder or prefix (and DEST) is listed with a fan-out (pipelines/listing.py): its first
two levels one folder per worker, then each sub-folder by its own worker, streamed; no stage
gathers all inputs or all rejects on one worker (bench/scale_plan.py measures it).

Re-runs: DEST is listed once at the start; an input whose outputs all exist is skipped (counted,
not re-read), so a re-run after a crash finishes the rest and rewrites nothing. With
`--output both` only the missing one of the pair is written. `--overwrite` redoes everything.

Reject reasons (rejects.REASONS): `empty_file`, `not_an_image`, `undecodable` (truncated or
corrupt), `too_many_pixels` (over `--max_pixels`, default Pillow's 89,478,485: decompression
bombs), `read_failed`, `not_a_regular_file` (a pipe or device: never opened), `broken_link`,
`too_large` (over `--max_file_bytes`, default 256 MiB: checked before reading),
`output_name_collision` (two inputs would write the same output, e.g. `x.jpg` and `x.png` in one
folder: ALL of them are rejected, naming each other, and nothing is written for that name, so
no output is ever silently overwritten or of ambiguous origin; rename and re-run),
`duplicate_input` (a URI listed twice: done once), `unsafe_path` (`..`, `.` or empty components, or
a linked folder inside DEST that leads elsewhere: nothing lands outside DEST), `unsafe_name`
(control characters), `unencodable_name`, `name_too_long` (a component over 255 bytes or a path a
filesystem can't hold), `reserved_output_name` (a top-level name starting with `_`, DEST's
bookkeeping space), `outside_input_root` and `inside_output_dir` (listings only),
`inference_failed`, `write_failed`.
Folders are compared with links resolved. When DEST lies inside the input folder, everything
under DEST is left out of the inputs, so a re-run never makes cut-outs of cut-outs; DEST equal to
the input folder, or an input folder inside DEST, is refused (outputs could overwrite inputs).

Exit status: 0 when the job ran, whatever it rejected; 2 with a one-line error when it could not
run, before any work: model missing or damaged, DEST not writable or of other settings, no
inputs matched, bad options.

Performance (bench/remove_background.py: 80 synthetic 1080x1440 JPEGs, U-Net 16 at 256 px, CPU,
one model thread per process): per photo on one core, model 68 ms (`--runtime openvino`; 74 with
`savedmodel`, 33 with `openvino_bf16`), PNG 12 ms (`fastest`; 66 with `rle`), draft decode +
resize 5 ms, full decode 6 ms, upsample 6 ms, refine (`--refine guided`) ~15 ms, confidence 1 ms,
compose 3 ms: ~8.6 photos per CPU-second (5.7 with the SavedModel and `rle`; Pillow's default
PNG alone costs ~470 ms a photo). Fixed costs: seconds before the first output with 2 local
worker processes (Beam imports and model load in each; the OpenVINO runtimes import no
TensorFlow), and ~10-15 s for a re-run with nothing left to do. On the local runner use
`--direct_running_mode multi_processing --direct_num_workers <cores>` (the model then gets
cores/workers threads per process); on Dataflow CPU workers (one SDK process per core) pass
`--inference_threads 1`; GPU workers take `--runtime savedmodel` and the image with TensorFlow's
GPU build (infra/). Memory per in-flight
image: its encoded bytes plus an S x S x 3 array (pipelines/inference.py); a batch holds
`--max_batch_size` of them.

Code: this module holds the options, the inference stage and `run`; what `--input` names and its
listing are in `rb_inputs.py`, output names and the plan (write, skip or reject) in
`output_plan.py`, counters, rejects and summary in `rb_bookkeeping.py`, the index and review
list in `rb_index.py`, the model and the per-image steps (shared with the one-image tool) in
`inference.py`, the refinement in `refine.py` and the confidence in `confidence.py`.
"""
from __future__ import annotations

if __name__ == "__main__":
    # `python -m pipelines.remove_background`: run the module under its real name, so elements
    # pickle as pipelines.remove_background.* (importable by worker processes), not __main__.*.
    import sys

    from model import console

    sys.argv[1:] = console.start()  # quiet unless --verbose, before TensorFlow and Beam load
    from pipelines.remove_background import main

    sys.exit(main())

import dataclasses
import json
import logging
import os
import shutil
from typing import Optional

import apache_beam as beam
from apache_beam.ml.inference.base import RunInference
from apache_beam.options.pipeline_options import DirectOptions, PipelineOptions, TestOptions

from model import export
from pipelines import (fileio, imaging, inference, model_files, options as pipeline_options,
                       progress, safe_files)
from pipelines.confidence import confidence
from pipelines.output_plan import OUTPUT_MODES, ExistingOutputs, PlanOutputs, output_path
from pipelines.rb_bookkeeping import (SUMMARY_FILE, WriteBookkeeping, claim_dest,
                                      format_summary, rejection, temp_dir)
from pipelines.rb_index import WriteIndex, index_record, new_run_name
from pipelines.rb_inputs import ListInputs, normalize_location, resolve_input, resolve_input_list
from pipelines.options import DEFAULT_RUNTIME
from pipelines.refine import DEFAULT_REFINE
from pipelines.refine_options import add_refine_argument
from pipelines.rejects import JobError, Rejected, record

_log = logging.getLogger(__name__)


class RemoveBackgroundOptions(PipelineOptions):
    """This job's own flags; --output_dir, --model, --max_pixels and --inference_threads are
    shared with the other jobs (pipelines.options.SharedJobOptions)."""

    @classmethod
    def _add_argparse_args(cls, parser):
        parser.add_argument("--input", default=None,
                            help="A folder or gs:// prefix (recursive), a glob, or one file.")
        parser.add_argument("--input_list", default=None,
                            help="A text file listing input URIs, one per line, or a glob of "
                                 "such files (read in parallel).")
        parser.add_argument("--input_list_column", default=None,
                            help="With --input_list: the list files are CSV with a header row; "
                                 "this column holds the object names.")
        parser.add_argument("--plan_only", action="store_true", default=False,
                            help="List and plan only (no model): write the plan's counts to "
                                 "DEST/_summary.json.")
        parser.add_argument("--input_root", default=None,
                            help="With --input_list: the prefix that output paths are relative "
                                 "to (required with --input_list).")
        parser.add_argument("--output", default="cutout", choices=OUTPUT_MODES,
                            help="cutout (RGBA), mask (single channel), or both (<rel>.png and "
                                 "<rel>.mask.png).")
        parser.add_argument("--background", default=None,
                            help="Composite cut-outs onto this colour (name, #RRGGBB or R,G,B).")
        parser.add_argument("--max_batch_size", type=int, default=16,
                            help="Images per model call.")
        parser.add_argument("--png_compression", default=imaging.DEFAULT_PNG_COMPRESSION,
                            choices=imaging.PNG_COMPRESSIONS,
                            help="fastest (default: the project's writer, the pixels of rle), "
                                 "rle (Pillow, invisible RGB zeroed, RLE), fast (zlib level 1), "
                                 "default (Pillow's).")
        parser.add_argument("--overwrite", action="store_true", default=False,
                            help="Redo inputs whose outputs exist.")
        add_refine_argument(parser, "guided (default): the alpha's edges follow the photo's; "
                                    "none: plain upsampling.")
        parser.add_argument("--review_below", type=float, default=None,
                            help="List outputs with confidence under this in DEST/_review/.")
        parser.add_argument("--index_shards", type=int, default=1,
                            help="Files per run for DEST/_index/ and DEST/_review/.")


@dataclasses.dataclass(frozen=True)
class JobConfig:
    """Everything the pipeline needs, resolved and validated before it is built."""
    source: str                 # the --input or --input_list value, as given (for reject lines)
    input_kind: str             # 'glob', 'folder', 'file' or 'list'
    pattern: str                # what to match ('list': the list file)
    root: str                   # input root; output paths are relative to it
    dest: str
    model: str
    image_size: int
    output: str = "cutout"
    background: Optional[tuple] = None
    max_batch_size: int = 16
    png_compression: str = imaging.DEFAULT_PNG_COMPRESSION
    max_pixels: int = imaging.DEFAULT_MAX_PIXELS
    overwrite: bool = False
    inference_threads: int = 0
    runtime: str = DEFAULT_RUNTIME
    exclude_prefix: Optional[str] = None   # DEST/ when DEST lies inside the input root
    max_file_bytes: int = safe_files.DEFAULT_MAX_FILE_BYTES
    dest_resolved: Optional[str] = None    # a local DEST with its links resolved
    list_column: Optional[str] = None      # --input_list_column: the lists are CSV
    plan_only: bool = False
    refine: str = DEFAULT_REFINE
    review_below: Optional[float] = None
    index_shards: int = 1
    run_name: str = dataclasses.field(default_factory=new_run_name)   # DEST/_index/<run>-*


# ---------------------------------------------------------------------------------------------
# Resolving the options (driver side, before anything runs).

def resolve_config(opts) -> JobConfig:
    """Validates the options (`options.job_view(..., RemoveBackgroundOptions)`) and resolves
    inputs, model and DEST. Raises JobError."""
    if not opts.output_dir:
        raise JobError("--output_dir is required")
    if not opts.model and not opts.plan_only:
        raise JobError("--model is required (MODEL/export)")
    if bool(opts.input) == bool(opts.input_list):
        raise JobError("give exactly one of --input or --input_list")
    if opts.max_batch_size < 1:
        raise JobError("--max_batch_size must be at least 1")
    if opts.max_pixels < 1:
        raise JobError("--max_pixels must be at least 1")
    if opts.inference_threads < 0:
        raise JobError("--inference_threads must be 0 (automatic) or more")
    if opts.max_file_bytes < 1:
        raise JobError("--max_file_bytes must be at least 1")
    if opts.review_below is not None and not 0 <= opts.review_below <= 1:
        raise JobError("--review_below must lie in [0, 1] (a confidence)")
    if opts.index_shards < 1:
        raise JobError("--index_shards must be at least 1")
    background = None
    if opts.background:
        try:
            background = imaging.parse_color(opts.background)
        except ValueError as e:
            raise JobError(str(e)) from None
    model = normalize_location(opts.model) if opts.model else ""
    try:
        image_size = 0 if opts.plan_only and not model else \
            int(export.read_metadata(model, fileio.read_bytes)["image_size"])
    except Exception as e:
        hint = ""
        if fileio.exists(fileio.join(model, export.EXPORT_SUBDIR, export.METADATA_FILE)):
            hint = f" (did you mean {fileio.join(model, export.EXPORT_SUBDIR)}?)"
        raise JobError(f"no usable model export at {opts.model}{hint}: "
                       f"{type(e).__name__}: {e}") from None
    if model:
        model_files.check_model(model, opts.runtime)
    dest = normalize_location(opts.output_dir)
    exclude = None
    if opts.input_list:
        if not opts.input_root:
            raise JobError("--input_list needs --input_root, the prefix output paths are "
                           "relative to")
        pattern = resolve_input_list(opts.input_list, opts.input_list_column)
        kind, root = "list", normalize_location(opts.input_root)
        source = opts.input_list
    else:
        kind, pattern, root = resolve_input(opts.input)
        source = opts.input
    # Compared with links resolved: a DEST that is a link to the input folder is the input
    # folder (--overwrite would replace inputs with their cut-outs).
    real_root, real_dest = fileio.resolved(root), fileio.resolved(dest)
    if real_root == real_dest or fileio.is_inside(real_root, real_dest):
        raise JobError(f"the input folder {root} is --output_dir {dest} or inside it"
                       + ("" if (root, dest) == (real_root, real_dest) else
                          f" (links resolved: {real_root}, {real_dest})")
                       + ": outputs could overwrite inputs; choose another --output_dir")
    if kind != "list" and fileio.is_inside(real_dest, real_root):
        # DEST in the input root's terms, as the listing names files.
        exclude = root.rstrip("/") + "/" + real_dest[len(real_root.rstrip("/")) + 1:] + "/"
    return JobConfig(
        source=source, input_kind=kind, pattern=pattern, root=root, dest=dest, model=model,
        image_size=image_size, output=opts.output, background=background,
        max_batch_size=opts.max_batch_size, png_compression=opts.png_compression,
        max_pixels=opts.max_pixels, overwrite=bool(opts.overwrite),
        inference_threads=opts.inference_threads, runtime=opts.runtime, exclude_prefix=exclude,
        max_file_bytes=opts.max_file_bytes,
        dest_resolved=None if fileio.is_gcs(dest) else fileio.resolved(dest),
        list_column=opts.input_list_column, plan_only=bool(opts.plan_only),
        refine=opts.refine or DEFAULT_REFINE,
        review_below=opts.review_below, index_shards=opts.index_shards)


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
                                       inference_threads=cfg.inference_threads,
                                       runtime=cfg.runtime)


class RemoveBackgrounds(beam.PTransform):
    """(uri, outputs) tasks -> {'written': (uri, n files), 'rejected': reject records,
    'index': index records (`rb_index`)}.

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
    if summary["inputs"] == 0:
        raise JobError(f"no inputs matched {cfg.source!r}")
    return summary


def main(argv=None) -> int:
    return pipeline_options.run_job_cli("remove_background", run, RemoveBackgroundOptions,
                                        (JobError,), argv=argv)


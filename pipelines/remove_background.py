"""Remove backgrounds from any collection of images with an exported Cutout model.

Runbook
-------
    python -m pipelines.remove_background --input PATTERN_OR_FOLDER --output_dir DEST \\
        --model MODEL/export [--output cutout|mask|both] [--background COLOR] \\
        [--max_batch_size 16] [--png_compression rle|fast|default] [--max_pixels N] \\
        [--overwrite] [--inference_threads N] [standard Beam options]
    python -m pipelines.remove_background --input_list FILE --input_root PREFIX ...

Inputs: a folder or gs:// prefix (every file under it, recursively), a glob (`photos/*.jpg`,
`gs://b/in/**.png`; the root is the folder before the first wildcard) or a single file; or, with
`--input_list`, a text file of URIs, one per line (blank lines and surrounding spaces ignored;
a line that is not absolute or gs:// is taken relative to `--input_root`). Any format Pillow reads:
JPEG, PNG (8/16-bit, palette, with alpha), WebP, GIF (first frame), TIFF, grayscale, CMYK;
EXIF orientation is applied, so cut-outs come out upright.

Writes, for each input at `<root>/<rel>.<ext>`:
- `--output cutout` (default): `DEST/<rel>.png`, RGBA at the input's full size: every original
  pixel with the predicted alpha (times the input's own alpha, when it has one). With
  `--background COLOR` (`white`, `#00ff00`, `0,255,0`) the cut-out is composited onto that colour
  instead and has no alpha.
- `--output mask`: `DEST/<rel>.png`, a single-channel PNG: the alpha the cut-out would have.
- `--output both`: `DEST/<rel>.png` (cut-out) and `DEST/<rel>.mask.png` (mask).
and the bookkeeping, always under `DEST/_*` names:
- `DEST/_rejected/rejected.jsonl`: one JSON object per input that got no output in this run:
  `source` (the --input or --input_list value), `path` (the input URI), `reason`, `detail`.
- `DEST/_summary.json`: counts (`inputs` = `written` + `skipped` + `rejected`,
  `rejected_by_reason`, `files_written`) and the options of the run. Both are rewritten by every
  run; the summary is also printed at the end, and Beam counters `written`, `skipped`, `rejected`
  (namespace `remove_background`) count the same things.
On gs:// every output object has content type image/png. Every write is atomic (a crash leaves
an output whole or absent; a local crash can leave a `.tmp-*` file, which is ignored).

Re-runs: DEST is listed once at the start; an input whose outputs all exist is skipped (counted,
not re-read), so a re-run after a crash finishes the rest and rewrites nothing. With
`--output both` only the missing one of the pair is written. `--overwrite` redoes everything.

Reject reasons: `empty_file`, `not_an_image`, `undecodable` (truncated or corrupt),
`too_many_pixels` (over `--max_pixels`, default Pillow's 89,478,485: decompression bombs),
`unreadable`, `output_name_collision` (two inputs would write the same output, e.g. `x.jpg` and
`x.png` in one folder: ALL of them are rejected, naming each other, and nothing is written for
that name, so no output is ever silently overwritten or of ambiguous origin; rename and re-run),
`duplicate_input` (a URI listed twice: done once), `unsafe_path` (`..`, `.` or empty
components: nothing ever lands outside DEST), `unsafe_name` (control characters),
`unencodable_name`, `name_too_long` (a component over 255 bytes or a path a filesystem can't
hold), `reserved_output_name` (a top-level name starting with `_`, DEST's bookkeeping space),
`outside_input_root` and `inside_output_dir` (listings only), `inference_failed`, `write_failed`.
When DEST lies inside the input folder, everything under DEST (outputs and bookkeeping) is left
out of the inputs, so a re-run never makes cut-outs of cut-outs; DEST equal to the input folder,
or an input folder inside DEST, is refused (outputs could overwrite inputs).

Exit status: 0 when the job ran, whatever it rejected; non-zero with a one-line error when it
could not run: model missing, no inputs matched, bad options.

Performance (bench/remove_background.py: 80 synthetic 1080x1440 JPEGs, U-Net 16 at 256 px, CPU,
one TF thread per process): per photo on one core, model ~70 ms, PNG 'rle' ~60 ms, draft decode +
resize 4 ms, full decode 5 ms, upsample 9 ms, compose 3 ms: ~6.5 photos/s per core in steady
state, the same as a bare batched loop (Pillow's default PNG alone costs ~470 ms a photo). Fixed
costs: ~12 s before the first output with 2 local worker processes (Beam and TF imports, model
load in each), and ~10-15 s for a re-run with nothing left to do. On the local runner use
`--direct_running_mode multi_processing --direct_num_workers <cores>` (TensorFlow then gets
cores/workers threads per process); on Dataflow CPU workers (one SDK process per core) pass
`--inference_threads 1`, and use a worker image with TensorFlow (infra/). Memory per in-flight
image: its encoded bytes plus an S x S x 3 array (pipelines/inference.py); a batch holds
`--max_batch_size` of them.
"""
from __future__ import annotations

if __name__ == "__main__":
    # `python -m pipelines.remove_background`: run the module under its real name, so elements
    # pickle as pipelines.remove_background.* (importable by worker processes), not __main__.*.
    import sys

    from pipelines.remove_background import main

    sys.exit(main())

import dataclasses
import json
import logging
import os
import posixpath
import re
import sys
from typing import Any, Optional, Tuple

import apache_beam as beam
from apache_beam.io.filesystems import FileSystems
from apache_beam.metrics import Metrics
from apache_beam.ml.inference.base import RunInference
from apache_beam.options.pipeline_options import DirectOptions, PipelineOptions, TestOptions

from model import export
from pipelines import fileio, imaging, inference, options as pipeline_options
from pipelines.imaging import ImageError
from pipelines.sources import is_junk

NAMESPACE = "remove_background"
REJECTED_FILE = "_rejected/rejected.jsonl"
SUMMARY_FILE = "_summary.json"

_log = logging.getLogger(__name__)


class RemoveBackgroundOptions(PipelineOptions):
    """This job's own flags; --output_dir, --model, --max_pixels and --inference_threads are
    shared with the other jobs (pipelines.options.SharedJobOptions)."""

    @classmethod
    def _add_argparse_args(cls, parser):
        parser.add_argument("--input", default=None,
                            help="A folder or gs:// prefix (recursive), a glob, or one file.")
        parser.add_argument("--input_list", default=None,
                            help="A text file listing input URIs, one per line.")
        parser.add_argument("--input_root", default=None,
                            help="With --input_list: the prefix that output paths are relative "
                                 "to (required with --input_list).")
        parser.add_argument("--output", default="cutout", choices=inference.OUTPUT_MODES,
                            help="cutout (RGBA), mask (single channel), or both (<rel>.png and "
                                 "<rel>.mask.png).")
        parser.add_argument("--background", default=None,
                            help="Composite cut-outs onto this colour (name, #RRGGBB or R,G,B).")
        parser.add_argument("--max_batch_size", type=int, default=16,
                            help="Images per model call.")
        parser.add_argument("--png_compression", default="rle",
                            choices=imaging.PNG_COMPRESSIONS,
                            help="rle (fastest), fast (zlib level 1), default (Pillow's).")
        parser.add_argument("--overwrite", action="store_true", default=False,
                            help="Redo inputs whose outputs exist.")


class JobError(Exception):
    """The job could not run (as opposed to rejecting some inputs)."""


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
    png_compression: str = "rle"
    max_pixels: int = imaging.DEFAULT_MAX_PIXELS
    overwrite: bool = False
    inference_threads: int = 0
    exclude_prefix: Optional[str] = None   # DEST/ when DEST lies inside the input root


# ---------------------------------------------------------------------------------------------
# Resolving the options (driver side, before anything runs).

def normalize_location(path: str) -> str:
    if fileio.is_gcs(path):
        return path.rstrip("/") or path
    return os.path.abspath(os.path.expanduser(path))


def _inside(path: str, folder: str) -> bool:
    return path.startswith(folder.rstrip("/") + "/")


def _probe(pattern: str) -> bool:
    """Whether anything matches, reading at most one listing page."""
    try:
        return bool(FileSystems.match([pattern], limits=[1])[0].metadata_list)
    except Exception:  # a missing local folder or bucket reads as 'nothing there'
        return False


_GLOB_START = re.compile(r"^[^[*?]*")


def resolve_input(spec: str) -> tuple[str, str, str]:
    """--input -> (kind, pattern to match, input root). Raises JobError when nothing is there."""
    path = spec if fileio.is_gcs(spec) else os.path.expanduser(spec)
    if not fileio.is_gcs(path) and not os.path.isabs(path):
        path = os.path.join(os.getcwd(), path)
    literal = _GLOB_START.match(path).group(0)
    exists_as_named = (os.path.exists(path) if not fileio.is_gcs(path)
                       else fileio.exists(path) or fileio.is_dir(path))
    if literal != path and not exists_as_named:
        # A glob: the root is the folder before the first wildcard. (A real file or folder
        # whose name holds '[' or '*' is taken literally.)
        raw_root = posixpath.dirname(literal) if fileio.is_gcs(path) else os.path.dirname(literal)
        root = normalize_location(raw_root)
        pattern = root + path[len(raw_root):]
        if not _probe(pattern):
            raise JobError(f"no inputs matched {spec!r}")
        return "glob", pattern, root
    path = normalize_location(path)
    has_files = _probe(fileio.escape_glob(path) + "/**")
    if has_files or (not fileio.is_gcs(path) and os.path.isdir(path)):
        if not has_files:
            raise JobError(f"no inputs matched: {spec!r} is an empty folder")
        return "folder", fileio.escape_glob(path) + "/**", path
    if fileio.exists(path):
        parent = posixpath.dirname(path) if fileio.is_gcs(path) else os.path.dirname(path)
        return "file", fileio.escape_glob(path), parent
    raise JobError(f"no inputs matched: {spec!r} is neither a file, a folder nor a glob "
                   "that matches anything")


def resolve_config(opts) -> JobConfig:
    """Validates the options (`options.job_view(..., RemoveBackgroundOptions)`) and resolves
    inputs, model and DEST. Raises JobError."""
    if not opts.output_dir:
        raise JobError("--output_dir is required")
    if not opts.model:
        raise JobError("--model is required (MODEL/export)")
    if bool(opts.input) == bool(opts.input_list):
        raise JobError("give exactly one of --input or --input_list")
    if opts.max_batch_size < 1:
        raise JobError("--max_batch_size must be at least 1")
    if opts.max_pixels < 1:
        raise JobError("--max_pixels must be at least 1")
    if opts.inference_threads < 0:
        raise JobError("--inference_threads must be 0 (automatic) or more")
    background = None
    if opts.background:
        try:
            background = imaging.parse_color(opts.background)
        except ValueError as e:
            raise JobError(str(e)) from None
    model = normalize_location(opts.model)
    try:
        image_size = int(export.read_metadata(model, fileio.read_bytes)["image_size"])
    except Exception as e:
        hint = ""
        if fileio.exists(fileio.join(model, export.EXPORT_SUBDIR, export.METADATA_FILE)):
            hint = f" (did you mean {fileio.join(model, export.EXPORT_SUBDIR)}?)"
        raise JobError(f"no usable model export at {opts.model}{hint}: "
                       f"{type(e).__name__}: {e}") from None
    dest = normalize_location(opts.output_dir)
    exclude = None
    if opts.input_list:
        if not opts.input_root:
            raise JobError("--input_list needs --input_root, the prefix output paths are "
                           "relative to")
        if not fileio.exists(opts.input_list):
            raise JobError(f"input list {opts.input_list} does not exist")
        kind, pattern, root = "list", opts.input_list, normalize_location(opts.input_root)
        source = opts.input_list
    else:
        kind, pattern, root = resolve_input(opts.input)
        source = opts.input
        if root == dest or _inside(root, dest):
            raise JobError(f"the input folder {root} is --output_dir or inside it: outputs "
                           "could overwrite inputs; choose another --output_dir")
        if _inside(dest, root):
            exclude = dest + "/"
    return JobConfig(
        source=source, input_kind=kind, pattern=pattern, root=root, dest=dest, model=model,
        image_size=image_size, output=opts.output, background=background,
        max_batch_size=opts.max_batch_size, png_compression=opts.png_compression,
        max_pixels=opts.max_pixels, overwrite=bool(opts.overwrite),
        inference_threads=opts.inference_threads, exclude_prefix=exclude)


# ---------------------------------------------------------------------------------------------
# Pure per-element steps.

def reject_record(source: str, uri: str, reason: str, detail: str = "") -> dict:
    return {"source": source, "path": uri, "reason": reason, "detail": detail}


def resolve_list_line(line: str, root: str) -> list[str]:
    """A line of --input_list -> [URI] ([] for a blank line); relative lines join the root."""
    line = line.strip()
    if not line:
        return []
    if fileio.is_gcs(line) or os.path.isabs(line):
        return [line]
    return [root.rstrip("/") + "/" + line]


def plan_input(uri: str, cfg: JobConfig) -> tuple[tuple[str, str], ...]:
    """The (kind, relative output name) pairs of one input. Raises ImageError with the reason it
    can have none."""
    if _inside(uri, cfg.dest):
        raise ImageError("inside_output_dir", f"{uri} lies inside the output folder")
    rel = inference.relative_path(uri, cfg.root)
    names = inference.output_names(rel, cfg.output)
    for _, name in names:
        inference.output_path(cfg.dest, name)  # validates the full path
    return names


def ancestors(rel_name: str) -> list[str]:
    """'a/b/c.png' -> ['a', 'a/b']: the folders an output needs."""
    parts = rel_name.split("/")
    return ["/".join(parts[:i]) for i in range(1, len(parts))]


def judge_output_name(name: str, entries, folders_matter: bool) -> list[tuple]:
    """All claims on one output name -> [(uri, status)] for each input that wants it.

    entries: ('in', uri, kind) from inputs, ('have',) when DEST holds a file of that name,
    ('dir',) when some output (new or existing) needs a folder of that name.
    status: ('ok', kind, name, exists, copies) or ('collision', name, detail, copies).
    """
    wanted: dict[str, list[str]] = {}
    have = is_dir = False
    for entry in entries:
        if entry[0] == "in":
            wanted.setdefault(entry[1], []).append(entry[2])
        elif entry[0] == "have":
            have = True
        elif entry[0] == "dir":
            is_dir = True
    uris = sorted(wanted)
    if len(uris) > 1:
        return [(uri, ("collision", name,
                       "also the output of " + ", ".join(u for u in uris if u != uri),
                       len(wanted[uri])))
                for uri in uris]
    if len(uris) == 1 and folders_matter and is_dir:
        return [(uris[0], ("collision", name, "a folder of other outputs has this name",
                           len(wanted[uris[0]])))]
    return [(uri, ("ok", wanted[uri][0], name, have, len(wanted[uri]))) for uri in uris]


def decide(uri: str, statuses, overwrite: bool) -> tuple[str, object, int]:
    """One input's verdicts on each of its output names -> (action, payload, extra copies).

    action: 'reject' (payload: (reason, detail)), 'skip' (all outputs exist), or 'process'
    (payload: the (kind, name) pairs to write: all of them with `overwrite`, else the missing).
    """
    statuses = sorted(statuses, key=repr)
    extra = max(s[-1] for s in statuses) - 1
    collisions = [s for s in statuses if s[0] == "collision"]
    if collisions:
        return "reject", ("output_name_collision",
                          "; ".join(f"{s[1]}: {s[2]}" for s in collisions)), extra
    todo = tuple(sorted((s[1], s[2]) for s in statuses if overwrite or not s[3]))
    if not todo:
        return "skip", None, extra
    return "process", todo, extra


class SummaryCounts(beam.CombineFn):
    """(status, info) outcomes -> the counts of `_summary.json`."""

    def create_accumulator(self):
        return {"written": 0, "skipped": 0, "rejected": 0, "files_written": 0,
                "rejected_by_reason": {}, "ignored_os_files": 0}

    def add_input(self, acc, outcome):
        status, info = outcome
        acc[status] += 1
        if status == "written":
            acc["files_written"] += info
        elif status == "rejected":
            acc["rejected_by_reason"][info] = acc["rejected_by_reason"].get(info, 0) + 1
        return acc

    def merge_accumulators(self, accs):
        out = self.create_accumulator()
        for acc in accs:
            for key in ("written", "skipped", "rejected", "files_written", "ignored_os_files"):
                out[key] += acc[key]
            for reason, n in acc["rejected_by_reason"].items():
                out["rejected_by_reason"][reason] = out["rejected_by_reason"].get(reason, 0) + n
        return out

    def extract_output(self, acc):
        acc = dict(acc)
        acc["inputs"] = acc["written"] + acc["skipped"] + acc["rejected"]
        acc["rejected_by_reason"] = dict(sorted(acc["rejected_by_reason"].items()))
        return acc


# ---------------------------------------------------------------------------------------------
# Beam stages.

def _match_inputs(pattern: str, root: str, exclude_prefix: Optional[str]):
    """Matched files -> URIs; OS junk (.DS_Store, ._* AppleDouble files, __MACOSX/, hidden
    folders below the input root) goes to the 'ignored' output, counted, never processed."""
    prefix = root.rstrip("/") + "/"
    for meta in FileSystems.match([pattern])[0].metadata_list:
        path = meta.path
        if path.endswith("/"):  # a GCS 'folder' placeholder object, not a file
            continue
        if exclude_prefix and path.startswith(exclude_prefix):
            continue
        rel = path[len(prefix):] if path.startswith(prefix) else posixpath.basename(path)
        if is_junk(rel.replace(os.sep, "/")):
            yield beam.pvalue.TaggedOutput("ignored", path)
            continue
        yield path


class ListInputs(beam.PTransform):
    """PBegin -> input URIs (one listing, on one worker; the shuffle that follows spreads them)."""

    def __init__(self, cfg: JobConfig):
        super().__init__()
        self._cfg = cfg

    def expand(self, pbegin):
        """-> {'uris': input URIs, 'ignored': OS junk files left out (folder and glob inputs;
        a listing is taken as given)}."""
        cfg = self._cfg
        if cfg.input_kind == "list":
            uris = (pbegin
                    | "ReadList" >> beam.io.ReadFromText(cfg.pattern)
                    | "Resolve" >> beam.FlatMap(resolve_list_line, cfg.root))
            return {"uris": uris, "ignored": pbegin | "NoneIgnored" >> beam.Create([])}
        matched = (pbegin
                   | "Pattern" >> beam.Create([cfg.pattern], reshuffle=False)
                   | "Match" >> beam.FlatMap(_match_inputs, cfg.root, cfg.exclude_prefix)
                   .with_outputs("ignored", main="uris"))
        return {"uris": matched.uris, "ignored": matched.ignored}


def _existing_outputs(dest: str, folders_matter: bool):
    """DEST's files (one listing) -> (name, ('have',)) and, for folders, (name, ('dir',))."""
    prefix = dest.rstrip("/") + "/"
    folders = set()
    for meta in FileSystems.match([fileio.escape_glob(prefix) + "**"])[0].metadata_list:
        rel = meta.path[len(prefix):] if meta.path.startswith(prefix) else None
        if not rel or rel.startswith(inference.BOOKKEEPING_PREFIX) or rel.endswith("/"):
            continue
        if posixpath.basename(rel).startswith(inference.TEMP_PREFIX):
            # A crashed write's leftover, never a finished output: removed, so a crash leaves
            # nothing partial behind once the job has run again.
            FileSystems.delete([meta.path])
            Metrics.counter(NAMESPACE, "stale_temp_files_removed").inc()
            continue
        yield rel, ("have",)
        if folders_matter:
            folders.update(ancestors(rel))
    for folder in sorted(folders):
        yield folder, ("dir",)


class _PlanDoFn(beam.DoFn):
    def __init__(self, cfg: JobConfig):
        self._cfg = cfg
        self._folders_matter = not fileio.is_gcs(cfg.dest)

    def process(self, uri):
        try:
            names = plan_input(uri, self._cfg)
        except ImageError as e:
            yield _rejection(self._cfg.source, uri, e, "bad_name")
            return
        for kind, name in names:
            yield name, ("in", uri, kind)
            if self._folders_matter:
                for folder in ancestors(name):
                    yield beam.pvalue.TaggedOutput("folders", folder)


class _DecideDoFn(beam.DoFn):
    def __init__(self, cfg: JobConfig):
        self._cfg = cfg

    def process(self, keyed):
        uri, statuses = keyed
        action, payload, extra = decide(uri, list(statuses), self._cfg.overwrite)
        for _ in range(extra):
            yield beam.pvalue.TaggedOutput("rejected", reject_record(
                self._cfg.source, uri, "duplicate_input", "listed more than once; done once"))
        if action == "reject":
            yield beam.pvalue.TaggedOutput(
                "rejected", reject_record(self._cfg.source, uri, *payload))
        elif action == "skip":
            yield beam.pvalue.TaggedOutput("skipped", uri)
        else:
            yield uri, payload


class PlanOutputs(beam.PTransform):
    """(input URIs, DEST's existing files) -> {'tasks': (uri, ((kind, name), ...)),
    'skipped': uri, 'rejected': reject records}.

    One shuffle by output name finds collisions and existing outputs for every name at once (no
    request per image); a second by URI gathers each input's verdicts (an input of
    `--output both` has two names).
    """

    def __init__(self, cfg: JobConfig):
        super().__init__()
        self._cfg = cfg

    def expand(self, pcolls):
        uris, existing = pcolls
        folders_matter = not fileio.is_gcs(self._cfg.dest)
        claims, folders, bad_names = (uris | "Plan" >> beam.ParDo(_PlanDoFn(self._cfg))
                                      .with_outputs("folders", "rejected", main="claims"))
        # Folders new outputs need (local DEST only: a file and a folder can't share a name
        # there), once each so a big folder is not a hot key.
        folder_claims = (folders
                         | "DistinctFolders" >> beam.Distinct()
                         | "AsFolderClaims" >> beam.Map(lambda folder: (folder, ("dir",))))
        verdicts = ((claims, folder_claims, existing)
                    | "AllClaims" >> beam.Flatten().with_output_types(Tuple[str, Any])
                    | "ByOutputName" >> beam.GroupByKey()
                    | "Judge" >> beam.FlatMap(
                        lambda kv, fm: judge_output_name(kv[0], kv[1], fm), folders_matter)
                    | "ByInput" >> beam.GroupByKey())
        decided = verdicts | "Decide" >> beam.ParDo(_DecideDoFn(self._cfg)).with_outputs(
            "rejected", "skipped", main="tasks")
        rejected = (bad_names, decided.rejected) | "Rejected" >> beam.Flatten()
        return {"tasks": decided.tasks, "skipped": decided.skipped, "rejected": rejected}


class _PrepareDoFn(beam.DoFn):
    """(uri, outputs) -> Prepared (read once, draft-decoded to the model's input), or a reject."""

    def __init__(self, cfg: JobConfig):
        self._cfg = cfg

    def process(self, task):
        uri, outputs = task
        try:
            data = fileio.read_bytes(uri)
        except Exception as e:  # vanished, no permission, ...: this input only
            yield _rejection(self._cfg.source, uri, e, "unreadable")
            return
        try:
            small = inference.prepare_image(data, self._cfg.image_size, self._cfg.max_pixels)
        except Exception as e:  # ImageError, or a decoder failing in a way Pillow doesn't classify
            yield _rejection(self._cfg.source, uri, e, "undecodable")
            return
        yield inference.Prepared(uri, outputs, data, small)


class _RenderAndWriteDoFn(beam.DoFn):
    """PredictionResult -> outputs written under DEST; emits (uri, files written) or a reject."""

    def __init__(self, cfg: JobConfig):
        self._cfg = cfg

    def process(self, result):
        cfg = self._cfg
        prepared = result.example
        try:
            pngs = inference.render_outputs(
                prepared.data, result.inference, [kind for kind, _ in prepared.outputs],
                background=cfg.background, png_compression=cfg.png_compression,
                max_pixels=cfg.max_pixels)
        except Exception as e:
            yield _rejection(cfg.source, prepared.uri, e, "undecodable")
            return
        for kind, name in prepared.outputs:
            try:
                path = inference.output_path(cfg.dest, name)
                fileio.write_bytes(path, pngs[kind], mime_type="image/png")
            except Exception as e:
                yield _rejection(cfg.source, prepared.uri, e, "write_failed")
                return
        yield prepared.uri, len(prepared.outputs)


def _rejection(source: str, uri: str, error: Exception, default_reason: str):
    """One input's failure as a reject: an ImageError keeps its own reason and detail; anything
    else gets `default_reason` and the exception's text."""
    if isinstance(error, ImageError):
        record = reject_record(source, uri, error.reason, error.detail)
    else:
        record = reject_record(source, uri, default_reason, f"{type(error).__name__}: {error}")
    return beam.pvalue.TaggedOutput("rejected", record)


def _failed_batch_to_rejects(failed, source: str):
    batch, (exc_type, exc_repr, _) = failed
    for prepared in batch:
        yield reject_record(source, prepared.uri, "inference_failed", exc_repr)


def make_model_handler(cfg: JobConfig) -> inference.SavedModelHandler:
    return inference.SavedModelHandler(cfg.model, max_batch_size=cfg.max_batch_size,
                                       inference_threads=cfg.inference_threads)


class RemoveBackgrounds(beam.PTransform):
    """(uri, outputs) tasks -> {'written': (uri, n files), 'rejected': reject records}.

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
        written, bad_outputs = (predictions
                                | "RenderAndWrite" >> beam.ParDo(_RenderAndWriteDoFn(cfg))
                                .with_outputs("rejected", main="written"))
        rejected = (bad_inputs, failed, bad_outputs) | "Rejected" >> beam.Flatten()
        return {"written": written, "rejected": rejected}


def _count(outcome):
    status = outcome[0]
    Metrics.counter(NAMESPACE, status).inc()
    if status == "written":
        Metrics.counter(NAMESPACE, "files_written").inc(outcome[1])
    return outcome


def _write_rejects(records: list, path: str) -> None:
    records = sorted(records, key=lambda r: (r["path"], r["reason"], r["detail"]))
    text = "".join(json.dumps(r, sort_keys=True) + "\n" for r in records)
    fileio.write_bytes(path, text.encode("utf-8"), mime_type="application/x-ndjson")


def summary_options(cfg: JobConfig) -> dict:
    return {"input": cfg.source, "input_kind": cfg.input_kind, "input_root": cfg.root,
            "output_dir": cfg.dest, "model": cfg.model, "image_size": cfg.image_size,
            "output": cfg.output, "background": list(cfg.background) if cfg.background else None,
            "max_batch_size": cfg.max_batch_size, "png_compression": cfg.png_compression,
            "max_pixels": cfg.max_pixels, "overwrite": cfg.overwrite}


def _write_summary(counts: dict, cfg: JobConfig) -> None:
    summary = dict(counts)
    summary["options"] = summary_options(cfg)
    summary["rejects_file"] = cfg.dest + "/" + REJECTED_FILE
    fileio.write_bytes(cfg.dest + "/" + SUMMARY_FILE,
                       json.dumps(summary, indent=2, sort_keys=True).encode("utf-8"),
                       mime_type="application/json")


class WriteBookkeeping(beam.PTransform):
    """(written, skipped, rejected) -> Beam counters, DEST/_rejected/rejected.jsonl and
    DEST/_summary.json."""

    def __init__(self, cfg: JobConfig):
        super().__init__()
        self._cfg = cfg

    def expand(self, pcolls):
        written, skipped, rejected, ignored = pcolls
        cfg = self._cfg
        outcomes = ((written | "W" >> beam.Map(lambda w: ("written", w[1])),
                     skipped | "S" >> beam.Map(lambda _: ("skipped", 0)),
                     rejected | "R" >> beam.Map(lambda r: ("rejected", r["reason"])),
                     ignored | "I" >> beam.Map(lambda _: ("ignored_os_files", 0)))
                    | "Outcomes" >> beam.Flatten()
                    | "Count" >> beam.Map(_count))
        _ = (rejected
             | "AllRejects" >> beam.combiners.ToList()
             | "WriteRejects" >> beam.Map(_write_rejects, cfg.dest + "/" + REJECTED_FILE))
        return (outcomes
                | "Summarise" >> beam.CombineGlobally(SummaryCounts())
                | "WriteSummary" >> beam.Map(_write_summary, cfg))


def build_pipeline(p: beam.Pipeline, cfg: JobConfig, model_handler=None) -> None:
    listed = p | "ListInputs" >> ListInputs(cfg)
    uris = listed["uris"]
    existing = (p
                | "Dest" >> beam.Create([cfg.dest], reshuffle=False)
                | "ListExisting" >> beam.FlatMap(_existing_outputs, not fileio.is_gcs(cfg.dest)))
    plan = (uris, existing) | "PlanOutputs" >> PlanOutputs(cfg)
    done = plan["tasks"] | "RemoveBackgrounds" >> RemoveBackgrounds(cfg, model_handler)
    rejected = (plan["rejected"], done["rejected"]) | "AllRejected" >> beam.Flatten()
    _ = ((done["written"], plan["skipped"], rejected, listed["ignored"])
         | "Bookkeeping" >> WriteBookkeeping(cfg))


def _auto_threads(options: PipelineOptions, cfg: JobConfig) -> JobConfig:
    """On the local runner in multi_processing mode, cores/workers TensorFlow threads each."""
    direct = options.view_as(DirectOptions)
    if (cfg.inference_threads == 0 and pipeline_options.is_local(options)
            and direct.direct_running_mode == "multi_processing"):
        workers = max(1, direct.direct_num_workers or 1)
        return dataclasses.replace(cfg, inference_threads=max(1, (os.cpu_count() or 1) // workers))
    return cfg


def format_summary(summary: dict, dest: str) -> str:
    reasons = ", ".join(f"{k}: {v}" for k, v in summary["rejected_by_reason"].items())
    return (f"remove_background: {summary['inputs']} inputs -> {summary['written']} written "
            f"({summary['files_written']} files), {summary['skipped']} skipped (output exists), "
            f"{summary['rejected']} rejected" + (f" ({reasons})" if reasons else "")
            + (f", {summary['ignored_os_files']} OS files ignored (.DS_Store, ...)"
               if summary.get("ignored_os_files") else "")
            + f"; outputs in {dest}, rejects in {dest}/{REJECTED_FILE}")


def run(argv=None, model_handler=None) -> Optional[dict]:
    """Runs the job; returns the summary (None when the runner does not wait for the job).
    Raises JobError when it can't run."""
    options = PipelineOptions(argv)
    opts = pipeline_options.job_view(options, RemoveBackgroundOptions)
    cfg = _auto_threads(options, resolve_config(opts))
    pipeline_options.require_reachable(options, [cfg.pattern, cfg.root, cfg.dest, cfg.model],
                                       JobError)
    pipeline = pipeline_options.make_pipeline(options)
    build_pipeline(pipeline, cfg, model_handler)
    result = pipeline.run()
    if options.view_as(TestOptions).dry_run:
        _log.warning("remove_background: --dry_run: the job was built, not run")
        return None
    state = result.wait_until_finish()
    if str(state).split(".")[-1] != "DONE":
        return None
    summary = json.loads(fileio.read_bytes(cfg.dest + "/" + SUMMARY_FILE))
    print(format_summary(summary, cfg.dest), flush=True)
    if summary["inputs"] == 0:
        raise JobError(f"no inputs matched {cfg.source!r}")
    return summary


def main(argv=None) -> int:
    return pipeline_options.run_job_cli("remove_background", run, RemoveBackgroundOptions,
                                        (JobError,), argv=argv)


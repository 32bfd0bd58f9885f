"""remove_background's configuration: its flags, the typed `JobConfig`, and the driver-side
resolution of `--input`, `--input_list`, `--model` and `--output_dir` (what they name, checked
before the pipeline is built; JobError when the job can't run). The bottom of the job's stack:
it imports only pipelines.core, pipelines.serving and model.
"""
from __future__ import annotations

import dataclasses
import os
import posixpath
import re
import secrets
import time
import zlib
from typing import Iterator, Optional

from apache_beam.io.filesystem import CompressionTypes
from apache_beam.io.filesystems import FileSystems
from apache_beam.options.pipeline_options import PipelineOptions

from model import mistakes
from pipelines.core import fileio, imaging, list_files, safe_files
from pipelines.core.options import DEFAULT_RUNTIME
from pipelines.core.rejects import JobError, Rejected
from pipelines.serving import model_proof
from pipelines.serving.outputs import OUTPUT_MODES
from pipelines.serving.refine import DEFAULT_REFINE, add_refine_argument


def new_run_name() -> str:
    """The run's name: its start in UTC, then 6 random hex digits (two runs in one second)."""
    return time.strftime("%Y%m%dT%H%M%SZ", time.gmtime()) + "-" + secrets.token_hex(3)


class RemoveBackgroundOptions(PipelineOptions):
    """This job's own flags; --output_dir, --model, --max_pixels and --inference_threads are
    shared with the other jobs (pipelines.core.options.SharedJobOptions)."""

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
    image_size = model_proof.check_files(model, opts.model, opts.runtime) if model else 0
    dest = normalize_location(opts.output_dir)
    exclude = None
    if opts.input_list:
        if not opts.input_root:
            raise JobError("--input_list needs --input_root, the prefix output paths are "
                           "relative to")
        pattern = resolve_input_list(opts.input_list, opts.input_list_column,
                                     opts.max_file_bytes)
        kind, root = "list", normalize_location(opts.input_root)
        source = opts.input_list
    else:
        kind, pattern, root = resolve_input(opts.input)
        source = opts.input
    # Compared with links resolved: a DEST that is a link to the input folder is the input
    # folder (--overwrite would replace inputs with their cut-outs).
    real_root, real_dest = fileio.resolved(root), fileio.resolved(dest)
    if real_root == real_dest:
        raise JobError(mistakes.output_is_input(dest, root, "--output_dir"))
    if fileio.is_inside(real_root, real_dest):
        raise JobError(f"the input folder {root} is --output_dir {dest} or inside it"
                       + ("" if (root, dest) == (real_root, real_dest) else
                          f" (links resolved: {real_root}, {real_dest})")
                       + ": outputs could overwrite inputs; choose another --output_dir")
    if kind != "list" and fileio.is_inside(real_dest, real_root):
        # DEST in the input root's terms, as the listing names files.
        exclude = root.rstrip("/") + "/" + real_dest[len(real_root.rstrip("/")) + 1:] + "/"
    if model and not opts.plan_only:  # last: it takes seconds (serving/model_proof.py)
        model_proof.load_and_probe(model, image_size, opts.inference_threads, opts.runtime)
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
# What --input and --input_list name (driver side)

def normalize_location(path: str) -> str:
    if fileio.is_gcs(path):
        return path.rstrip("/") or path
    return os.path.abspath(os.path.expanduser(path))


def _probe(pattern: str) -> bool:
    """Whether anything matches, reading at most one listing page."""
    try:
        return bool(FileSystems.match([pattern], limits=[1])[0].metadata_list)
    except Exception:  # a missing local folder or bucket reads as 'nothing there'
        return False


GLOB_START = re.compile(r"^[^[*?]*")  # a pattern's literal start: the folder it lists


def resolve_input(spec: str) -> tuple[str, str, str]:
    """--input -> (kind, pattern to match, input root). Raises JobError when nothing is there."""
    path = spec if fileio.is_gcs(spec) else os.path.expanduser(spec)
    if not fileio.is_gcs(path) and not os.path.isabs(path):
        path = os.path.join(os.getcwd(), path)
    literal = GLOB_START.match(path).group(0)
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
    if fileio.is_gcs(path):
        has_files = _probe(fileio.escape_glob(path) + "/**")
    else:  # the listing follows links to folders: so does the probe
        has_files = any(files for _, _, files in os.walk(path, followlinks=True))
    if has_files or (not fileio.is_gcs(path) and os.path.isdir(path)):
        if not has_files:
            raise JobError(f"no inputs matched: {spec!r} is an empty folder")
        return "folder", fileio.escape_glob(path) + "/**", path
    if fileio.exists(path):
        parent = posixpath.dirname(path) if fileio.is_gcs(path) else os.path.dirname(path)
        return "file", fileio.escape_glob(path), parent
    raise JobError(mistakes.missing_input("--input", spec))


def list_chunks(path: str) -> Iterator[bytes]:
    """A list file's bytes in chunks, decompressed by its name. A .gz is decompressed by
    `list_files.gunzip_chunks`, which raises on a truncated or damaged stream where Beam's reader
    stops quietly at the damage (the lines after it would be lost without a word)."""
    if path.endswith(".gz"):
        with FileSystems.open(path, compression_type=CompressionTypes.UNCOMPRESSED) as raw:
            yield from list_files.gunzip_chunks(list_files.read_chunks(raw))
    else:
        with FileSystems.open(path) as raw:  # other compressions: Beam's, by the name
            yield from list_files.read_chunks(raw)


READ_ERRORS = (OSError, EOFError, zlib.error)


def _header(path: str) -> list:
    """The first CSV list's header. Raises JobError when its header row can't be read."""
    try:
        return list_files.csv_header(list_chunks(path))
    except Rejected as e:
        raise JobError(f"input list {path}: its header row can't be read ({e.detail})") \
            from None
    except READ_ERRORS as e:  # a damaged .gz: one line, as for any list that can't be read
        raise JobError(f"input list {path} can't be read ({type(e).__name__}: {e})") from None


def resolve_input_list(spec: str, column: Optional[str] = None,
                       max_file_bytes: Optional[int] = None) -> str:
    """--input_list (one file, or a glob of list files: inventory reports come in shards) -> the
    pattern to read. Each local list file must be a regular file (a FIFO would be waited on
    forever) and, with `max_file_bytes`, at most that long. With `column`, the first file's
    header must name it. Raises JobError."""
    if fileio.exists(spec):
        pattern = fileio.escape_glob(spec)  # a real name holding '[' or '*' is taken literally
    elif _probe(spec):
        pattern = spec
    else:
        raise JobError(f"input list {spec} does not exist (nor matches any file)")
    for path, size in fileio.match(pattern):
        problem = None if fileio.is_gcs(path) else safe_files.local_problem(path)
        if problem:
            raise JobError(f"input list {path} is not a regular file ({problem[1]})")
        if max_file_bytes is not None and size > max_file_bytes:
            raise JobError(f"input list {path} is {size} bytes, over --max_file_bytes "
                           f"{max_file_bytes}")
    if column:
        first = fileio.match(pattern)[0][0]
        header = _header(first)
        if column not in header:
            raise JobError(f"--input_list_column {column!r} is not a column of {first} "
                           f"(its header: {', '.join(header)})")
    return pattern

"""preprocess's configuration: its flags, what a `--source` names, and the typed `Config`, checked
once before the pipeline is built (JobError when the job can't run). The bottom of the job's
stack: it imports only pipelines.core and model.
"""
from __future__ import annotations

import dataclasses

from apache_beam.options.pipeline_options import PipelineOptions

from model import mistakes
from pipelines.core import fileio, imaging, safe_files
from pipelines.core.rejects import JobError, printable

REMOTE_SHARDS = 64  # OUT/_rejected/ on workers elsewhere: none holds more than ~1/64 of the lines


@dataclasses.dataclass(frozen=True)
class SourceSpec:
    kind: str   # p3m10k | cod10k | people_seg | folder
    name: str   # the KIND, or the folder source's NAME
    path: str


KINDS = ("p3m10k", "cod10k", "people_seg", "folder")


def parse_source(text: str) -> SourceSpec:
    """'KIND=PATH' or 'folder:NAME=PATH' -> SourceSpec (validated, no I/O)."""
    if "=" not in text:
        raise JobError(f"bad --source {text!r}: expected KIND=PATH (KIND one of "
                         f"{', '.join(KINDS)}) or folder:NAME=PATH")
    head, path = text.split("=", 1)
    kind, _, name = head.partition(":")
    if kind not in KINDS:
        raise JobError(f"bad --source {text!r}: unknown kind {kind!r}; expected one of "
                         f"{', '.join(KINDS)}")
    if name and kind != "folder":
        raise JobError(f"bad --source {text!r}: only folder sources take a name")
    if not path:
        raise JobError(f"bad --source {text!r}: empty path")
    name = name or kind
    if not all(c.isalnum() or c in "-_." for c in name):
        raise JobError(f"bad source name {name!r}: use letters, digits, '-', '_' and '.'")
    return SourceSpec(kind=kind, name=name, path=path.rstrip("/") if path != "/" else path)


TAR_STREAMS = {(".tar.gz", ".tgz"): "r|gz", (".tar.bz2", ".tbz2", ".tbz"): "r|bz2",
               (".tar.xz", ".txz"): "r|xz"}
ARCHIVE_SUFFIXES = (".zip", ".tar") + tuple(s for group in TAR_STREAMS for s in group)


def container_kind(path: str) -> str:
    """'zip', 'tar' (seekable), 'tarstream' (compressed tar: one stream) or 'folder'."""
    lower = path.lower()
    if lower.endswith(".zip"):
        return "zip"
    if any(lower.endswith(suffixes) for suffixes in TAR_STREAMS):
        return "tarstream"
    if lower.endswith(".tar"):
        return "tar"
    return "folder"


class PreprocessOptions(PipelineOptions):
    @classmethod
    def _add_argparse_args(cls, parser):
        parser.add_argument("--source", action="append", default=None,
                            help="KIND=PATH (KIND: p3m10k, cod10k, people_seg, folder) or "
                                 "folder:NAME=PATH; repeat for several sources")
        parser.add_argument("--image_size", type=int, default=320)
        parser.add_argument("--val_fraction", type=float, default=0.1,
                            help="share of hash-split examples for val (where the dataset has "
                                 "no val split of its own)")
        parser.add_argument("--test_fraction", type=float, default=0.1)
        parser.add_argument("--keep_noncam", action="store_true", default=False,
                            help="keep COD-10K NonCAM images as empty-mask negatives")
        parser.add_argument("--jpeg_quality", type=int, default=95)
        parser.add_argument("--shard_mb", type=float, default=150.0)
        parser.add_argument("--rejected_shards", type=int, default=0,
                            help="files OUT/_rejected/ is written in (0: one on the local runner, "
                                 f"{REMOTE_SHARDS} on workers elsewhere)")


# Kinds whose validation examples are drawn by --val_fraction (the others publish their own).
HASH_VAL_KINDS = ("cod10k", "folder")


@dataclasses.dataclass(frozen=True)
class Config:
    sources: tuple
    output_dir: str
    image_size: int = 320
    val_fraction: float = 0.1
    test_fraction: float = 0.1
    keep_noncam: bool = False
    jpeg_quality: int = 95
    shard_mb: float = 150.0
    max_pixels: int = imaging.DEFAULT_MAX_PIXELS
    max_file_bytes: int = safe_files.DEFAULT_MAX_FILE_BYTES
    rejected_shards: int = 0  # 0: chosen by the runner (Preprocess.rejected_shards)

    @classmethod
    def from_options(cls, opts) -> "Config":
        """From `options.job_view(options, PreprocessOptions)` (--output_dir, --max_pixels,
        --max_file_bytes are shared flags). Raises JobError for options it can't run with."""
        if not opts.source:
            raise JobError("give at least one --source KIND=PATH")
        if not opts.output_dir:
            raise JobError("--output_dir is required")
        specs = tuple(parse_source(s) for s in opts.source)
        names = [s.name for s in specs]
        clashes = sorted({n for n in names if names.count(n) > 1})
        if clashes:
            raise JobError(f"two sources share the name {clashes[0]!r}: name folder sources "
                           "with folder:NAME=PATH")
        config = cls(sources=specs, output_dir=opts.output_dir.rstrip("/"),
                     image_size=opts.image_size, val_fraction=opts.val_fraction,
                     test_fraction=opts.test_fraction, keep_noncam=opts.keep_noncam,
                     jpeg_quality=opts.jpeg_quality, shard_mb=opts.shard_mb,
                     max_pixels=opts.max_pixels, max_file_bytes=opts.max_file_bytes,
                     rejected_shards=opts.rejected_shards)
        config.validate()
        return config

    def validate(self) -> None:
        if not 16 <= self.image_size <= 2048:
            raise JobError(f"--image_size {self.image_size} is outside 16..2048")
        for name in ("val_fraction", "test_fraction"):
            value = getattr(self, name)
            if not 0.0 <= value < 1.0:
                raise JobError(f"--{name} {value} must be in [0, 1)")
        if self.val_fraction + self.test_fraction >= 1.0:
            raise JobError("--val_fraction + --test_fraction must leave room for train")
        drawn = sorted({s.name for s in self.sources if s.kind in HASH_VAL_KINDS})
        if self.val_fraction == 0 and drawn:
            # Training picks its exported weights by validation IoU: no val split, no model.
            raise JobError(f"--val_fraction 0 leaves {', '.join(drawn)} without a validation "
                           "split, which training needs: give a fraction > 0")
        if not 1 <= self.jpeg_quality <= 100:
            raise JobError("--jpeg_quality must be in 1..100")
        for spec in self.sources:
            # its members' names could not travel through Beam
            if safe_files.name_problem(spec.path):
                raise JobError(f"source {spec.name}: the path {printable(spec.path)} is not "
                               "valid UTF-8; rename it")
            is_folder = fileio.is_dir(spec.path)
            if not is_folder and not fileio.exists(spec.path):
                raise JobError(mistakes.missing_input(f"--source {spec.name}:", spec.path))
            if not is_folder and container_kind(spec.path) == "folder":
                raise JobError(f"source {spec.name}: {spec.path} is a file but not a supported "
                               f"archive ({', '.join(ARCHIVE_SUFFIXES)}) nor a folder")
            problem = None if is_folder or fileio.is_gcs(spec.path) else \
                safe_files.local_problem(spec.path)
            if problem:  # an archive that is a pipe or a link to a device would hang or never end
                raise JobError(f"source {spec.name}: {spec.path} can't be read: {problem[1]}")
        if self.shard_mb <= 0:
            raise JobError("--shard_mb must be > 0")
        if self.rejected_shards < 0:
            raise JobError("--rejected_shards must be >= 0 (0: chosen by the runner)")

    def as_dict(self) -> dict:
        d = dataclasses.asdict(self)
        d["sources"] = [dataclasses.asdict(s) for s in self.sources]
        return d

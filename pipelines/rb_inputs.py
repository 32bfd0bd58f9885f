"""remove_background's inputs: what `--input` / `--input_list` name, and the stage that lists them.

Driver side, before the pipeline is built: `resolve_input` turns `--input` (a folder or gs://
prefix, a glob, or one file) into what to match and the input root output paths are relative to,
refusing (JobError) when nothing is there. Pipeline side: `ListInputs` lists the matches (or reads
the `--input_list` file), leaving OS junk and anything under DEST out.
"""
from __future__ import annotations

import os
import posixpath
import re
from typing import TYPE_CHECKING, Optional

import apache_beam as beam
from apache_beam.io.filesystems import FileSystems

from pipelines import fileio
from pipelines.rejects import JobError
from pipelines.sources import is_junk

if TYPE_CHECKING:
    from pipelines.remove_background import JobConfig


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


def resolve_list_line(line: str, root: str) -> list[str]:
    """A line of --input_list -> [URI] ([] for a blank line); relative lines join the root."""
    line = line.strip()
    if not line:
        return []
    if fileio.is_gcs(line) or os.path.isabs(line):
        return [line]
    return [root.rstrip("/") + "/" + line]


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

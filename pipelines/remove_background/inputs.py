"""remove_background's inputs: what `--input` / `--input_list` name, and the stage that lists them.

Driver side, before the pipeline is built: `resolve_input` turns `--input` (a folder or gs://
prefix, a glob, or one file) into what to match and the input root output paths are relative to,
refusing (JobError) when nothing is there; `resolve_input_list` does the same for `--input_list`
(one list file or a glob of them). Pipeline side: `ListInputs` lists the matches with a fan-out
(core/listing.py) or reads the list files (one file a worker, many in parallel), leaving OS
junk and anything under DEST out and rejecting, at the listing, entries that can't be inputs.
"""
from __future__ import annotations

import json
import os
import posixpath
import re
from typing import Optional

import apache_beam as beam
from apache_beam.io.fileio import MatchFiles
from apache_beam.io.filesystem import FileSystem
from apache_beam.io.filesystems import FileSystems

from pipelines.core import fileio, list_files, rejects
from pipelines.core.listing import MAIN, FanOutList
from pipelines.core.safe_files import is_junk
from pipelines.remove_background.config import GLOB_START, READ_ERRORS, JobConfig, list_chunks


def resolve_list_line(line: str, root: str) -> list[str]:
    """A line of --input_list -> [URI] ([] for a blank line); relative lines join the root."""
    line = line.strip()
    if not line:
        return []
    if fileio.is_gcs(line) or os.path.isabs(line):
        return [line]
    return [root.rstrip("/") + "/" + line]


def read_csv_column(path: str, column: str, root: str, source: str):
    """One CSV list file -> the input URIs in `column` (its header row names the columns), and a
    reject on the 'rejected' output for each row that can't give one (`core/list_files.py`), or
    one for the whole file when its header lacks the column. Streamed, in one linear pass."""
    rows = 0
    try:
        for value in list_files.csv_column(list_chunks(path), column):
            rows += 1
            if isinstance(value, tuple):
                label, error = value
                yield _list_reject(source, label, error)
            else:
                yield from resolve_list_line(value, root)
    except rejects.Rejected as e:  # the file's header lacks the column
        yield _list_reject(source, path, e)
    except READ_ERRORS as e:
        yield _damaged_list(source, path, rows, e, unit="rows")


def _list_reject(source: str, label: str, error: "rejects.Rejected"):
    return beam.pvalue.TaggedOutput("rejected",
                                    rejects.from_exception(source, label, error, "bad_name"))


def _damaged_list(source: str, path: str, count: int, error: Exception, unit: str = "lines"):
    """A list file that can't be read to its end: one reject naming it (its `count` lines, or
    CSV rows with unit='rows', before the damage were read)."""
    return _list_reject(source, path, rejects.Rejected(
        "read_failed", f"the list file can't be read past its first {count} {unit} "
                       f"({type(error).__name__}: {error}); those {unit} were read"))


def read_list_file(path: str, root: str, source: str):
    """One text list file -> its input URIs, and a reject on the 'rejected' output for each line
    that can't be one (`core/list_files.py`: NUL bytes, not UTF-8, over-long), streamed; a file
    damaged part-way (a truncated .gz) is one reject more, its lines before the damage read."""
    lines = 0
    try:
        for line in list_files.split_lines(list_chunks(path)):
            lines += 1
            try:
                text = list_files.line_text(line)
            except rejects.Rejected as e:
                yield _list_reject(source, list_files.line_label(line), e)
                continue
            yield from resolve_list_line(text, root)
    except READ_ERRORS as e:
        yield _damaged_list(source, path, lines, e)


class ReadInputLists(beam.PTransform):
    """PBegin -> {'uris': input URIs, 'rejected': lines that can't be inputs} from every list file
    matching `pattern`, one file per worker after a Reshuffle (a file is read in one pass, in
    linear time, whatever its lines hold: `read_list_file`); CSV inventories (`column`) alike."""

    def __init__(self, pattern: str, root: str, column: Optional[str] = None,
                 source: str = ""):
        super().__init__()
        self._pattern, self._root, self._column = pattern, root, column
        self._source = source or pattern

    def expand(self, pbegin):
        paths = (pbegin
                 | "MatchLists" >> MatchFiles(self._pattern)
                 | "ListPaths" >> beam.Map(lambda meta: meta.path)
                 | "SpreadLists" >> beam.Reshuffle())
        if self._column:
            found = paths | "ReadColumn" >> beam.FlatMap(
                read_csv_column, self._column, self._root, self._source
            ).with_outputs("rejected", main="uris")
        else:
            found = paths | "ReadList" >> beam.FlatMap(
                read_list_file, self._root, self._source).with_outputs("rejected", main="uris")
        return {"uris": found.uris, "rejected": found.rejected}


class InputWalker:
    """The listing's rules for inputs (see `listing.FanOutList`): files matching the pattern, minus
    anything under DEST; OS junk (.DS_Store, ._* AppleDouble files, __MACOSX/, hidden folders
    below the input root) to 'ignored', counted, never processed; names that are not UTF-8 and
    entries that are no regular file to 'rejected', right here, before any shuffle (Beam's str
    coder can't carry a surrogate escape: the record's path is made printable first)."""

    def __init__(self, pattern: str, root: str, exclude_prefix: Optional[str], source: str):
        self._pattern = pattern
        self._literal = GLOB_START.match(pattern).group(0)
        self._prefix = root.rstrip("/") + "/"
        self._exclude = exclude_prefix
        self._source = source
        self._regex = None

    def _matches(self, path: str) -> bool:
        if self._regex is None:  # compiled on the worker
            self._regex = re.compile(FileSystem.translate_pattern(self._pattern))
        return (bool(self._regex.match(path)) and not path.endswith("/")  # a GCS folder object
                and not (self._exclude and path.startswith(self._exclude)))

    def keep_folder(self, path: str) -> bool:
        """Descends only where the pattern can match (its literal start) and not into DEST."""
        folder = path.rstrip("/") + "/"
        if self._exclude and folder.startswith(self._exclude):
            return False
        return folder.startswith(self._literal) or self._literal.startswith(folder)

    def _reject(self, path: str, reason: str, detail: str):
        record = rejects.record(self._source, path, reason, detail)
        return beam.pvalue.TaggedOutput("rejected", json.loads(rejects.json_line(record)))

    def _classify(self, path: str):
        """-> (TaggedOutput, done) for a name that is not UTF-8 or is OS junk."""
        try:
            path.encode("utf-8")
        except UnicodeEncodeError:
            return self._reject(path, "unencodable_name", "the file name is not valid UTF-8")
        prefix = self._prefix
        rel = path[len(prefix):] if path.startswith(prefix) else posixpath.basename(path)
        if is_junk(rel.replace(os.sep, "/")):
            return beam.pvalue.TaggedOutput("ignored", path)
        return None

    def on_file(self, path: str):
        if self._matches(path):
            yield self._classify(path) or path

    def on_odd(self, path: str, reason: str, detail: str):
        # A folder link left unfollowed is reported where the walk would have gone into it.
        if self._matches(path) or (reason == "link_outside_input" and self.keep_folder(path)):
            yield self._classify(path) or self._reject(path, reason, detail)


def _match_one(_, pattern: str, walker: InputWalker):
    """The 'file' kind: one literal path, through the same rules."""
    for meta in FileSystems.match([pattern])[0].metadata_list:
        yield from walker.on_file(meta.path)


class ListInputs(beam.PTransform):
    """PBegin -> {'uris': input URIs, 'ignored': OS junk left out, 'rejected': entries that can't
    be inputs (names not UTF-8, broken links, FIFOs ...)}.

    A folder or glob is listed with a fan-out (`listing.FanOutList`): no worker holds more than
    one sub-folder's listing. `--input_list` files (a glob of them) are read in parallel; a
    listing is taken as given (nothing ignored)."""

    def __init__(self, cfg: JobConfig):
        super().__init__()
        self._cfg = cfg

    def expand(self, pbegin):
        cfg = self._cfg
        if cfg.input_kind == "list":
            read = pbegin | "ReadLists" >> ReadInputLists(cfg.pattern, cfg.root,
                                                           cfg.list_column, cfg.source)
            return {"uris": read["uris"], "ignored": pbegin | "NoneIgnored" >> beam.Create([]),
                    "rejected": read["rejected"]}
        walker = InputWalker(cfg.pattern, cfg.root, cfg.exclude_prefix, cfg.source)
        if cfg.input_kind == "file":
            found = (pbegin
                     | "One" >> beam.Create([None], reshuffle=False)
                     | "Match" >> beam.FlatMap(_match_one, cfg.pattern, walker)
                     .with_outputs("ignored", "rejected", main="uris"))
            return {"uris": found.uris, "ignored": found.ignored, "rejected": found.rejected}
        found = pbegin | "FanOut" >> FanOutList(cfg.root, walker, tags=("ignored", "rejected"))
        return {"uris": found[MAIN], "ignored": found["ignored"], "rejected": found["rejected"]}

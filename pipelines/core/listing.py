"""Listing that fans out: a folder or gs:// prefix listed level by level, each sub-folder by its own
worker, so no worker holds more than one sub-folder's listing (and none holds it whole: every
listing streams, page by page or entry by entry).

`FanOutList(root, walker)`: the root's first level is listed by one worker; its folders are
spread (Reshuffle) and each lists its own level; after `levels` levels every folder left is
walked recursively by one worker. What is found goes to a *walker* (the job's own rules), called
on the worker that found it:
- `keep_folder(path)`: whether to descend into a folder (exclusions, pruning);
- `on_file(path)`: a file (on a local disk: a regular file, or a link to one) -> outputs;
- `on_odd(path, reason, detail)`: a local entry that is no regular file -> outputs. reason is
  `broken_link` (a dangling link or a link loop), `not_a_regular_file` (FIFO, socket, device) or
  `read_failed` (a folder that can't be listed).
Local entries are classified by `safe_files.scan`, the rules preprocess and evaluate walk by.
Local paths may hold surrogate escapes (names that are not UTF-8): Beam's str coder can't carry
them, so folders travel as bytes and the walker must turn such names into something encodable
before they leave the worker. Links to folders are followed; a link back to a folder above it is
a loop (`broken_link`), never walked twice.

Filesystems other than local and gs:// are listed with one `FileSystems.match` (no fan-out).
"""
from __future__ import annotations

import os

import apache_beam as beam
from apache_beam.io.filesystems import FileSystems

from pipelines.core import fileio, safe_files

FANOUT_LEVELS = 2       # levels listed one folder per worker before the recursive walks
FOLDERS = "folders"     # the listing's own output: folders still to list
MAIN = "main"

_gcs_client = None


def _client():
    """One storage client per worker process, made the way Beam makes its own (credentials,
    emulator)."""
    global _gcs_client
    if _gcs_client is None:
        from apache_beam.io.gcp import gcsio

        _gcs_client = gcsio.GcsIO().client
    return _gcs_client


def seed(root: str):
    """The listing's first element: (location, chain). A local location is the folder as bytes,
    chain the (device, inode) of it and of every folder above it in this walk (the loop guard)."""
    if fileio.is_gcs(root):
        return root.rstrip("/") + "/", ()
    if "://" in root:
        return root, ()
    path = os.fsencode(root)
    return path, safe_files.root_chain(path)


def _walk_local(location, recursive: bool, keep_folder):
    folder, chain = location
    for event in safe_files.walk_events(folder, chain, recursive,
                                        lambda path: keep_folder(os.fsdecode(path))):
        if event[0] == "folder":
            yield "folder", event[1:]
        elif event[0] == "file":
            yield "file", os.fsdecode(event[1])
        else:
            yield "odd", os.fsdecode(event[1]), event[2], event[3]


def _walk_gcs(prefix: str, recursive: bool, keep_folder):
    bucket, _, name = prefix[len("gs://"):].partition("/")
    blobs = _client().list_blobs(bucket, prefix=name, delimiter=None if recursive else "/")
    for page in blobs.pages:  # one page (up to 1000 objects) in memory at a time
        for blob in page:
            yield "file", f"gs://{bucket}/{blob.name}"
        for sub in getattr(page, "prefixes", ()):
            path = f"gs://{bucket}/{sub}"
            if keep_folder(path.rstrip("/")):
                yield "folder", (path, ())


def walk(location, recursive: bool, keep_folder=lambda path: True):
    """One location's events: ('file', path), ('odd', path, reason, detail) and, unless
    `recursive`, ('folder', location) for each sub-folder to list next. Paths are str."""
    path, _ = location
    if isinstance(path, bytes):
        return _walk_local(location, recursive, keep_folder)
    if fileio.is_gcs(path):
        return _walk_gcs(path, recursive, keep_folder)
    pattern = fileio.escape_glob(path.rstrip("/")) + "/**"
    return (("file", m.path) for m in FileSystems.match([pattern])[0].metadata_list)


class _ListDoFn(beam.DoFn):
    def __init__(self, walker, recursive: bool):
        self._walker = walker
        self._recursive = recursive

    def process(self, location):
        walker = self._walker
        for event in walk(location, self._recursive, walker.keep_folder):
            if event[0] == "folder":
                yield beam.pvalue.TaggedOutput(FOLDERS, event[1])
            elif event[0] == "file":
                yield from walker.on_file(event[1])
            else:
                yield from walker.on_odd(*event[1:])


class FanOutList(beam.PTransform):
    """PBegin -> {MAIN: the walker's main outputs, tag: its tagged outputs, for each of `tags`}.

    `levels` levels are listed one folder per element, a Reshuffle after each, so their folders
    spread over the workers; the folders below are walked recursively, one walk per element."""

    def __init__(self, root: str, walker, tags=(), levels: int = FANOUT_LEVELS):
        super().__init__()
        self._root, self._walker, self._tags, self._levels = root, walker, tuple(tags), levels

    def expand(self, pbegin):
        found = {tag: [] for tag in (MAIN,) + self._tags}
        root = self._root
        locations = pbegin | "Root" >> beam.Create([None], reshuffle=False) | "Seed" >> beam.Map(
            lambda _: seed(root))
        for level in range(self._levels + 1):
            last = level == self._levels
            listed = (locations
                      | f"List{level}" >> beam.ParDo(_ListDoFn(self._walker, recursive=last))
                      .with_outputs(FOLDERS, *self._tags, main=MAIN))
            for tag in found:
                found[tag].append(listed[tag])
            if not last:
                locations = listed[FOLDERS] | f"Spread{level}" >> beam.Reshuffle()
        return {tag: tuple(pcolls) | f"All_{tag}" >> beam.Flatten()
                for tag, pcolls in found.items()}

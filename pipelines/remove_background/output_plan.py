"""remove_background's output plan: the names each input's outputs get, which names are refused,
and the Beam stage that decides, for every input, what to write, skip or reject.

Output names (the job's contract) are `pipelines/serving/outputs.py`'s (`output_names`, shared
with the one-image tool); here, names that could leave the output folder or that a filesystem
can't hold are refused, with a reason.

The plan never reads an image: a fanned-out listing of DEST and two shuffles (`PlanOutputs`) find
collisions between inputs, outputs that already exist, and duplicate listings.
"""
from __future__ import annotations

import os
import posixpath
from typing import Any, Tuple

import apache_beam as beam

from pipelines.core import fileio
from pipelines.core.listing import MAIN, FanOutList
from pipelines.core.rejects import Rejected, record
from pipelines.remove_background.bookkeeping import rejection
from pipelines.remove_background.config import JobConfig
from pipelines.serving.outputs import output_names


BOOKKEEPING_PREFIX = "_"
MAX_LOCAL_PATH_BYTES = 4095   # PATH_MAX - 1 on Linux
MAX_GCS_OBJECT_BYTES = 1024   # GCS object names (without gs://bucket/)


# ---------------------------------------------------------------------------------------------
# Names: where each input's outputs go, and which names are refused.

def check_relative_name(rel: str) -> None:
    """Raises Rejected when `rel` (a '/'-separated path under the input root) can't safely name
    an output under DEST."""
    parts = rel.split("/")
    if any(part in ("", ".", "..") for part in parts):
        raise Rejected("unsafe_path", f"{rel!r} has an empty, '.' or '..' component")
    if any(ord(c) < 32 or ord(c) == 127 for c in rel):
        raise Rejected("unsafe_name", f"{rel!r} holds control characters")
    try:
        rel.encode("utf-8")
    except UnicodeEncodeError:
        raise Rejected("unencodable_name", f"{rel!r} is not valid UTF-8") from None
    if parts[0].startswith(BOOKKEEPING_PREFIX):
        raise Rejected("reserved_output_name",
                         f"{rel!r} would land among the job's bookkeeping (DEST/_*)")


def relative_path(uri: str, root: str) -> str:
    """The input's path relative to its input root, checked (see `check_relative_name`)."""
    prefix = root.rstrip("/") + "/"
    if not uri.startswith(prefix):
        raise Rejected("outside_input_root", f"{uri} is not under {prefix}")
    rel = uri[len(prefix):]
    check_relative_name(rel)
    return rel


def output_path(dest: str, rel_name: str) -> str:
    """DEST/<rel_name>, refusing anything that would not stay inside DEST or is too long."""
    check_relative_name(rel_name)
    dest = dest.rstrip("/")
    full = dest + "/" + rel_name
    if fileio.is_gcs(dest):
        bucket_and_name = full[len("gs://"):]
        if len(bucket_and_name.partition("/")[2].encode("utf-8")) > MAX_GCS_OBJECT_BYTES:
            raise Rejected("name_too_long", f"object name over {MAX_GCS_OBJECT_BYTES} bytes")
        return full
    if len(os.fsencode(full)) > MAX_LOCAL_PATH_BYTES:
        raise Rejected("name_too_long", f"path over {MAX_LOCAL_PATH_BYTES} bytes")
    if not os.path.normpath(full).startswith(os.path.normpath(dest) + os.sep):
        raise Rejected("unsafe_path", f"{rel_name!r} leaves {dest}")
    return full


# ---------------------------------------------------------------------------------------------
# Planning: each input's verdict, in one Beam stage.

def plan_input(uri: str, cfg: JobConfig) -> tuple[tuple[str, str], ...]:
    """The (kind, relative output name) pairs of one input. Raises Rejected with the reason it
    can have none."""
    if fileio.is_inside(uri, cfg.dest) or lies_inside_dest(uri, cfg):
        raise Rejected("inside_output_dir", f"{uri} lies inside the output folder")
    rel = relative_path(uri, cfg.root)
    names = output_names(rel, cfg.output)
    for _, name in names:
        output_path(cfg.dest, name)  # validates the full path
    return names


def lies_inside_dest(uri: str, cfg: JobConfig) -> bool:
    """Whether a local input, links resolved, lies in DEST resolved: DEST given as a link to a
    folder inside the inputs must not make cut-outs of its own cut-outs."""
    if fileio.is_gcs(uri) or not cfg.dest_resolved:
        return False
    return fileio.is_inside(fileio.resolved(uri), cfg.dest_resolved)


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


INDEXED = ("indexed",)   # a status: DEST's index has a line for this input (any run)


def decide(uri: str, statuses, overwrite: bool) -> tuple[str, object, int]:
    """One input's verdicts on each of its output names -> (action, payload, extra copies).

    action: 'reject' (payload: (reason, detail)), 'skip' (all outputs exist; with INDEXED among
    the statuses: and an index line names them), 'recover' (all outputs exist but no run's index
    has a line for the input, as after a kill between the outputs and the index: payload, every
    (kind, name) pair, whose line is to be written from the files), 'process' (payload: the
    (kind, name) pairs to write: all of them with `overwrite`, else the missing), or 'none' (an
    index line for an input not listed this time: nothing to do).
    """
    indexed = INDEXED in statuses
    statuses = sorted((s for s in statuses if s != INDEXED), key=repr)
    if not statuses:
        return "none", None, 0
    extra = max(s[-1] for s in statuses) - 1
    collisions = [s for s in statuses if s[0] == "collision"]
    if collisions:
        return "reject", ("output_name_collision",
                          "; ".join(f"{s[1]}: {s[2]}" for s in collisions)), extra
    todo = tuple(sorted((s[1], s[2]) for s in statuses if overwrite or not s[3]))
    if not todo:
        if indexed:
            return "skip", None, extra
        return "recover", tuple(sorted((s[1], s[2]) for s in statuses)), extra
    return "process", todo, extra


class DestWalker:
    """The listing's rules for DEST (see `listing.FanOutList`): every finished file outside the
    bookkeeping (`_*` at the top) -> (name, ('have',)); with `folders_matter`, the folders above
    each -> (folder, ('dir',)) (repeats are harmless: judging reads them as one). A crashed
    write's temporary files live in DEST/_tmp/ (bookkeeping), never among the outputs."""

    def __init__(self, dest: str, folders_matter: bool):
        self._prefix = dest.rstrip("/") + "/"
        self._folders_matter = folders_matter
        self._last_folder = None  # files arrive folder by folder: its folders are sent once

    def keep_folder(self, path: str) -> bool:
        rel = path[len(self._prefix):] if path.startswith(self._prefix) else ""
        return not rel.startswith(BOOKKEEPING_PREFIX)

    def on_file(self, path: str):
        rel = path[len(self._prefix):] if path.startswith(self._prefix) else None
        if not rel or rel.startswith(BOOKKEEPING_PREFIX) or rel.endswith("/"):
            return
        rel = rel.replace(os.sep, "/")
        if _encodable(rel):  # a name that is not UTF-8 is no output's name
            yield rel, ("have",)
        folder = posixpath.dirname(rel)
        if self._folders_matter and folder != self._last_folder:
            self._last_folder = folder
            yield from ((f, ("dir",)) for f in ancestors(rel) if _encodable(f))

    def on_odd(self, path: str, reason: str, detail: str):
        if reason == "not_a_regular_file":  # a FIFO or socket still takes the name
            yield from self.on_file(path)


def _encodable(name: str) -> bool:
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


class ExistingOutputs(beam.PTransform):
    """PBegin -> DEST's existing files as claims (see `DestWalker`), listed with a fan-out."""

    def __init__(self, dest: str):
        super().__init__()
        self._dest = dest

    def expand(self, pbegin):
        dest = self._dest
        if not fileio.is_gcs(dest) and not os.path.isdir(dest):
            return pbegin | "NoDest" >> beam.Create([])
        walker = DestWalker(dest, folders_matter=not fileio.is_gcs(dest))
        return (pbegin | "FanOut" >> FanOutList(dest, walker))[MAIN]


class _PlanDoFn(beam.DoFn):
    def __init__(self, cfg: JobConfig):
        self._cfg = cfg
        self._folders_matter = not fileio.is_gcs(cfg.dest)

    def process(self, uri):
        try:
            names = plan_input(uri, self._cfg)
        except Rejected as e:
            yield rejection(self._cfg.source, uri, e, "bad_name")
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
            yield beam.pvalue.TaggedOutput("rejected", record(
                self._cfg.source, uri, "duplicate_input", "listed more than once; done once"))
        if action == "reject":
            yield beam.pvalue.TaggedOutput(
                "rejected", record(self._cfg.source, uri, *payload))
        elif action == "recover" and self._cfg.background and self._cfg.output == "cutout":
            yield uri, payload  # a cut-out on a colour keeps no alpha to recover from: redo it
        elif action in ("skip", "recover"):
            yield beam.pvalue.TaggedOutput("skipped", uri)
            if action == "recover":
                yield beam.pvalue.TaggedOutput("recover", (uri, payload))
        elif action == "process":
            yield uri, payload


class PlanOutputs(beam.PTransform):
    """(input URIs, DEST's existing files[, inputs DEST's index has lines for]) -> {'tasks':
    (uri, ((kind, name), ...)), 'skipped': uri, 'rejected': reject records, 'recover': (uri,
    its outputs) for skipped inputs whose outputs have no index line (`decide`)}.

    One shuffle by output name finds collisions and existing outputs for every name at once (no
    request per image); a second by URI gathers each input's verdicts (an input of
    `--output both` has two names).
    """

    def __init__(self, cfg: JobConfig):
        super().__init__()
        self._cfg = cfg

    def expand(self, pcolls):
        uris, existing, *indexed = pcolls  # indexed: the inputs DEST's index has lines for
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
                        lambda kv, fm: judge_output_name(kv[0], kv[1], fm), folders_matter))
        if indexed:
            verdicts = ((verdicts, indexed[0] | "AsIndexed" >> beam.Map(lambda u: (u, INDEXED)))
                        | "WithIndexed" >> beam.Flatten())
        decided = (verdicts
                   | "ByInput" >> beam.GroupByKey()
                   | "Decide" >> beam.ParDo(_DecideDoFn(self._cfg)).with_outputs(
                       "rejected", "skipped", "recover", main="tasks"))
        rejected = (bad_names, decided.rejected) | "Rejected" >> beam.Flatten()
        return {"tasks": decided.tasks, "skipped": decided.skipped, "rejected": rejected,
                "recover": decided.recover}

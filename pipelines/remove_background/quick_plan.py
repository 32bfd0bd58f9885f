"""A re-run with nothing to do, told before any worker starts or any model loads.

A second `cutout remove` over the same folder used to take as long as the first (Beam's start-up,
every worker loading the model) to skip every input. Here the driver walks a local input folder
with the listing's own rules (`inputs.InputWalker`, `core.safe_files.walk_events`) and plans each
input with the pipeline's own function (`output_plan.plan_input`); it stops at the first input
that leaves the answer open, and then the pipeline decides as always. It answers "nothing to do"
only when every input is a regular file whose outputs all exist in a local DEST as files, under
names no two inputs share, and each has its line in DEST's index (`index.read_index`: a run
interrupted before it wrote its index leaves that to the pipeline), for at most `LIMIT` inputs
(a bigger folder goes to the pipeline, whose listing scales). Not for --overwrite, --plan_only,
lists, globs or gs://.
"""
from __future__ import annotations

import os
from typing import TYPE_CHECKING, Optional

from pipelines.core import safe_files
from pipelines.core.rejects import Rejected
from pipelines.remove_background.bookkeeping import SummaryCounts
from pipelines.remove_background.index import read_index
from pipelines.remove_background.inputs import InputWalker
from pipelines.remove_background.output_plan import output_path, plan_input

if TYPE_CHECKING:
    from pipelines.remove_background.config import JobConfig

LIMIT = 100_000


def nothing_to_do(cfg: JobConfig, limit: int = LIMIT) -> Optional[dict]:
    """The run's summary counts when it has nothing to do, else None (the pipeline decides)."""
    if (cfg.input_kind != "folder" or cfg.overwrite or cfg.plan_only or not cfg.dest_resolved
            or not os.path.isdir(cfg.root)):
        return None
    walker = InputWalker(cfg.pattern, cfg.root, cfg.exclude_prefix, cfg.source)
    index = read_index(cfg.dest)
    names_seen: set = set()
    inputs = ignored = 0
    root = cfg.root.rstrip("/") or "/"
    for event in safe_files.walk_events(root, safe_files.root_chain(root),
                                        keep_folder=walker.keep_folder):
        if event[0] != "file":
            return None  # an entry that is no regular file: a reject, the pipeline's to count
        for found in walker.on_file(event[1]):
            if not isinstance(found, str):  # a TaggedOutput: junk is ignored, the rest rejected
                if found.tag != "ignored":
                    return None
                ignored += 1
                continue
            try:
                names = [name for _, name in plan_input(found, cfg)]
            except Rejected:
                return None
            done = index.get(found, {}).get("outputs", [])
            for name in names:
                if (name in names_seen or name not in done
                        or not os.path.isfile(output_path(cfg.dest, name))):
                    return None
                names_seen.add(name)
            inputs += 1
            if inputs > limit:
                return None
    if not inputs:
        return None
    counts = SummaryCounts()
    acc = counts.create_accumulator()
    acc.update(skipped=inputs, ignored_os_files=ignored)
    return counts.extract_output(acc)

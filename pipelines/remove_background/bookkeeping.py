"""remove_background's bookkeeping: reject records, Beam counters, and what every run rewrites
under DEST's reserved `_*` names: `_rejected/rejected-SSSSS-of-NNNNN.jsonl` (shards written by
the workers, `reject_io.WriteRejects`: no worker gathers every reject) and `_summary.json` (a
combine of the counts); and `_job.json`, the settings DEST's outputs were made with
(checked before any work)."""
from __future__ import annotations

import json
import os
import apache_beam as beam
from apache_beam.metrics import Metrics

from pipelines.core import dest_guard, fileio, reject_io, rejects
from pipelines.core.rejects import REJECTS_FOLDER, REJECTS_PREFIX
from pipelines.remove_background.config import JobConfig


NAMESPACE = "remove_background"
REJECTED_FILES = f"{REJECTS_FOLDER}/{REJECTS_PREFIX}-*-of-*.jsonl"   # every shard
SUMMARY_FILE = "_summary.json"        # the latest run's
SUMMARIES_FOLDER = "_summary"         # every run's: _summary/<run>.json
JOB_FILE = "_job.json"


def rejection(source: str, uri: str, error: Exception, default_reason: str):
    """One input's failure on a DoFn's 'rejected' output (`rejects.from_exception`: a Rejected,
    keeps its reason; anything else is `default_reason`)."""
    return beam.pvalue.TaggedOutput("rejected",
                                    rejects.from_exception(source, uri, error, default_reason))


# ---------------------------------------------------------------------------------------------
# DEST/_job.json: what kind of outputs DEST holds, so a re-run with other settings can't take
# them for its own (`--output mask` then `--output cutout` would skip every "existing" cut-out).

def job_record(cfg: JobConfig) -> dict:
    """The settings that decide what an output file holds."""
    return {"output": cfg.output,
            "background": list(cfg.background) if cfg.background else None,
            "refinement": cfg.refine, "model": cfg.model}


def _describe(record: dict) -> str:
    return ", ".join(f"{k}={record.get(k)}" for k in sorted(record))


BOOKKEEPING = {"_index": dest_guard.FOLDER, REJECTS_FOLDER: dest_guard.FOLDER,
               "_review": dest_guard.FOLDER, dest_guard.TEMP_DIR: dest_guard.FOLDER,
               JOB_FILE: dest_guard.FILE, SUMMARY_FILE: dest_guard.FILE,
               SUMMARIES_FOLDER: dest_guard.FOLDER}


def guard_dest(cfg: JobConfig) -> None:
    """Before any work, also for --plan_only (it writes rejects and a summary): JobError for a
    DEST that is a file, or whose bookkeeping entries are links or of the wrong kind."""
    if not fileio.is_gcs(cfg.dest) and os.path.exists(cfg.dest) and not os.path.isdir(cfg.dest):
        raise rejects.JobError(f"--output_dir {cfg.dest} is a file, not a folder")
    dest_guard.check_bookkeeping(cfg.dest, BOOKKEEPING)


def claim_dest(cfg: JobConfig) -> None:
    """Before any work: refuses (JobError) a DEST whose bookkeeping entries are links or of the
    wrong kind (`dest_guard.check_bookkeeping`), that holds another kind of outputs (unless
    --overwrite) or that can't be written; sweeps the temporaries of provably dead runs, opens
    this run's own DEST/_tmp/<run>/ (the proof that DEST can be written) and records this job's
    settings when they are new. `release_dest` undoes the temporary folder."""
    path = cfg.dest.rstrip("/") + "/" + JOB_FILE
    mine = job_record(cfg)
    guard_dest(cfg)
    try:
        before = json.loads(fileio.read_bytes(path)) if fileio.exists(path) else None
    except (OSError, ValueError) as e:
        raise rejects.JobError(f"{path} is unreadable ({type(e).__name__}: {e}); remove it or "
                               "give --overwrite") from None
    if before is not None and before != mine and not cfg.overwrite:
        raise rejects.JobError(
            f"{cfg.dest} holds outputs made with {_describe(before)}; this run asks for "
            f"{_describe(mine)}: give another --output_dir, or --overwrite to redo them all")
    opened = False
    try:
        if not fileio.is_gcs(cfg.dest):
            os.makedirs(cfg.dest, exist_ok=True)
            dest_guard.sweep_stale(cfg.dest)
            dest_guard.open_run_temp_dir(cfg.dest, cfg.run_name)
            opened = True
        if before != mine:
            fileio.write_bytes(dest_guard.checked_path(path, cfg.dest_resolved),
                               json.dumps(mine, indent=2, sort_keys=True).encode("utf-8"),
                               mime_type="application/json")
    except OSError as e:
        if opened:
            release_dest(cfg)
        raise rejects.JobError(f"can't write to --output_dir {cfg.dest}: "
                               f"{e.strerror or e}") from None


def count_outputs_since(dest: str, since: float) -> int:
    """Files a run made under a local DEST since `since` (a time.time()), its `_*` bookkeeping
    left out: what an interrupted run reports it wrote."""
    count = 0
    for folder, dirs, files in os.walk(dest):
        if folder == dest:
            dirs[:] = [d for d in dirs if not d.startswith("_")]
            files = [f for f in files if not f.startswith("_")]
        for name in files:
            try:
                count += os.lstat(os.path.join(folder, name)).st_mtime >= since
            except OSError:
                continue
    return count


def release_dest(cfg: JobConfig) -> None:
    """This run's temporaries removed (a local DEST): at the end of every run, done or not."""
    if not fileio.is_gcs(cfg.dest):
        dest_guard.close_run_temp_dir(cfg.dest, cfg.run_name)


def temp_dir(dest: str, run: str) -> str:
    """Where a local DEST's outputs are written before they are renamed into place: this run's
    own folder under the reserved `_tmp` (`dest_guard`)."""
    return dest_guard.run_temp_dir(dest, run)


class SummaryCounts(beam.CombineFn):
    """(status, info) outcomes -> the counts of `_summary.json`. With `plan_only`, inputs the
    plan would process count as `planned` (and their outputs as `files_planned`)."""

    def __init__(self, plan_only: bool = False):
        self._plan_only = plan_only

    def create_accumulator(self):
        acc = {"written": 0, "skipped": 0, "rejected": 0, "files_written": 0,
               "rejected_by_reason": {}, "ignored_os_files": 0, "below_review": 0}
        if self._plan_only:
            acc.update(planned=0, files_planned=0)
        return acc

    def add_input(self, acc, outcome):
        status, info = outcome
        acc[status] += 1
        if status in ("written", "planned"):
            acc["files_" + status] += info
        elif status == "rejected":
            acc["rejected_by_reason"][info] = acc["rejected_by_reason"].get(info, 0) + 1
        return acc

    def merge_accumulators(self, accs):
        out = self.create_accumulator()
        for acc in accs:
            for key, value in acc.items():
                if key != "rejected_by_reason":
                    out[key] += value
            for reason, n in acc["rejected_by_reason"].items():
                out["rejected_by_reason"][reason] = out["rejected_by_reason"].get(reason, 0) + n
        return out

    def extract_output(self, acc):
        acc = dict(acc)
        acc["inputs"] = acc["written"] + acc["skipped"] + acc["rejected"] + acc.get("planned", 0)
        acc["rejected_by_reason"] = dict(sorted(acc["rejected_by_reason"].items()))
        return acc


def _count(outcome):
    status = outcome[0]
    Metrics.counter(NAMESPACE, status).inc()
    if status == "written":
        Metrics.counter(NAMESPACE, "files_written").inc(outcome[1])
    return outcome


def summary_options(cfg: JobConfig) -> dict:
    return {"input": cfg.source, "input_kind": cfg.input_kind, "input_root": cfg.root,
            "output_dir": cfg.dest, "model": cfg.model, "image_size": cfg.image_size,
            "output": cfg.output, "background": list(cfg.background) if cfg.background else None,
            "max_batch_size": cfg.max_batch_size, "png_compression": cfg.png_compression,
            "max_pixels": cfg.max_pixels, "overwrite": cfg.overwrite, "refine": cfg.refine,
            "review_below": cfg.review_below, "plan_only": cfg.plan_only}


def write_summary(counts: dict, cfg: JobConfig) -> dict:
    """DEST/_summary/<run>.json, kept like the index (a re-run with nothing to do never hides
    what the run that did the work counted), and DEST/_summary.json, the latest run's."""
    summary = dict(counts)
    summary["run"] = cfg.run_name
    summary["options"] = summary_options(cfg)
    summary["rejects_file"] = cfg.dest + "/" + REJECTED_FILES
    data = json.dumps(summary, indent=2, sort_keys=True).encode("utf-8")
    for name in (f"{SUMMARIES_FOLDER}/{cfg.run_name}.json", SUMMARY_FILE):
        path = dest_guard.checked_path(cfg.dest + "/" + name, cfg.dest_resolved)
        fileio.write_bytes(path, data, mime_type="application/json")
    return summary


class WriteBookkeeping(beam.PTransform):
    """{written, skipped, rejected, ignored[, planned][, below_review]} -> Beam counters, the
    reject shards DEST/_rejected/rejected-*.jsonl and DEST/_summary.json. `planned` (a
    --plan_only run): the tasks the plan would run, counted, not run; `below_review`: the outputs
    under --review_below."""

    def __init__(self, cfg: JobConfig):
        super().__init__()
        self._cfg = cfg

    def expand(self, pcolls):
        cfg = self._cfg
        planned = pcolls.get("planned")
        outcomes = [pcolls["written"] | "W" >> beam.Map(lambda w: ("written", w[1])),
                    pcolls["skipped"] | "S" >> beam.Map(lambda _: ("skipped", 0)),
                    pcolls["rejected"] | "R" >> beam.Map(lambda r: ("rejected", r["reason"])),
                    pcolls["ignored"] | "I" >> beam.Map(lambda _: ("ignored_os_files", 0))]
        if planned is not None:
            outcomes.append(planned | "P" >> beam.Map(lambda task: ("planned", len(task[1]))))
        if "below_review" in pcolls:
            outcomes.append(pcolls["below_review"] | "B" >> beam.Map(lambda _: ("below_review", 0)))
        _ = pcolls["rejected"] | "WriteRejects" >> reject_io.WriteJobRejects(
            cfg.dest, inside=cfg.dest_resolved)
        return (tuple(outcomes)
                | "Outcomes" >> beam.Flatten()
                | "Count" >> beam.Map(_count)
                | "Summarise" >> beam.CombineGlobally(SummaryCounts(plan_only=planned is not None))
                | "WriteSummary" >> beam.Map(write_summary, cfg))


def describe_job(cfg: JobConfig) -> str:
    """What a run is about to do, said before it starts (model/feedback.py)."""
    inputs = {"folder": f"listing {cfg.source}", "glob": f"matching {cfg.source}",
              "file": f"1 file, {cfg.source}", "list": f"reading the list {cfg.source}"}
    model = f"model {cfg.model}, {cfg.image_size} px" if cfg.model else "no model"
    what = "--plan_only: nothing written" if cfg.plan_only else f"--output {cfg.output}"
    return f"{inputs[cfg.input_kind]} -> {cfg.dest} ({model}; {what})"


def nothing_to_do(summary: dict) -> bool:
    return (summary["inputs"] > 0 and summary["skipped"] == summary["inputs"]
            and "planned" not in summary)


def format_summary(summary: dict, dest: str) -> str:
    if nothing_to_do(summary):
        return (f"remove_background: nothing to do: all {summary['inputs']} inputs have their "
                f"outputs in {dest} (--overwrite redoes them); earlier runs' summaries are in "
                f"{dest}/{SUMMARIES_FOLDER}/")
    reasons = ", ".join(f"{k}: {v}" for k, v in summary["rejected_by_reason"].items())
    return (f"remove_background: {summary['inputs']} inputs -> {summary['written']} written "
            f"({summary['files_written']} files), {summary['skipped']} skipped (output exists), "
            f"{summary['rejected']} rejected" + (f" ({reasons})" if reasons else "")
            + (f", {summary['ignored_os_files']} OS files ignored (.DS_Store, ...)"
               if summary.get("ignored_os_files") else "")
            + (f", {summary['planned']} planned ({summary['files_planned']} files; "
               "--plan_only: nothing written)" if "planned" in summary else "")
            + (f", {summary['below_review']} with confidence under "
               f"{summary['options']['review_below']} (listed in {dest}/_review/)"
               if summary.get("options", {}).get("review_below") is not None else "")
            + f"; outputs in {dest}, rejects in {dest}/{REJECTS_FOLDER}/")

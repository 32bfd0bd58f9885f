"""remove_background's bookkeeping: reject records, Beam counters, and the two files every run
rewrites under DEST's reserved `_*` names (`_rejected/rejected.jsonl`, `_summary.json`)."""
from __future__ import annotations

import json
from typing import TYPE_CHECKING

import apache_beam as beam
from apache_beam.metrics import Metrics

from pipelines import fileio
from pipelines.imaging import ImageError

if TYPE_CHECKING:
    from pipelines.remove_background import JobConfig

NAMESPACE = "remove_background"
REJECTED_FILE = "_rejected/rejected.jsonl"
SUMMARY_FILE = "_summary.json"


def reject_record(source: str, uri: str, reason: str, detail: str = "") -> dict:
    return {"source": source, "path": uri, "reason": reason, "detail": detail}


def rejection(source: str, uri: str, error: Exception, default_reason: str):
    """One input's failure as a reject on the 'rejected' output: an ImageError keeps its own
    reason and detail; anything else gets `default_reason` and the exception's text."""
    if isinstance(error, ImageError):
        record = reject_record(source, uri, error.reason, error.detail)
    else:
        record = reject_record(source, uri, default_reason, f"{type(error).__name__}: {error}")
    return beam.pvalue.TaggedOutput("rejected", record)


class SummaryCounts(beam.CombineFn):
    """(status, info) outcomes -> the counts of `_summary.json`."""

    def create_accumulator(self):
        return {"written": 0, "skipped": 0, "rejected": 0, "files_written": 0,
                "rejected_by_reason": {}, "ignored_os_files": 0, "below_review": 0}

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
            for key in ("written", "skipped", "rejected", "files_written", "ignored_os_files",
                        "below_review"):
                out[key] += acc[key]
            for reason, n in acc["rejected_by_reason"].items():
                out["rejected_by_reason"][reason] = out["rejected_by_reason"].get(reason, 0) + n
        return out

    def extract_output(self, acc):
        acc = dict(acc)
        acc["inputs"] = acc["written"] + acc["skipped"] + acc["rejected"]
        acc["rejected_by_reason"] = dict(sorted(acc["rejected_by_reason"].items()))
        return acc


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
            "max_pixels": cfg.max_pixels, "overwrite": cfg.overwrite, "refine": cfg.refine,
            "review_below": cfg.review_below}


def _write_summary(counts: dict, cfg: JobConfig) -> None:
    summary = dict(counts)
    summary["options"] = summary_options(cfg)
    summary["rejects_file"] = cfg.dest + "/" + REJECTED_FILE
    fileio.write_bytes(cfg.dest + "/" + SUMMARY_FILE,
                       json.dumps(summary, indent=2, sort_keys=True).encode("utf-8"),
                       mime_type="application/json")


class WriteBookkeeping(beam.PTransform):
    """(written, skipped, rejected, ignored[, below review]) -> Beam counters,
    DEST/_rejected/rejected.jsonl and DEST/_summary.json."""

    def __init__(self, cfg: JobConfig):
        super().__init__()
        self._cfg = cfg

    def expand(self, pcolls):
        written, skipped, rejected, ignored, *below = pcolls
        cfg = self._cfg
        outcomes = ((written | "W" >> beam.Map(lambda w: ("written", w[1])),
                     skipped | "S" >> beam.Map(lambda _: ("skipped", 0)),
                     rejected | "R" >> beam.Map(lambda r: ("rejected", r["reason"])),
                     ignored | "I" >> beam.Map(lambda _: ("ignored_os_files", 0)),
                     *[b | "B" >> beam.Map(lambda _: ("below_review", 0)) for b in below])
                    | "Outcomes" >> beam.Flatten()
                    | "Count" >> beam.Map(_count))
        _ = (rejected
             | "AllRejects" >> beam.combiners.ToList()
             | "WriteRejects" >> beam.Map(_write_rejects, cfg.dest + "/" + REJECTED_FILE))
        return (outcomes
                | "Summarise" >> beam.CombineGlobally(SummaryCounts())
                | "WriteSummary" >> beam.Map(_write_summary, cfg))


def format_summary(summary: dict, dest: str) -> str:
    reasons = ", ".join(f"{k}: {v}" for k, v in summary["rejected_by_reason"].items())
    return (f"remove_background: {summary['inputs']} inputs -> {summary['written']} written "
            f"({summary['files_written']} files), {summary['skipped']} skipped (output exists), "
            f"{summary['rejected']} rejected" + (f" ({reasons})" if reasons else "")
            + (f", {summary['ignored_os_files']} OS files ignored (.DS_Store, ...)"
               if summary.get("ignored_os_files") else "")
            + (f", {summary['below_review']} with confidence under "
               f"{summary['options']['review_below']} (listed in {dest}/_review/)"
               if summary.get("options", {}).get("review_below") is not None else "")
            + f"; outputs in {dest}, rejects in {dest}/{REJECTED_FILE}")

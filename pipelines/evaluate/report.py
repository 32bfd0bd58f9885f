"""Evaluate's report: per-image scores summed into means per source, and the files in R.

- Aggregation (pure, and as Beam's `SummaryFn`): an accumulator maps group (`OVERALL` or a
  source) -> scorer (`model` or a baseline) -> [count, {metric: sum}, F-curve sum].
- `build_report`: the metrics.json document; `per_image_csv`: the per-image table. The rejects go
  to R/_rejected/*.jsonl, written by the workers (every job's layout, `reject_io.WriteJobRejects`).
- `WriteReport`: the Beam stage that writes R/per_image.csv, _rejected/, contact_sheet.png
  and, last, metrics.json (a report folder without it is an unfinished run).
The runbook in `pipelines.evaluate` says what each file holds.
"""
from __future__ import annotations

import csv
import io
import json
from typing import Iterable, Optional, Sequence

import apache_beam as beam
import numpy as np

from model import metrics
from pipelines.core import fileio, imaging, reject_io
from pipelines.core.rejects import REJECTS_FOLDER
from pipelines.evaluate.config import MODE_FOLDERS, MODE_MODEL, MODEL_SCORER, Config
from pipelines.evaluate.contact_sheet import FOLDER_COLUMNS, MODEL_COLUMNS, render_contact_sheet
from pipelines.evaluate.page import PAGE_FILE, write_report_page
from pipelines.evaluate.scoring import Scored

METRICS_FILE = "metrics.json"
PER_IMAGE_FILE = "per_image.csv"
SHEET_FILE = "contact_sheet.png"
REJECTS_FILES = f"{REJECTS_FOLDER}/*.jsonl"
OVERALL = "__overall__"

# Folder-mode reasons that have their own list in metrics.json (and lines in _rejected/).
_FOLDER_LIST_REASONS = ("missing_prediction", "unmatched_prediction", "size_mismatch",
                        "ignored_prediction", "ignored_ground_truth")


# ---------------------------------------------------------------------------------------------
# Aggregation (pure, and as a CombineFn)

def empty_accumulator() -> dict:
    return {}


def add_scored(acc: dict, scored: Scored) -> dict:
    """acc[group][scorer] = [count, {metric: sum}, F-curve sum or None]."""
    for group in (OVERALL, scored.source):
        by_scorer = acc.setdefault(group, {})
        for scorer, values in scored.scores.items():
            entry = by_scorer.setdefault(scorer, [0, {}, None])
            entry[0] += 1
            for name, value in values.items():
                entry[1][name] = entry[1].get(name, 0.0) + float(value)
            curve = scored.curves.get(scorer)
            if curve is not None:
                entry[2] = curve.copy() if entry[2] is None else entry[2] + curve
    return acc


def merge_accumulators(accs: Iterable[dict]) -> dict:
    merged: dict = {}
    for acc in accs:
        for group, by_scorer in acc.items():
            target = merged.setdefault(group, {})
            for scorer, (count, sums, curve) in by_scorer.items():
                entry = target.setdefault(scorer, [0, {}, None])
                entry[0] += count
                for name, value in sums.items():
                    entry[1][name] = entry[1].get(name, 0.0) + value
                if curve is not None:
                    entry[2] = curve.copy() if entry[2] is None else entry[2] + curve
    return merged


def summarise(acc: dict, names: Sequence[str]) -> dict:
    """Means per group and scorer: {group: {scorer: {"count", "means", "dataset_max_f"}}}."""
    out = {}
    for group, by_scorer in acc.items():
        out[group] = {}
        for scorer, (count, sums, curve) in by_scorer.items():
            out[group][scorer] = {
                "count": count,
                "means": {n: sums[n] / count for n in names if n in sums},
                "dataset_max_f": (float(np.max(curve / count)) if curve is not None else None),
            }
    return out


class SummaryFn(beam.CombineFn):
    def __init__(self, names: Sequence[str]):
        self._names = tuple(names)

    def create_accumulator(self):
        return empty_accumulator()

    def add_input(self, acc, scored):
        return add_scored(acc, scored)

    def merge_accumulators(self, accumulators):
        return merge_accumulators(accumulators)

    def extract_output(self, acc):
        return summarise(acc, self._names)


# ---------------------------------------------------------------------------------------------
# The report's files (pure)

def _group_dict(summary: dict, group: str, scorer: str, names) -> dict:
    entry = summary.get(group, {}).get(scorer)
    return {n: entry["means"][n] for n in names} if entry else {}


def build_report(config: Config, summary: dict, rejects: Sequence[dict], context: dict) -> dict:
    """The metrics.json document."""
    names = list(config.metric_names)
    sources = sorted(g for g in summary if g != OVERALL)
    count = summary.get(OVERALL, {}).get(MODEL_SCORER, {}).get("count", 0)

    def scorer_block(scorer):
        return {"overall": _group_dict(summary, OVERALL, scorer, names),
                "per_source": {s: _group_dict(summary, s, scorer, names) for s in sources}}

    def dataset_max_f(scorer):
        if "max_f_measure" not in names:
            return None
        return {"overall": summary.get(OVERALL, {}).get(scorer, {}).get("dataset_max_f"),
                "per_source": {s: summary[s][scorer]["dataset_max_f"] for s in sources}}

    rejected_counts: dict = {}
    for r in rejects:
        rejected_counts[r["reason"]] = rejected_counts.get(r["reason"], 0) + 1
    model_block = scorer_block(MODEL_SCORER)
    report = {
        "mode": config.mode,
        "count": count,
        "resolution": context["resolution"],
        "metrics": names,
        "higher_is_better": {n: metrics.higher_is_better(n) for n in names},
        "overall": model_block["overall"],
        "per_source": model_block["per_source"],
        "per_source_count": {s: summary[s][MODEL_SCORER]["count"] for s in sources},
        "dataset_max_f_measure": dataset_max_f(MODEL_SCORER),
        "baselines": ({b: dict(scorer_block(b), dataset_max_f_measure=dataset_max_f(b))
                       for b in metrics.BASELINES} if config.baselines else {}),
        "rejected": [r for r in rejects if r["reason"] not in _FOLDER_LIST_REASONS],
        "rejected_counts": dict(sorted(rejected_counts.items())),
        "files": {"per_image": PER_IMAGE_FILE, "contact_sheet": SHEET_FILE,
                  "rejected": REJECTS_FILES},
        "notes": [
            "means over images; max_f_measure is the mean of per-image maxima, "
            "dataset_max_f_measure the max of the dataset-mean F curve (the papers' maxF)",
            "mae, s_measure, e_measure, weighted_f_measure, max_f_measure follow PySODMetrics "
            "(8-bit, min-max normalised prediction); sad, mse, mad, grad, conn are P3M's "
            "matting metrics on raw alpha (sad, grad, conn grow with resolution)",
            "baselines: all_foreground predicts 1 everywhere; centred_ellipse predicts 1 inside "
            f"a centred ellipse spanning {metrics.ELLIPSE_FRACTION:.0%} of the height and width",
        ],
        "options": config.as_dict(),
    }
    report.update(context.get("extra", {}))
    if config.mode == MODE_FOLDERS:
        report["size_mismatches"] = [
            {k: r[k] for k in ("key", "prediction", "ground_truth", "detail")}
            for r in rejects if r["reason"] == "size_mismatch"]
    return report


def per_image_csv(rows: Sequence[tuple], names: Sequence[str]) -> bytes:
    """Rows (key, source, {metric: value}[, confidence]); a `confidence` column when any row
    has one (model mode)."""
    with_confidence = any(len(r) > 3 and r[3] is not None for r in rows)
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(["key", "source", *names] + (["confidence"] if with_confidence else []))
    for key, source, values, *rest in sorted(rows, key=lambda r: r[0]):
        writer.writerow([key, source, *(repr(float(values[n])) for n in names)]
                        + ([repr(float(rest[0]))] if with_confidence else []))
    return buf.getvalue().encode("utf-8")


BAD_IOU = 0.5            # an output under this IoU is a bad one, for the confidence's report
LOWEST_SHARE = 0.10      # the lowest-confidence share a person would review


def _ranks(x: np.ndarray) -> np.ndarray:
    """Ranks 1..n, ties sharing their mean rank (as scipy.stats.rankdata)."""
    order = np.argsort(x, kind="stable")
    _, first, counts = np.unique(x[order], return_index=True, return_counts=True)
    ranks = np.empty(len(x))
    ranks[order] = np.repeat(first + (counts + 1) / 2, counts)
    return ranks


def spearman(x, y) -> Optional[float]:
    """Spearman's rank correlation; None when it is undefined (n < 2 or a constant)."""
    x, y = np.asarray(x, float), np.asarray(y, float)
    if len(x) < 2:
        return None
    rx, ry = _ranks(x), _ranks(y)
    if rx.std() == 0 or ry.std() == 0:
        return None
    return float(np.corrcoef(rx, ry)[0, 1])


def confidence_analysis(pairs: Sequence[tuple[float, float]]) -> dict:
    """(confidence, IoU) per output -> how well the confidence finds the bad outputs: the
    Spearman correlation, and the share of the outputs with IoU < 0.5 that lie among the
    lowest-confidence 10% (ties broken by the order given)."""
    conf = np.array([c for c, _ in pairs], float)
    iou = np.array([i for _, i in pairs], float)
    bad = iou < BAD_IOU
    lowest = int(np.ceil(LOWEST_SHARE * len(pairs)))
    caught = int(bad[np.argsort(conf, kind="stable")[:lowest]].sum())
    return {"count": len(pairs), "spearman": spearman(conf, iou),
            "bad_iou_below": BAD_IOU, "bad": int(bad.sum()), "lowest_10pct": lowest,
            "bad_in_lowest_10pct": caught,
            "bad_in_lowest_10pct_share": caught / int(bad.sum()) if bad.any() else None}


# ---------------------------------------------------------------------------------------------
# Beam: writing the report

def _worst_entry(scored: Scored) -> tuple:
    return (scored.scores[MODEL_SCORER]["iou"], scored.key, scored.thumbs)


class _WriteReport(beam.DoFn):
    def __init__(self, config: Config, context: dict):
        self._config, self._context = config, context

    def process(self, _, summary, rows, worst, rejects, rejects_written):
        c = self._config
        report = build_report(c, summary, rejects, self._context)
        write = fileio.write_bytes
        write(fileio.join(c.report_dir, PER_IMAGE_FILE),
              per_image_csv(rows, c.metric_names), mime_type="text/csv")
        if c.mode == MODE_MODEL:
            report["confidence"] = confidence_analysis(
                [(r[3], r[2]["iou"]) for r in sorted(rows, key=lambda r: r[0])
                 if r[3] is not None])
        if worst:
            columns = MODEL_COLUMNS if c.mode == MODE_MODEL else FOLDER_COLUMNS
            rows_shown = [(key, iou, thumbs) for iou, key, thumbs
                          in sorted(worst, key=lambda w: (w[0], w[1]))]
            sheet = render_contact_sheet(rows_shown, columns, c.sheet_cell)
            write(fileio.join(c.report_dir, SHEET_FILE), imaging.encode_png(sheet, "fast"),
                  mime_type="image/png")
            report["contact_sheet_rows"] = [{"key": k, "iou": i} for k, i, _ in rows_shown]
        else:
            rows_shown, columns = [], ()
            report["files"]["contact_sheet"] = None
        write_report_page(c.report_dir, report, rows, rows_shown, columns, c.model)
        report["files"]["page"] = PAGE_FILE
        # metrics.json last: a report folder without it is an unfinished run.
        write(fileio.join(c.report_dir, METRICS_FILE),
              json.dumps(report, indent=2).encode("utf-8"),
              mime_type="application/json")
        yield report


class WriteReport(beam.PTransform):
    """Scored images and rejects -> R/metrics.json, per_image.csv, contact_sheet.png,
    _rejected/*.jsonl; emits the metrics.json document (written last)."""

    def __init__(self, config: Config, context: dict):
        super().__init__()
        self._config, self._context = config, context

    def expand(self, inputs):
        scored, rejects = inputs
        c = self._config
        summary = scored | "Summarise" >> beam.CombineGlobally(SummaryFn(c.metric_names))
        # per_image.csv is one file sorted by key (its contract), so its rows meet on one
        # worker: about 1.6 KB each in memory, 16 MB for a test split of 10^4 images, which cost
        # minutes of scoring each thousand. Unlike remove_background's rejects, this can't reach
        # 10^8; at 10^6 rows (~1.6 GB) it should become shards like reject_io.WriteRejects.
        rows = (scored
                | "Row" >> beam.Map(lambda s: (s.key, s.source, s.scores[MODEL_SCORER],
                                               s.confidence))
                | "Rows" >> beam.combiners.ToList())
        if c.sheet_rows:
            worst = (scored
                     | "WorstEntry" >> beam.Map(_worst_entry)
                     | "Worst" >> beam.combiners.Top.Smallest(
                         c.sheet_rows, key=lambda w: (w[0], w[1])))
        else:
            worst = scored.pipeline | "NoSheet" >> beam.Create([[]])
        rejects_written = rejects | "WriteRejects" >> reject_io.WriteJobRejects(c.report_dir)
        return (scored.pipeline
                | "ReportTrigger" >> beam.Create([None])
                | "Write" >> beam.ParDo(
                    _WriteReport(c, self._context), beam.pvalue.AsSingleton(summary),
                    beam.pvalue.AsSingleton(rows), beam.pvalue.AsSingleton(worst),
                    beam.pvalue.AsList(rejects), beam.pvalue.AsList(rejects_written)))

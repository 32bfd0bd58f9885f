"""Evaluate's page, R/report.html: what metrics.json says, for a person. Static, self-contained
(style inline, pictures in R/report_files/ beside it, every link relative), so it opens from a
local folder or a bucket with no server and no network. It shows:
- a plain sentence for each baseline the model does not beat (`baseline_verdicts`: "The model is
  worse than a centred ellipse on IoU (0.195 vs 0.235)"), or that it beats them all;
- the overall and per-source tables, the model beside the baselines;
- the worst images by IoU, each as photo, ground truth, prediction and cut-out (folder mode:
  ground truth, prediction, errors), with IoU and confidence;
- confidence against IoU, one point per image (model mode), and how well the confidence finds
  the bad outputs;
- the model's training curves when its folder (the parent of MODEL/export) has them.
`summary_text` is the same tables and sentences as the lines evaluate prints at the end.
"""
from __future__ import annotations

import csv
import io
import re
from typing import Optional, Sequence

from model import metrics
from pipelines.core import fileio, imaging, pages
from pipelines.core.reject_io import remove_files
from pipelines.evaluate.contact_sheet import sheet_panels

PAGE_FILE = "report.html"
FILES_DIR = "report_files"
CURVES_FILE = "training_curves.png"        # model.checkpoints.CURVES_FILE, in MODEL/
TRAINING_METRICS_FILE = "metrics.csv"      # model.checkpoints.METRICS_FILE, in MODEL/
MAX_SCATTER_POINTS = 5000                  # beyond this, an even sample keeps the page light
OVERALL_LABEL = "(overall)"

METRIC_LABELS = {"iou": "IoU", "dice": "Dice", "boundary_iou": "boundary IoU", "mae": "MAE",
                 "s_measure": "S-measure", "e_measure": "E-measure",
                 "weighted_f_measure": "weighted F", "max_f_measure": "max F", "sad": "SAD",
                 "mse": "MSE", "mad": "MAD", "grad": "Grad", "conn": "Conn"}
BASELINE_LABELS = {"all_foreground": "an all-foreground mask",
                   "centred_ellipse": "a centred ellipse"}


def metric_label(name: str) -> str:
    return METRIC_LABELS.get(name, name)


# ---------------------------------------------------------------------------------------------
# Words and tables (pure)

def baseline_verdicts(report: dict) -> list[str]:
    """A sentence for each baseline the model does not beat overall, naming the metrics where
    it is worse (or only equal), IoU first; empty when it beats every baseline on every metric."""
    sentences = []
    model = report.get("overall", {})
    for baseline, block in report.get("baselines", {}).items():
        worse, equal = [], []
        for name in report.get("metrics", []):
            mine, theirs = model.get(name), block.get("overall", {}).get(name)
            if mine is None or theirs is None:
                continue
            better = mine > theirs if metrics.higher_is_better(name) else mine < theirs
            if mine == theirs:
                equal.append(name)
            elif not better:
                worse.append(name)
        who = BASELINE_LABELS.get(baseline, baseline.replace("_", " "))
        for verb, names in (("worse than", worse), ("no better than", equal)):
            if names:
                parts = [f"{metric_label(n)} ({pages.fmt(model[n])} vs "
                         f"{pages.fmt(block['overall'][n])})" for n in names]
                listed = (parts[0] if len(parts) == 1
                          else ", ".join(parts[:-1]) + " and " + parts[-1])
                sentences.append(f"The model is {verb} {who} on {listed}.")
    return sentences


def _scorer_rows(report: dict, group: Optional[str], names: Sequence[str]) -> list[list]:
    """[scorer, count, values...] for the model and each baseline, overall or for one source."""
    def pick(block):
        return block["overall"] if group is None else block.get("per_source", {}).get(group, {})

    count = report["count"] if group is None else report.get("per_source_count", {}).get(group)
    rows = [["model", count, *(pages.fmt(pick(report).get(n)) for n in names)]]
    for baseline, block in report.get("baselines", {}).items():
        rows.append([baseline.replace("_", " "), count,
                     *(pages.fmt(pick(block).get(n)) for n in names)])
    return rows


def _headers(names: Sequence[str]) -> list[str]:
    arrows = {True: " \u2191", False: " \u2193"}   # which way is better
    return [metric_label(n) + arrows[metrics.higher_is_better(n)] for n in names]


def summary_text(report: dict, page: Optional[str] = None) -> str:
    """The lines evaluate prints: per source (and overall) the model's count, IoU and MAE beside
    each baseline's IoU, then the verdicts and where the page is."""
    names = [n for n in ("iou", "mae") if n in report.get("metrics", [])]
    baselines = list(report.get("baselines", {}))
    header = ["source", "count", *(metric_label(n) for n in names),
              *(f"{b.replace('_', ' ')} IoU" for b in baselines)]
    table = []
    for group in (None, *sorted(report.get("per_source", {}))):
        values = report["overall"] if group is None else report["per_source"][group]
        count = report["count"] if group is None else report["per_source_count"].get(group)
        row = [OVERALL_LABEL if group is None else group, str(count),
               *(pages.fmt(values.get(n)) for n in names)]
        for b in baselines:
            block = report["baselines"][b]
            chosen = block["overall"] if group is None else block["per_source"].get(group, {})
            row.append(pages.fmt(chosen.get("iou")))
        table.append(row)
    widths = [max(len(r[i]) for r in [header, *table]) for i in range(len(header))]
    lines = [f"evaluate: {report['count']} images, {report['resolution']}"]
    for row in [header, *table]:
        lines.append("  " + "  ".join(c.ljust(w) if i == 0 else c.rjust(w)
                                      for i, (c, w) in enumerate(zip(row, widths))))
    lines += [f"evaluate: {s}" for s in baseline_verdicts(report)]
    if page:
        lines.append(f"evaluate: report page {page}")
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------------
# The page's sections (pure: text in, HTML out)

def _verdict_html(report: dict) -> str:
    verdicts = baseline_verdicts(report)
    if verdicts:
        return "".join(f"<p class=\"warn verdict\">{pages.esc(s)}</p>" for s in verdicts)
    if report.get("baselines"):
        return "<p class=\"good\">The model beats every baseline on every metric.</p>"
    return "<p class=\"muted\">No baselines were scored (--no_baselines).</p>"


def _tables_html(report: dict) -> str:
    names = report["metrics"]
    headers = ["", "count", *_headers(names)]
    overall = _scorer_rows(report, None, names)
    parts = ["<h2>Overall</h2>",
             pages.table(headers, overall, ["model"], "metrics"),
             "<p class=\"muted\">" + pages.esc(" ".join(report.get("notes", [])[2:3])) + "</p>"]
    sources = sorted(report.get("per_source", {}))
    if sources:
        rows, classes = [], []
        for source in sources:
            for i, row in enumerate(_scorer_rows(report, source, names)):
                rows.append([source if i == 0 else "", *row])
                classes.append("model" if i == 0 else "")
        parts += ["<h2>Per source</h2>",
                  pages.table(["source", *headers], rows, classes, "metrics per-source")]
    return "".join(parts)


def _worst_html(worst: Sequence[dict], columns: Sequence[str]) -> str:
    if not worst:
        return ""
    head = "".join(f"<th>{pages.esc(c)}</th>" for c in columns)
    rows = []
    for w in worst:
        conf = "" if w.get("confidence") is None else f", confidence {w['confidence']:.3f}"
        cells = "".join(f"<td><img class=\"worst-img\" src=\"{pages.esc(src)}\" "
                        f"alt=\"{pages.esc(col)}\"></td>" for col, src in zip(columns, w["images"]))
        rows.append(f"<tr class=\"worst\"><td colspan=\"{len(columns)}\" class=\"caption\">"
                    f"IoU {w['iou']:.3f}{conf} &middot; {pages.esc(w['key'])}</td></tr>"
                    f"<tr>{cells}</tr>")
    return ("<h2>Worst images by IoU</h2><table class=\"pictures\"><thead><tr>" + head
            + "</tr></thead><tbody>" + "".join(rows) + "</tbody></table>")


def _confidence_html(report: dict, rows: Sequence[tuple]) -> str:
    pairs = sorted((r[0], r[3], r[2]["iou"]) for r in rows if len(r) > 3 and r[3] is not None)
    if not pairs:
        return ""
    step = max(1, -(-len(pairs) // MAX_SCATTER_POINTS))
    shown = pairs[::step]
    points = [(c, i, f"{k}: confidence {c:.3f}, IoU {i:.3f}") for k, c, i in shown]
    analysis = report.get("confidence") or {}
    words = []
    if analysis.get("spearman") is not None:
        words.append(f"Spearman correlation {analysis['spearman']:.3f}")
    if analysis.get("bad") is not None:
        share = analysis.get("bad_in_lowest_10pct_share")
        words.append(f"{analysis['bad']} outputs have IoU under {analysis['bad_iou_below']}"
                     + ("" if share is None else
                        f"; {share:.0%} of them are among the lowest-confidence "
                        f"{analysis['lowest_10pct']} (10%)"))
    sample = "" if step == 1 else f" (every {step}th of {len(pairs)} images shown)"
    return ("<h2>Confidence against IoU</h2><p>Each point is an image" + pages.esc(sample)
            + "; the dashed line is IoU 0.5. " + pages.esc(". ".join(words)) + ".</p>"
            + pages.svg_scatter(points, "confidence", "IoU", y_line=0.5))


def training_summary(metrics_csv: bytes) -> Optional[str]:
    """'12 epochs; best val IoU 0.812 at epoch 9' from MODEL/metrics.csv, or None."""
    rows = list(csv.DictReader(io.StringIO(metrics_csv.decode("utf-8", "replace"))))
    scored = [(float(r["val_iou"]), int(r["epoch"]) + 1) for r in rows
              if r.get("val_iou") not in (None, "") and r.get("epoch") not in (None, "")]
    if not scored:
        return f"{len(rows)} epochs" if rows else None
    best, epoch = max(scored)
    return f"{len(rows)} epochs; best val IoU {best:.3f} at epoch {epoch}"


def render_report(report: dict, rows: Sequence[tuple], worst: Sequence[dict],
                  columns: Sequence[str], curves: Optional[str] = None,
                  training: Optional[str] = None) -> bytes:
    """The whole page. `worst`: {key, iou, confidence, images: [relative src per column]};
    `curves`: the training curves' relative src, when copied."""
    files = report.get("files", {})
    # A pattern (the rejects' shards) links to its folder: a page can't link to a glob.
    links = [f"<a href=\"{pages.esc(name.split('*')[0])}\">{pages.esc(name)}</a>"
             for name in ("metrics.json", files.get("per_image"), files.get("contact_sheet"),
                          files.get("rejected")) if name]
    where = (f"model {report['model']} on the {report['split']} split of {report['data_dir']}"
             if report.get("mode") == "model" else
             f"predictions {report.get('pred_dir')} against {report.get('gt_dir')}")
    rejected = report.get("rejected_counts") or {}
    body = [f"<h1>Evaluation report</h1><p class=\"muted\">{pages.esc(where)}: "
            f"{report['count']} images, {pages.esc(report['resolution'])}.</p>",
            _verdict_html(report), _tables_html(report),
            _worst_html(worst, columns), _confidence_html(report, rows)]
    if curves or training:
        body.append("<h2>Training</h2>"
                    + (f"<p>{pages.esc(training)}</p>" if training else "")
                    + (f"<img class=\"curves\" src=\"{pages.esc(curves)}\" "
                       "alt=\"training curves\">" if curves else ""))
    if rejected:
        body.append("<h2>Not scored</h2>" + pages.table(["reason", "count"],
                                                        sorted(rejected.items())))
    body.append("<p class=\"muted\">Files: " + " &middot; ".join(links) + "</p>")
    css = (".per-source td:nth-child(2){text-align:left}.pictures th{text-align:center}"
           ".pictures td{padding:2px;border:none}.pictures img{width:128px;height:128px;"
           "object-fit:contain;background:#f4f4f4}.caption{text-align:left;color:#a00;"
           "padding-top:10px!important}.curves{max-width:100%}")
    return pages.document("Evaluation report", "\n".join(body), css)


# ---------------------------------------------------------------------------------------------
# Writing the page and its pictures (local or gs://)

def _slug(column: str) -> str:
    """'errors (red: missed, blue: extra)' -> 'errors': a column's name for a file name."""
    return re.sub(r"[^a-z0-9]+", "-", column.split("(")[0].lower()).strip("-") or "panel"


def model_folder(export_dir: Optional[str]) -> Optional[str]:
    """MODEL for MODEL/export (where train writes metrics.csv and training_curves.png)."""
    if not export_dir:
        return None
    trimmed = export_dir.rstrip("/")
    return trimmed.rsplit("/", 1)[0] if "/" in trimmed else None


def write_report_page(report_dir: str, report: dict, rows: Sequence[tuple],
                      worst_rows: Sequence[tuple], columns: Sequence[str],
                      export_dir: Optional[str] = None) -> str:
    """Writes R/report_files/* (the worst images' panels, the training curves) and then
    R/report.html; deletes pictures of an earlier run that this one does not use. `worst_rows`:
    (key, iou, Thumbs), worst first. Returns the page's path."""
    confidence = {r[0]: r[3] for r in rows if len(r) > 3}
    written, worst = set(), []
    for n, (key, iou, thumbs) in enumerate(worst_rows, 1):
        images = []
        for column, panel in zip(columns, sheet_panels(thumbs)):
            name = f"{FILES_DIR}/worst-{n:02d}-{_slug(column)}.png"
            written.add(pages.write_file(report_dir, name, imaging.encode_png(panel, "fast"),
                                         "image/png"))
            images.append(name)
        worst.append({"key": key, "iou": iou, "confidence": confidence.get(key),
                      "images": images})
    curves = training = None
    model = model_folder(export_dir)
    if model and fileio.exists(fileio.join(model, CURVES_FILE)):
        curves = f"{FILES_DIR}/{CURVES_FILE}"
        written.add(pages.write_file(report_dir, curves,
                                     fileio.read_bytes(fileio.join(model, CURVES_FILE)),
                                     "image/png"))
    if model and fileio.exists(fileio.join(model, TRAINING_METRICS_FILE)):
        training = training_summary(fileio.read_bytes(fileio.join(model, TRAINING_METRICS_FILE)))
    remove_files(fileio.join(fileio.escape_glob(report_dir), FILES_DIR, "*"), keep=written)
    return pages.write_file(report_dir, PAGE_FILE,
                            render_report(report, rows, worst, columns, curves, training),
                            pages.HTML_MIME)

"""The pieces of the project's static pages (evaluate's R/report.html, remove_background's
DEST/_review/index.html): one HTML document with its style inline, tables, an SVG scatter plot,
and the writer of the files beside a page. Pure text, no job knowledge.

A page is a single file that works opened from a local folder or a bucket: every link in it is
relative (thumbnails and data files are written beside it), and it loads nothing from the
network (no fonts, no scripts from elsewhere).
"""
from __future__ import annotations

import html
import math
from typing import Optional, Sequence

from pipelines.core import fileio

HTML_MIME = "text/html; charset=utf-8"

# The checkerboard behind a cut-out, as CSS (no image to load): transparent pixels show it.
CHECKERBOARD_CSS = (
    ".checker{background-color:#ebebeb;background-image:"
    "linear-gradient(45deg,#bebebe 25%,transparent 25%,transparent 75%,#bebebe 75%),"
    "linear-gradient(45deg,#bebebe 25%,transparent 25%,transparent 75%,#bebebe 75%);"
    "background-size:16px 16px;background-position:0 0,8px 8px}")

BASE_CSS = (
    "body{font:14px/1.45 system-ui,-apple-system,'Segoe UI',sans-serif;margin:24px;color:#222;"
    "background:#fff}h1{font-size:22px;margin:0 0 6px}h2{font-size:17px;margin:28px 0 8px}"
    ".muted{color:#666}.warn{background:#fff4e0;border-left:4px solid #e08a00;padding:6px 10px;"
    "margin:6px 0}.good{background:#eaf6ea;border-left:4px solid #3a9a3a;padding:6px 10px;"
    "margin:6px 0}table{border-collapse:collapse;margin:6px 0}th,td{border:1px solid #ddd;"
    "padding:3px 8px;text-align:right}th:first-child,td:first-child{text-align:left}"
    "th{background:#f4f4f4}tr.model td{font-weight:600}code{font-size:13px}"
    "img{display:block}" + CHECKERBOARD_CSS)


def esc(value) -> str:
    """Text (or a number) as HTML, quotes escaped so it is safe in an attribute too."""
    return html.escape(str(value), quote=True)


def fmt(value, digits: int = 3) -> str:
    """A metric's value for a table: 3 decimals, or '-' when there is none."""
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "-"
    if isinstance(value, int):
        return str(value)
    return f"{float(value):.{digits}f}"


def document(title: str, body: str, css: str = "", script: str = "") -> bytes:
    """A whole HTML document, its style (and script) inline."""
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            "<meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">"
            f"<title>{esc(title)}</title><style>{BASE_CSS}{css}</style></head>\n"
            f"<body>\n{body}\n"
            + (f"<script>\n{script}\n</script>\n" if script else "")
            + "</body></html>\n").encode("utf-8")


def table(headers: Sequence[str], rows: Sequence[Sequence], row_classes: Sequence[str] = (),
          css_class: str = "") -> str:
    """An HTML table; cells are escaped (give text or numbers)."""
    head = "".join(f"<th>{esc(h)}</th>" for h in headers)
    body = []
    for i, row in enumerate(rows):
        cls = row_classes[i] if i < len(row_classes) and row_classes[i] else ""
        cells = "".join(f"<td>{esc(c)}</td>" for c in row)
        body.append(f"<tr class=\"{esc(cls)}\">{cells}</tr>" if cls else f"<tr>{cells}</tr>")
    cls = f" class=\"{esc(css_class)}\"" if css_class else ""
    return f"<table{cls}><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def svg_scatter(points: Sequence[tuple[float, float, str]], x_label: str, y_label: str,
                width: int = 460, height: int = 340,
                x_range: tuple = (0.0, 1.0), y_range: tuple = (0.0, 1.0),
                y_line: Optional[float] = None) -> str:
    """An inline SVG scatter plot: points (x, y, label shown on hover) within the ranges, a grid
    at tenths, and a dashed horizontal line at `y_line` when given."""
    left, right, top, bottom = 46, 12, 12, 40
    plot_w, plot_h = width - left - right, height - top - bottom
    (x0, x1), (y0, y1) = x_range, y_range

    def sx(x):
        return left + (min(max(x, x0), x1) - x0) / (x1 - x0) * plot_w

    def sy(y):
        return top + plot_h - (min(max(y, y0), y1) - y0) / (y1 - y0) * plot_h

    parts = [f"<svg xmlns=\"http://www.w3.org/2000/svg\" class=\"scatter\" width=\"{width}\" "
             f"height=\"{height}\" viewBox=\"0 0 {width} {height}\" role=\"img\" "
             f"aria-label=\"{esc(y_label)} against {esc(x_label)}\">",
             f"<rect x=\"{left}\" y=\"{top}\" width=\"{plot_w}\" height=\"{plot_h}\" "
             "fill=\"#fafafa\" stroke=\"#999\"/>"]
    for i in range(11):
        gx, gy = x0 + (x1 - x0) * i / 10, y0 + (y1 - y0) * i / 10
        parts.append(f"<line x1=\"{sx(gx):.1f}\" y1=\"{top}\" x2=\"{sx(gx):.1f}\" "
                     f"y2=\"{top + plot_h}\" stroke=\"#eee\"/>")
        parts.append(f"<line x1=\"{left}\" y1=\"{sy(gy):.1f}\" x2=\"{left + plot_w}\" "
                     f"y2=\"{sy(gy):.1f}\" stroke=\"#eee\"/>")
        if i % 5 == 0:
            parts.append(f"<text x=\"{sx(gx):.1f}\" y=\"{top + plot_h + 14}\" font-size=\"11\" "
                         f"text-anchor=\"middle\">{gx:g}</text>")
            parts.append(f"<text x=\"{left - 6}\" y=\"{sy(gy) + 4:.1f}\" font-size=\"11\" "
                         f"text-anchor=\"end\">{gy:g}</text>")
    if y_line is not None:
        parts.append(f"<line x1=\"{left}\" y1=\"{sy(y_line):.1f}\" x2=\"{left + plot_w}\" "
                     f"y2=\"{sy(y_line):.1f}\" stroke=\"#d33\" stroke-dasharray=\"4 3\"/>")
    parts.append(f"<text x=\"{left + plot_w / 2:.0f}\" y=\"{height - 6}\" font-size=\"12\" "
                 f"text-anchor=\"middle\">{esc(x_label)}</text>")
    parts.append(f"<text x=\"12\" y=\"{top + plot_h / 2:.0f}\" font-size=\"12\" "
                 f"text-anchor=\"middle\" transform=\"rotate(-90 12 {top + plot_h / 2:.0f})\">"
                 f"{esc(y_label)}</text>")
    for x, y, label in points:
        parts.append(f"<circle class=\"point\" cx=\"{sx(x):.1f}\" cy=\"{sy(y):.1f}\" r=\"3\" "
                     f"fill=\"#3b6fd8\" fill-opacity=\"0.6\"><title>{esc(label)}</title></circle>")
    parts.append("</svg>")
    return "".join(parts)


def write_file(folder: str, relative: str, data: bytes, mime_type: str) -> str:
    """Writes `folder/relative` (local or gs://, atomically); returns the path written."""
    path = fileio.join(folder, *relative.split("/"))
    fileio.write_bytes(path, data, mime_type=mime_type)
    return path

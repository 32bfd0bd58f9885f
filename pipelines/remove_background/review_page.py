"""The review page: DEST/_review/index.html, the outputs a person should look at, lowest
confidence first, each photo beside its cut-out on a checkerboard, with its confidence.

    cutout review DEST [--below X] [--page_size 100] [--threads 8]

Written by `remove_background --review_below X` at the end of a run, and by `cutout review DEST`
for an existing DEST (local or gs://). Which outputs: without `--below`, those DEST/_review/*.jsonl
lists (every run's `--review_below`), each with its latest index line; with `--below X`, every
output in DEST's index (`index.read_index`) whose confidence is under X (`--below 1`: all).

Files, all under DEST/_review/ (beside the review lists, which they never touch):
- `index.html`: one static page, no server and no network: it works opened from a local folder
  or from a bucket. It holds only the counts; `#page=N` in its address picks a page.
- `pages/NNNNN.js`: the entries of page N (`--page_size`, default 100), loaded by the page when
  shown: 100,000 entries are 1,000 small files, and opening the page reads one of them.
- `thumbs/HH/<hash>.jpg` (the photo) and `.webp` (the cut-out, with its alpha), at most 160 px
  a side. The name is a hash of the input, the output and its confidence, so a second run reuses
  every thumbnail still current and makes only the new ones (threads: `--threads`). In a
  `--review_below` run the workers make them as they write each output under the threshold, from
  the bytes in hand (`thumbnail_files`), so the page at the end reads no photo again; what they
  could not make is made here. An entry whose photo or output can't be read is shown with the
  reason instead of a picture.
Page data files and thumbnails no entry uses any more are deleted.
"""
from __future__ import annotations

import concurrent.futures
import hashlib
import io
import json
import math
import os
import sys
import time
from typing import Callable, Optional, Sequence

from apache_beam.io.filesystems import FileSystems

from model import flags
from model.errors import run_cli
from pipelines.core import fileio, imaging, pages, safe_files
from pipelines.core.reject_io import remove_files
from pipelines.core.rejects import JobError, Rejected
from pipelines.remove_background.index import INDEX_DIR, REVIEW_DIR, read_index
from pipelines.serving.outputs import MASK_SUFFIX

PAGE_FILE = "index.html"
DATA_DIR = "pages"
THUMB_DIR = "thumbs"
PAGE_SIZE = 100
THUMB_SIDE = 160
DEFAULT_THREADS = 8


# ---------------------------------------------------------------------------------------------
# Which outputs

def shown_output(outputs: Sequence[str]) -> Optional[str]:
    """The output to show: the cut-out of `--output both` (`x.png`), not its mask."""
    outputs = sorted(outputs)
    plain = [o for o in outputs if not o.endswith(MASK_SUFFIX + ".png")]
    return (plain or outputs or [None])[0]


def review_entries(dest: str, below: Optional[float] = None) -> list[dict]:
    """The entries of the page, lowest confidence first (ties by input): each {input, output,
    confidence}."""
    index = read_index(dest)
    if below is None:
        listed = read_index(dest, REVIEW_DIR)
        lines = [index.get(uri, line) for uri, line in listed.items()]
    else:
        lines = [line for line in index.values() if line["confidence"] < below]
    entries = [{"input": line["input"], "output": shown_output(line.get("outputs", ())),
                "confidence": float(line["confidence"])} for line in lines]
    return sorted(entries, key=lambda e: (e["confidence"], e["input"]))


# ---------------------------------------------------------------------------------------------
# Thumbnails

def thumb_names(entry: dict) -> tuple[str, str]:
    """(photo, cut-out) thumbnail names relative to DEST/_review/: a hash of what they show."""
    what = f"{entry['input']}\0{entry['output']}\0{entry['confidence']!r}"
    digest = hashlib.sha1(what.encode("utf-8", "surrogateescape")).hexdigest()[:20]
    return (f"{THUMB_DIR}/{digest[:2]}/{digest}.jpg", f"{THUMB_DIR}/{digest[:2]}/{digest}.webp")


def make_thumbnails(photo: bytes, output: bytes, side: int = THUMB_SIDE) -> tuple[bytes, bytes]:
    """(photo JPEG, cut-out WebP) at most `side` pixels a side. A single-channel output (a mask)
    becomes the photo with that alpha; a cut-out keeps its own alpha (or, composited onto a
    colour, has none). Raises Rejected for a file that is not a readable image."""
    rgb, _ = imaging.load_rgb(photo, draft_size=side)
    rgb.thumbnail((side, side), imaging.RESAMPLE)
    out = imaging.open_image(output, draft_size=side)
    if out.mode in ("L", "I;16", "I", "F"):
        cut = rgb.convert("RGBA")
        cut.putalpha(out.convert("L").resize(rgb.size, imaging.RESAMPLE))
    else:
        cut = out if out.mode in ("RGBA", "RGB") else out.convert(
            "RGBA" if "A" in out.getbands() or "transparency" in out.info else "RGB")
        cut.thumbnail((side, side), imaging.RESAMPLE)   # reduces by whole factors first
    buf = io.BytesIO()
    cut.save(buf, "WEBP", quality=80, method=2)
    return imaging.encode_jpeg(rgb, quality=82), buf.getvalue()


def thumbnail_files(entry: dict, photo: bytes, output: bytes) -> list[tuple[str, bytes, str]]:
    """An entry's thumbnails as (name relative to DEST, bytes, MIME type). Raises Rejected (or
    OSError / ValueError) when they can't be made."""
    photo_name, cut_name = thumb_names(entry)
    photo_thumb, cut_thumb = make_thumbnails(photo, output)
    return [(f"{REVIEW_DIR}/{photo_name}", photo_thumb, "image/jpeg"),
            (f"{REVIEW_DIR}/{cut_name}", cut_thumb, "image/webp")]


def _thumbnail_job(dest: str, entry: dict) -> Optional[str]:
    """Makes and writes one entry's thumbnails; returns the reason when it could not."""
    if entry["output"] is None:
        return "the index names no output"
    try:
        photo = fileio.read_bytes(entry["input"], safe_files.DEFAULT_MAX_FILE_BYTES)
    except (Rejected, OSError) as e:
        return f"photo: {getattr(e, 'reason', type(e).__name__)}"
    try:
        output = fileio.read_bytes(fileio.join(dest, *entry["output"].split("/")),
                                   safe_files.DEFAULT_MAX_FILE_BYTES)
    except (Rejected, OSError) as e:
        return f"output: {getattr(e, 'reason', type(e).__name__)}"
    try:
        files = thumbnail_files(entry, photo, output)
    except Rejected as e:
        return f"{e.reason}: {e.detail}" if e.detail else e.reason
    except (OSError, ValueError) as e:  # an image Pillow opened but could not convert
        return f"{type(e).__name__}: {e}"
    for name, data, mime in files:
        pages.write_file(dest, name, data, mime)
    return None


def _existing(folder: str) -> set:
    return {p for p, _ in fileio.list_files(folder)} if fileio.is_dir(folder) else set()


def add_thumbnails(dest: str, entries: list[dict], threads: int = DEFAULT_THREADS,
                   log: Callable[[str], None] = lambda _: None) -> dict:
    """Sets each entry's `photo_thumb` and `cutout_thumb` (or `problem`), making the thumbnails
    that do not exist yet; deletes the ones no entry uses. Returns counts."""
    review = fileio.join(dest, REVIEW_DIR)
    thumbs = fileio.join(review, THUMB_DIR)
    existing = _existing(thumbs)
    wanted, todo = set(), []
    for entry in entries:
        names = thumb_names(entry)
        paths = tuple(fileio.join(review, *n.split("/")) for n in names)
        wanted.update(paths)
        entry["photo_thumb"], entry["cutout_thumb"] = names
        if not all(p in existing for p in paths):
            todo.append(entry)
    if todo:
        log(f"review: making thumbnails of {len(todo)} outputs ({len(entries) - len(todo)} "
            "reused)")
    started, made = time.monotonic(), 0
    with concurrent.futures.ThreadPoolExecutor(max(1, threads)) as pool:
        for entry, problem in zip(todo, pool.map(lambda e: _thumbnail_job(dest, e),
                                                  todo)):
            made += problem is None
            if problem:
                entry["problem"] = problem
                entry["photo_thumb"] = entry["cutout_thumb"] = None
                wanted.difference_update(fileio.join(review, *n.split("/"))
                                         for n in thumb_names(entry))
    stale = sorted(existing - wanted)
    if stale:
        FileSystems.delete(stale)
    return {"thumbnails_made": made, "thumbnails_reused": len(entries) - len(todo),
            "thumbnail_problems": len(todo) - made, "thumbnails_deleted": len(stale),
            "thumbnail_seconds": round(time.monotonic() - started, 1)}


# ---------------------------------------------------------------------------------------------
# The page

def page_data_name(number: int) -> str:
    return f"{DATA_DIR}/{number:05d}.js"


def _entry_data(entry: dict) -> dict:
    return {"c": round(entry["confidence"], 4), "in": entry["input"], "out": entry["output"],
            "p": entry.get("photo_thumb"), "t": entry.get("cutout_thumb"),
            "why": entry.get("problem")}


def page_script(number: int, entries: Sequence[dict]) -> bytes:
    data = {"page": number, "entries": [_entry_data(e) for e in entries]}
    return f"cutoutReview.show({json.dumps(data)});\n".encode("utf-8")


_CSS = (
    "#entries{display:grid;grid-template-columns:repeat(auto-fill,minmax(360px,1fr));gap:12px}"
    ".entry{border:1px solid #ddd;border-radius:6px;padding:8px;margin:0}"
    ".pair{display:flex;gap:8px}.pair>div{width:160px;height:160px;display:flex;"
    "align-items:center;justify-content:center;border:1px solid #eee}"
    ".pair img{width:160px;height:160px;object-fit:contain}"
    "figcaption{font-size:12px;margin-top:6px;word-break:break-all}.conf{font-weight:600}"
    ".bar{height:4px;background:#eee;margin:4px 0}"
    ".bar>span{display:block;height:4px;background:#d33}.pager{margin:12px 0}"
    ".pager button{font-size:14px;padding:3px 10px}.problem{color:#a00;font-size:12px;"
    "padding:6px}")

_SCRIPT = r"""
const META = __META__;
const view = document.getElementById('entries');
const where = document.querySelectorAll('.where');
function pageWanted() {
  const m = location.hash.match(/page=(\d+)/);
  const n = m ? parseInt(m[1], 10) : 1;
  return Math.min(Math.max(n, 1), Math.max(META.pages, 1));
}
function link(path) { return path.split('/').map(encodeURIComponent).join('/'); }
function el(tag, cls, text) {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text !== undefined) e.textContent = text;
  return e;
}
function picture(src, alt, checker, why) {
  const box = el('div', checker ? 'checker' : '');
  if (src) { const img = el('img'); img.src = link(src); img.alt = alt; box.appendChild(img); }
  else { box.appendChild(el('span', 'problem', why || 'no picture')); }
  return box;
}
window.cutoutReview = {
  show(data) {
    if (data.page !== pageWanted()) return;
    view.textContent = '';
    data.entries.forEach((e, i) => {
      const fig = el('figure', 'entry');
      const pair = el('div', 'pair');
      pair.appendChild(picture(e.p, 'photo', false, e.why));
      pair.appendChild(picture(e.t, 'cut-out', true, e.why));
      fig.appendChild(pair);
      const cap = el('figcaption');
      const rank = (data.page - 1) * META.page_size + i + 1;
      cap.appendChild(el('span', 'conf', '#' + rank + ' confidence ' + e.c.toFixed(3)));
      const bar = el('div', 'bar'); const fill = el('span');
      fill.style.width = Math.round(e.c * 100) + '%'; bar.appendChild(fill); cap.appendChild(bar);
      if (e.out) {
        const a = el('a', '', e.out); a.href = '../' + link(e.out); cap.appendChild(a);
      }
      cap.appendChild(el('div', 'muted', e.in));
      fig.appendChild(cap);
      view.appendChild(fig);
    });
    where.forEach(w => { w.textContent = 'page ' + data.page + ' of ' + META.pages; });
  }
};
function load() {
  const n = pageWanted();
  where.forEach(w => { w.textContent = 'loading page ' + n + ' of ' + META.pages; });
  document.querySelectorAll('script.page-data').forEach(s => s.remove());
  const s = el('script', 'page-data');
  s.src = 'pages/' + String(n).padStart(5, '0') + '.js';
  s.onerror = () => { view.textContent = 'The data of page ' + n + ' is missing (' + s.src +
                      '): run `cutout review DEST` again.'; };
  document.head.appendChild(s);
}
function go(step) {
  location.hash = 'page=' + Math.min(Math.max(pageWanted() + step, 1), META.pages);
}
document.querySelectorAll('.prev').forEach(b => b.onclick = () => go(-1));
document.querySelectorAll('.next').forEach(b => b.onclick = () => go(1));
window.addEventListener('hashchange', load);
if (META.pages > 0) load();
"""


def render_index(total: int, page_size: int, below: Optional[float], dest: str) -> bytes:
    n_pages = math.ceil(total / page_size)
    meta = json.dumps({"total": total, "pages": n_pages, "page_size": page_size})
    which = (f"outputs with confidence under {below:g}" if below is not None
             else "outputs listed by --review_below")
    pager = ("<div class=\"pager\"><button class=\"prev\">&larr; previous</button> "
             "<span class=\"where\"></span> <button class=\"next\">next &rarr;</button></div>")
    if total:
        intro = (f"<p>{total:,} {pages.esc(which)}, lowest confidence first, {page_size} a page. "
                 "Photo on the left, cut-out on a checkerboard on the right (transparent "
                 "pixels show the squares); each caption links the full-size output.</p>")
        body = intro + pager + "<div id=\"entries\"></div>" + pager
    else:
        body = f"<p class=\"good\">Nothing to review: no {pages.esc(which)}.</p>"
    return pages.document(
        f"Review: {dest}", f"<h1>Review: {pages.esc(dest)}</h1>{body}", _CSS,
        _SCRIPT.replace("__META__", meta.replace("<", "\\u003c")) if total else "")


def write_review_page(dest: str, entries: Sequence[dict], page_size: int = PAGE_SIZE,
                      below: Optional[float] = None) -> str:
    """Writes the page's data files, then index.html (last: a page never names data that is not
    there yet); deletes data files of pages that no longer exist. Returns index.html's path."""
    review = fileio.join(dest, REVIEW_DIR)
    written = set()
    for start in range(0, len(entries), page_size):
        number = start // page_size + 1
        written.add(pages.write_file(review, page_data_name(number),
                                     page_script(number, entries[start:start + page_size]),
                                     "text/javascript"))
    remove_files(fileio.join(fileio.escape_glob(review), DATA_DIR, "*.js"), keep=written)
    return pages.write_file(review, PAGE_FILE, render_index(len(entries), page_size, below, dest),
                            pages.HTML_MIME)


def remove_review_page(dest: str) -> list:
    """Deletes the page, its data files and thumbnails (an `--overwrite` run without
    `--review_below`: the outputs they show are gone); the review lists are the index's."""
    review = fileio.join(dest, REVIEW_DIR)
    found = [p for p, _ in fileio.list_files(review)] if fileio.is_dir(review) else []
    prefixes = tuple(fileio.join(review, d) + ("/" if fileio.is_gcs(review) else os.sep)
                     for d in (DATA_DIR, THUMB_DIR))
    doomed = [p for p in found if p.startswith(prefixes) or p == fileio.join(review, PAGE_FILE)]
    if doomed:
        FileSystems.delete(doomed)
    return doomed


def build_review_page(dest: str, below: Optional[float] = None, page_size: int = PAGE_SIZE,
                      threads: int = DEFAULT_THREADS,
                      log: Callable[[str], None] = lambda _: None) -> dict:
    """The whole page for DEST: entries, thumbnails, data files, index.html. Returns counts."""
    if page_size < 1:
        raise JobError("--page_size must be at least 1")
    if below is not None and not 0 <= below <= 1:
        raise JobError("--below must lie in [0, 1] (a confidence)")
    if not fileio.is_dir(fileio.join(dest, INDEX_DIR)):
        raise JobError(f"{dest} has no index ({INDEX_DIR}/): give a DEST that "
                       "`cutout remove` wrote")
    entries = review_entries(dest, below)
    counts = add_thumbnails(dest, entries, threads, log)
    page = write_review_page(dest, entries, page_size, below)
    return {"page": page, "entries": len(entries),
            "pages": math.ceil(len(entries) / page_size), **counts}


def main(argv=None, prog: str = "cutout review") -> int:
    parser = flags.StrictParser(  # an unknown or misspelt flag: one line, exit 2 (model/flags.py)
        prog=prog,
        description="DEST's low-confidence cut-outs as a page: DEST/_review/index.html.")
    parser.add_argument("dest", metavar="DEST", help="a folder (or gs:// prefix) `cutout "
                                                     "remove` wrote")
    parser.add_argument("--below", type=float, default=None,
                        help="every output with confidence under this (default: those listed "
                             "by --review_below runs in DEST/_review/)")
    parser.add_argument("--page_size", type=int, default=PAGE_SIZE, help="entries per page")
    parser.add_argument("--threads", type=int, default=DEFAULT_THREADS,
                        help="threads making thumbnails")
    args = parser.parse_args(argv)

    def said(done: dict) -> None:
        print(f"review: {done['entries']} output{'' if done['entries'] == 1 else 's'} on "
              f"{done['pages']} page{'' if done['pages'] == 1 else 's'}: {done['page']}"
              + (f" ({done['thumbnail_problems']} shown without pictures: unreadable)"
                 if done["thumbnail_problems"] else ""), flush=True)

    return run_cli(prog, lambda: build_review_page(
        args.dest.rstrip("/"), args.below, args.page_size, args.threads,
        log=lambda line: print(line, flush=True)), said)

if __name__ == "__main__":
    sys.exit(main())

"""Remove backgrounds from any collection of images with an exported Cutout model.

Runbook
-------
    python -m pipelines.remove_background --input PATTERN_OR_FOLDER --output_dir DEST \\
        --model MODEL/export [--output cutout|mask|both] [--background COLOR] \\
        [--max_batch_size 16] [--png_compression fastest|rle|fast|default] [--max_pixels N] \\
        [--runtime openvino|openvino_bf16|savedmodel] [--max_file_bytes N] [--overwrite] \\
        [--inference_threads N] [--refine guided|none] \\
        [--review_below X] [--index_shards N] [standard Beam options]
    python -m pipelines.remove_background --input_list FILE_OR_GLOB --input_root PREFIX \\
        [--input_list_column NAME] ...
    python -m pipelines.remove_background --input ... --output_dir DEST --plan_only

Inputs: a folder or gs:// prefix (every file under it, recursively), a glob (`photos/*.jpg`,
`gs://b/in/**.png`; the root is the folder before the first wildcard) or a single file; or, with
`--input_list`, a text file of URIs, one per line (blank lines and surrounding spaces ignored;
a line that is not absolute or gs:// is taken relative to `--input_root`), or a glob of such
files (`gs://b/inventory/*.csv`: storage inventory reports arrive as many shards), each file
read by one worker in one linear pass, many files in parallel (`core/list_files.py`: any
bytes make a line, done or rejected; lines end at \\n, \\r\\n or \\r; a list file over
`--max_file_bytes` or not a regular file is refused). With `--input_list_column NAME` the list
files are CSV (optionally .gz), each with a header row naming its columns, and NAME is the
column holding the object name (a GCS inventory report's `name`, relative to `--input_root
gs://BUCKET`); its rows get the same checks as lines (a quoted field may span lines, under the
same cap), and a row that can't be parsed or is too short is `bad_list_row`, a shard whose header
lacks NAME `list_without_column`. A .gz list truncated or damaged part-way is one `read_failed`
reject naming it, the lines before the damage done. Any format Pillow reads:
JPEG, PNG (8/16-bit, palette, with alpha), WebP, GIF (first frame), TIFF, grayscale, CMYK;
EXIF orientation is applied, so cut-outs come out upright.

Writes, for each input at `<root>/<rel>.<ext>`:
- `--output cutout` (default): `DEST/<rel>.png`, RGBA at the input's full size: every original
  pixel with the predicted alpha (times the input's own alpha, when it has one). With
  `--background COLOR` (`white`, `#00ff00`, `0,255,0`) the cut-out is composited onto that colour
  instead and has no alpha.
- `--output mask`: `DEST/<rel>.png`, a single-channel PNG: the alpha the cut-out would have.
- `--output both`: `DEST/<rel>.png` (cut-out) and `DEST/<rel>.mask.png` (mask).
The alpha is the model's, upsampled to the photo and, with `--refine guided` (default), refined
with the photo as guide so its edges follow the photo's (`serving/refine.py`; `none`: plain
bilinear upsampling; README, "Refinement and confidence", says what it buys and costs).
and the bookkeeping, always under `DEST/_*` names:
- `DEST/_rejected/rejected-SSSSS-of-NNNNN.jsonl` (read every shard: `DEST/_rejected/*.jsonl`;
  one shard per 100,000 rejects, written by the workers): one JSON object per input that got no
  output in this run: `source` (the --input or --input_list value), `path` (the input URI; a name
  that is not UTF-8 with backslash escapes), `reason`, `detail`.
- `DEST/_index/<run>-SSSSS-of-NNNNN.jsonl`: one JSON line per input this run wrote outputs for:
  `input` (URI), `outputs` (names relative to DEST), `width`, `height`, `confidence` (in [0, 1]:
  how sure the model was, `serving/confidence.py`), `model`, `refine`. `<run>` is the run's
  UTC start time (names sort by time). Each run adds its own files and keeps earlier runs'; the
  index of DEST is all of them, the latest line winning per input (`index.read_index`), so an
  input skipped on a re-run keeps its line. No run deletes an index file (`--overwrite` over
  fewer inputs keeps the lines of outputs it did not redo). Outputs that a killed run left
  without a line get one from the next run (`index_recovery.py`: `"recovered": true`).
  `--index_shards N` files per run (default 1; about one per million inputs), by the workers.
- `DEST/_review/<run>-SSSSS-of-NNNNN.jsonl` (with `--review_below X`): `input`, `confidence`,
  `outputs` of this run's outputs with confidence under X: what a person should look at. The
  summary counts them (`below_review`); `--overwrite` removes earlier runs' review files (only
  names of the form `<run>-SSSSS-of-NNNNN.jsonl`). At the end of such a run the driver writes
  the review page, `DEST/_review/index.html` (`review_page.py`; `cutout review DEST` writes it
  for an existing DEST): those outputs lowest confidence first, photo beside cut-out, paged,
  with thumbnails made by the driver (a few per second per core on 1080x1440 photos). An
  `--overwrite` run without `--review_below` removes it with the lists.
- `DEST/_summary/<run>.json`: each run's counts (`inputs` = `written` + `skipped` + `rejected`,
  `rejected_by_reason`, `files_written`), its `run` name and options, kept like the index; and
  `DEST/_summary.json`, the latest run's (a copy). The summary is also printed at the end ("nothing
  to do" when every input's outputs existed: told before any worker starts when the driver can
  see it, `quick_plan.py`), and Beam counters `written`, `skipped`, `rejected` (namespace
  `remove_background`) count the same things.
- `DEST/_job.json`: the settings the outputs were made with (`output`, `background`, `model`):
  a run with other settings is refused (one line) unless `--overwrite`.
On gs:// every output object has content type image/png. Every write is atomic (a crash leaves
an output whole or absent; a local write goes through the run's own `DEST/_tmp/<run>/`, removed
when the run ends; a start-up sweeps only folders of runs provably dead, `core/dest_guard.py`).
Before any work every `_*` entry of DEST is checked: a link, or an entry not of its kind, is
refused with one line (nothing is written, created or deleted outside DEST).

`--plan_only`: list and plan, load no model, write nothing but the bookkeeping: `_summary.json`
counts `planned` (inputs a run would process) and `files_planned` beside `skipped` and
`rejected` (`--model` may be left out).

Scale: a folder or prefix (and DEST) is listed with a fan-out (pipelines/core/listing.py): its first
two levels one folder per worker, then each sub-folder by its own worker, streamed; no stage
gathers all inputs or all rejects on one worker (bench/scale_plan.py measures it).

Re-runs: DEST is listed once at the start; an input whose outputs all exist is skipped (counted,
not re-read), so a re-run after a crash finishes the rest and rewrites nothing. With
`--output both` only the missing one of the pair is written. `--overwrite` redoes everything.

Reject reasons (rejects.REASONS): `empty_file`, `not_an_image`, `undecodable` (truncated or
corrupt), `too_many_pixels` (over `--max_pixels`, default Pillow's 89,478,485: decompression
bombs), `read_failed`, `not_a_regular_file` (a pipe or device: never opened), `broken_link`,
`too_large` (over `--max_file_bytes`, default 256 MiB: checked before reading),
`output_name_collision` (two inputs would write the same output, e.g. `x.jpg` and `x.png` in one
folder: ALL of them are rejected, naming each other, and nothing is written for that name, so
no output is ever silently overwritten or of ambiguous origin; rename and re-run),
`duplicate_input` (a URI listed twice: done once), `link_outside_input` (a link to a folder
outside the input folder: not followed; links to files, and to folders inside it, are),
`unsafe_path` (`..`, `.` or empty components, or a linked folder inside DEST that leads
elsewhere: nothing lands outside DEST), `unsafe_name` (control characters, a NUL byte in a list
line), `unencodable_name`, `name_too_long` (a component over 255 bytes, a path a filesystem can't
hold, a list line over 64 KiB), `reserved_output_name` (a top-level name starting with `_`, DEST's
bookkeeping space), `outside_input_root` and `inside_output_dir` (listings only),
`inference_failed`, `write_failed`.
Folders are compared with links resolved. When DEST lies inside the input folder, everything
under DEST is left out of the inputs, so a re-run never makes cut-outs of cut-outs; DEST equal to
the input folder, or an input folder inside DEST, is refused (outputs could overwrite inputs).

Exit status: 0 when the job ran, whatever it rejected; 2 with a one-line error when it could not
run, before any work: model missing, damaged, foreign or mis-described (`serving/model_proof.py`:
checked in the launcher, a tiny batch through it), DEST not writable, of other settings or with
odd bookkeeping entries, no inputs matched, bad options; or one line and a non-zero exit when a
write fails mid-run (a full disk): the outputs written are kept and indexed by the next run.

Performance (bench/remove_background.py: 80 synthetic 1080x1440 JPEGs, U-Net 16 at 256 px, CPU,
one model thread per process): per photo on one core, model 68 ms (`--runtime openvino`; 74 with
`savedmodel`, 33 with `openvino_bf16`), PNG 12 ms (`fastest`; 66 with `rle`), draft decode +
resize 5 ms, full decode 6 ms, upsample 6 ms, refine (`--refine guided`) ~15 ms, confidence 1 ms,
compose 3 ms: ~8.6 photos per CPU-second (5.7 with the SavedModel and `rle`; Pillow's default
PNG alone costs ~470 ms a photo). Fixed costs: seconds before the first output with 2 local
worker processes (Beam imports and model load in each; the OpenVINO runtimes import no
TensorFlow), and ~10-15 s for a re-run with nothing left to do. On the local runner use
`--direct_running_mode multi_processing --direct_num_workers <cores>` (the model then gets
cores/workers threads per process); on Dataflow CPU workers (one SDK process per core) pass
`--inference_threads 1`; GPU workers take `--runtime savedmodel` and the image with TensorFlow's
GPU build (infra/). Memory per in-flight
image: its encoded bytes plus an S x S x 3 array (pipelines/serving/inference.py); a batch holds
`--max_batch_size` of them.

Code (`pipelines/remove_background/`, a one-way stack: each module imports only pipelines.core,
pipelines.serving, model and the modules listed before it): `config.py` the flags, the typed
`JobConfig` and what `--input`/`--input_list`/`--model`/`--output_dir` name (checked before
anything runs); `bookkeeping.py` counters, rejects, `_job.json` and the summary; `index.py` the
index and review lists; `inputs.py` the listing of the inputs; `output_plan.py` the plan (write,
skip or reject); `review_page.py` the review page and `cutout review`; `job.py` the inference
stage, the wiring and `run`; `__main__.py` the command.
Output names are `pipelines/serving/outputs.py`'s; the model and the per-image steps (shared with
the one-image tool) `serving/inference.py`, the refinement `serving/refine.py`, the confidence
`serving/confidence.py`.
"""

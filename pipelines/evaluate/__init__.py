"""Evaluate: score a model on a preprocessed split, or any tool's masks against ground truth.

Runbook
-------
Model mode (the exported model on a split of `pipelines.preprocess`'s output):

    python -m pipelines.evaluate --data_dir OUT --model MODEL/export --split test --report_dir R \
        [--metrics iou,mae,...] [--no_baselines] [--batch_size 16] [--sheet_rows 12] \
        [standard Beam options: --runner, --direct_num_workers, --project, ...]

Reads OUT/<split>/*.tfrecord.gz, decodes each stored image and mask with PIL, predicts with the
export's `serve_resized` signature and scores the prediction at the stored training resolution
S x S (the report says so): the shards hold images already stretched to S x S, so this is the
resolution the model was trained and validated at. A model whose own input size differs is fed
the image resized to its size and its alpha is resized back to S x S.

Folder mode (any tool's masks, at full resolution):

    python -m pipelines.evaluate --pred_dir P --gt_dir G --report_dir R \
        [--gt_encoding auto] [--pred_encoding alpha] [--metrics ...] [--no_baselines] \
        [--refine none|guided --image_dir I [--model_input_size 256]]

Pairs a prediction with its ground truth by relative path and stem: `P/a/b/x.png`, `P/a/b/x.jpg`
or `P/a/b/x.mask.png` (remove_background's `--output both`) is scored against `G/a/b/x.<any
image extension>`. A prediction is a single-channel mask (or a grey/RGB image, taken as grey) or
an RGBA cut-out, whose alpha is used (a cut-out composited onto a colour has no alpha left and
can't be scored: use remove_background's `--output mask`). Ground-truth masks are decoded with
`--gt_encoding` (default `auto`: 0/1 masks become 0/255). Nothing is resized: a prediction
whose size differs from its ground truth is reported, not scored. "Sources" are the top-level
folders of G (files directly in G belong to `(top)`). Names under P starting with `_` at the top
level (the bookkeeping of remove_background) and hidden files are skipped and counted.
`--refine guided` scores what the guided refinement of `serving/refine.py` would make of the
predictions: each is refined with its photo as guide before scoring, the photo found in
`--image_dir I` by the ground truth's relative path and stem (`I/a/b/x.<any image extension>`;
a pair without one is rejected, `missing_image`). The filter's scale follows the magnification
from a `--model_input_size` model (default 256). Default `none`: the files are scored as they
are (remove_background's own `--refine` has already been applied to its outputs). Model mode
has nothing to refine (it scores at the stored S x S) and refuses `--refine guided`.

Writes (R local or gs://; existing report files are replaced):
- R/metrics.json: `overall` and `per_source` means of every metric (keys are the metric
  functions' names in `model.metrics`), `count`, `per_source_count`, `resolution`, and
  `baselines` (`all_foreground`, `centred_ellipse`: the same metrics for trivial predictions, so a
  model that learned nothing is obvious), plus `dataset_max_f_measure` (the papers' maxF: the max
  over thresholds of the dataset-mean F curve; `max_f_measure` is the mean of per-image maxima,
  slightly higher). Folder mode adds `missing_predictions`, `unmatched_predictions`,
  `size_mismatches`, `ignored_predictions`, `ignored_ground_truth`, `skipped_files`; both modes
  list `rejected` inputs and count every reason in `rejected_counts`.
- R/per_image.csv: key, source, every metric (model mode: and `confidence`, the score
  remove_background writes to its index); one row per scored image, sorted by key.
- Model mode: `confidence` in metrics.json: how well the confidence finds the bad outputs:
  `spearman` (rank correlation of confidence and IoU over the split), `bad` (outputs with IoU
  under 0.5), `lowest_10pct` (how many outputs are the lowest-confidence 10%) and
  `bad_in_lowest_10pct_share` (the share of the bad ones among them; null without bad ones).
- R/contact_sheet.png: the worst images by IoU first (`--sheet_rows`, default 12), one row each:
  image, ground truth, prediction, cut-out on a checkerboard (folder mode, which has no images:
  ground truth, prediction, errors: red = missed foreground, blue = false foreground), with the
  key and IoU written above the row.
- R/report.html (and its pictures in R/report_files/): the page a person reads, static and
  self-contained (relative links, no network: it opens from a folder or a bucket): a sentence
  for each baseline the model does not beat, the overall and per-source tables beside the
  baselines, the worst images, confidence against IoU (model mode), and the training curves
  when MODEL (the parent of MODEL/export) has them (`evaluate/page.py`). The per-source table
  and the sentences are also printed at the end of the run.
- R/_rejected/rejected-SSSSS-of-NNNNN.jsonl (written by the workers; read them all as
  R/_rejected/*.jsonl, the layout of every job): one JSON object per input that was not scored
  (`rejects.record`: `source`, `path`, `reason`, `detail`, plus `key`, and `prediction` /
  `ground_truth` in folder mode).
  Nothing is dropped silently: a colour ground truth is `gt_not_grayscale`, a composited
  cut-out `no_alpha`, a batch the model failed on `inference_failed` (the job goes on), a
  truncated shard `damaged_shard` (its records before the damage are scored); files are read
  only when regular (pipes, devices, broken links and names that are not UTF-8 are rejects) and
  at most `--max_file_bytes`. `--report_dir` may not overlap `--pred_dir`/`--gt_dir` (links
  resolved).

Exit status 0 when the job scored something (rejects are data); 2 with a one-line message when
it could not (missing data dir or manifest, no shards for the split, model missing or damaged,
nothing scored). Time, per core: start-up ~10 s (TensorFlow); then per image the model's
forward pass (~0.2 s for a 16-filter U-Net at 320 px) plus the metrics: all thirteen take ~0.06 s
at 320 px and ~0.9 s at 1080x1440, three times that with the baselines (`--no_baselines`, or
fewer `--metrics`, when that matters: in folder mode the full-resolution metrics dominate).

Code (`pipelines/evaluate/`, a one-way stack: each module imports only pipelines.core,
pipelines.serving, model and the modules listed before it): `config.py` the flags, the two
modes and the typed `Config`; `pairing.py` folder mode's matching of predictions to ground
truth; `contact_sheet.py` the thumbnails and the sheet; `scoring.py` the per-image work (decode,
score, the model handler); `page.py` report.html and the printed summary; `report.py`
metrics.json, per_image.csv and the sheet; `job.py` the composites, the checks before any work
and `run`; `__main__.py` the command.
"""

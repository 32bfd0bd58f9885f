"""One failure vocabulary for every job: what a reject is, the reasons, and the text of a reject.

- `Rejected(reason, detail)`: "this entry is rejected, with this reason". Raised by the per-entry
  steps (decoding, naming, reading); a DoFn turns it into a record on its dead-letter output.
- `record(source, path, reason, detail)`: the reject record every job writes, one JSON object a
  line: `source`, `path`, `reason`, `detail` (+ job-specific extras). The reason must be one of
  `REASONS`, so the README's table (tested against this module) can't drift from the code.
- `JobError`: "this job can't run" (bad options, missing inputs, a destination it may not write):
  every `main` turns it into one line on stderr and exit status 2, before any work. It is
  model/errors.py's class, re-exported: the pipelines and training raise the same one.
- `json_line`, `shard_of`, `shard_name`, `shard_text`: the text of a reject file (one JSON object a
  line, sorted keys), and which shard a line goes to.
- `REJECTS_FOLDER`: every job writes its rejects as `<its output folder>/_rejected/*.jsonl`,
  sharded and written by the workers (`pipelines/core/reject_io.py`, `WriteJobRejects`).
This module is the vocabulary only (no Beam): the writers are in `pipelines/core/reject_io.py`.
"""
from __future__ import annotations

import json
import zlib
from typing import Iterable

from model.errors import JobError  # noqa: F401 (re-exported: the one "this job can't run")

REJECTS_FOLDER = "_rejected"   # <OUT>/_rejected/rejected-SSSSS-of-NNNNN.jsonl, in every job
REJECTS_PREFIX = "rejected"

# reason -> what it means. Grouped by where it arises; a job uses the reasons its inputs can meet.
REASONS = {
    # Reading an entry (every job)
    "empty_file": "the file has no bytes",
    "too_large": "the file (or archive member) is larger than --max_file_bytes",
    "not_a_regular_file": "a FIFO, device, socket or folder where a file was expected",
    "broken_link": "a symbolic link whose target is missing, or a link loop",
    "link_member": "a symbolic or hard link, FIFO or device inside a tar archive",
    "unencodable_name": "the file name is not valid UTF-8",
    "link_outside_input": "a link to a folder outside the input folder: not followed",
    "read_failed": "the file could not be read",
    "mask_too_large": "preprocess: the image's mask is larger than --max_file_bytes",
    "mask_read_failed": "preprocess: the image's mask could not be read",
    # Decoding an image or mask
    "not_an_image": "not an image format Pillow can read",
    "undecodable": "the image is truncated or corrupt",
    "too_many_pixels": "more pixels than --max_pixels (a decompression bomb)",
    "mask_empty_file": "preprocess: the image's mask has no bytes",
    "mask_not_an_image": "preprocess: the image's mask is not an image format Pillow can read",
    "mask_undecodable": "preprocess: the image's mask is truncated or corrupt",
    "mask_too_many_pixels": "preprocess: the image's mask has more pixels than Pillow's limit",
    "mask_not_grayscale": "preprocess: a mask in colour, or carried in an alpha channel",
    # Preprocess: pairing and validation
    "no_mask": "an image with no mask",
    "mask_without_image": "a mask with no image",
    "ambiguous_stem": "two images share a stem in one folder; the first was used",
    "ambiguous_mask": "two masks share a stem in one folder; the first was used",
    "outside_layout": "an image outside the dataset layout's folders",
    "mask_size_mismatch": "the mask's aspect ratio differs from the image's",
    "bad_mask_values": "mask values outside what the dataset's encoding allows",
    "noncam": "skipped on purpose: a COD-10K NonCAM image (--keep_noncam keeps them)",
    "duplicate": "skipped on purpose: a byte-identical copy of an image kept elsewhere",
    # Background removal: naming and planning
    "unsafe_name": "a relative name with '..', an absolute part or a control character",
    "unsafe_path": "the output would resolve outside the output folder",
    "name_too_long": "a name component or path longer than the filesystem allows",
    "bad_name": "the input's name can't be turned into an output name",
    "bad_list_row": "a CSV list row that can't be parsed, or too short to hold the column",
    "list_without_column": "a CSV list file whose header lacks --input_list_column",
    "outside_input_root": "the input does not lie under --input_root",
    "inside_output_dir": "the input lies inside the output folder",
    "reserved_output_name": "the output name would start with '_' at the top (bookkeeping)",
    "output_name_collision": "two inputs map to one output name (x.jpg and x.png)",
    "duplicate_input": "listed more than once; done once",
    "inference_failed": "the model failed on the batch holding this input",
    "write_failed": "the output could not be written",
    # Evaluate
    "unparseable_example": "a shard record that is not a valid example",
    "incomplete_example": "an example missing a required feature",
    "prediction_not_finite": "the model's prediction holds NaN or infinity",
    "scoring_failed": "a metric failed on this image",
    "missing_prediction": "a ground truth with no prediction",
    "unmatched_prediction": "a prediction with no ground truth",
    "size_mismatch": "prediction and ground truth differ in size",
    "ignored_prediction": "a second prediction for one ground truth; the preferred one was used",
    "ignored_ground_truth": "a second ground truth for one stem; the first was used",
    "gt_not_grayscale": "a ground truth in colour, or carried in an alpha channel",
    "missing_image": "evaluate --refine guided: no photo under --image_dir for this ground truth",
    "no_alpha": "a cut-out composited onto a colour: it has no alpha to score",
    "damaged_shard": "a truncated or corrupt shard: its records from the damage on are lost",
}


class Rejected(ValueError):
    """This entry is rejected, with this reason (a key of REASONS) and a human detail."""

    def __init__(self, reason: str, detail: str = ""):
        if reason not in REASONS:
            raise KeyError(f"unknown reject reason {reason!r}: add it to "
                           "pipelines.core.rejects.REASONS")
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason
        self.detail = detail


def record(source: str, path: str, reason: str, detail: str = "", **extra) -> dict:
    """A reject record. `path` may hold surrogate escapes (an undecodable local name)."""
    if reason not in REASONS:
        raise KeyError(f"unknown reject reason {reason!r}: add it to "
                       "pipelines.core.rejects.REASONS")
    return {"source": source, "path": path, "reason": reason, "detail": detail, **extra}


def from_exception(source: str, path: str, error: BaseException, default_reason: str,
                   **extra) -> dict:
    """A failure as a record: a Rejected keeps its reason and detail; anything else is
    `default_reason` with the exception's type and text."""
    if isinstance(error, Rejected):
        return record(source, path, error.reason, error.detail, **extra)
    return record(source, path, default_reason, f"{type(error).__name__}: {error}", **extra)


def printable(value):
    """Surrogate escapes (undecodable file names) as backslash escapes, so JSON stays UTF-8."""
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return value.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
        return value
    if isinstance(value, dict):
        return {k: printable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [printable(v) for v in value]
    return value


def json_line(rec: dict) -> str:
    """One record as one JSON line (sorted keys: the files are byte-identical across runs)."""
    return json.dumps(printable(rec), sort_keys=True)


def shard_of(line: str, num_shards: int) -> int:
    """A stable shard for a line (crc32: the same on every worker and every run)."""
    return zlib.crc32(line.encode("utf-8")) % num_shards


def shard_name(prefix: str, index: int, num_shards: int) -> str:
    return f"{prefix}-{index:05d}-of-{num_shards:05d}.jsonl"


def shard_text(lines: Iterable[str]) -> bytes:
    return "".join(line + "\n" for line in sorted(lines)).encode("utf-8")


def reasons_table() -> str:
    """The README's table of reasons (a test keeps the README equal to it)."""
    rows = ["| reason | meaning |", "|---|---|"]
    rows += [f"| `{name}` | {meaning} |" for name, meaning in REASONS.items()]
    return "\n".join(rows)

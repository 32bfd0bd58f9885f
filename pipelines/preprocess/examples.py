"""Stage 2 of preprocess: each image/mask pair -> one serialized example (`model/schema.py`).

`make_example` is the per-image work, pure and testable without Beam: decode (EXIF, CMYK,
grayscale, 16-bit), check the mask, stretch both to the square, encode. Byte-identical images are
kept once, the copy in test or else val surviving, so nothing leaks into training.
"""
from __future__ import annotations

import dataclasses
import hashlib
import apache_beam as beam
import numpy as np

from model import schema, transform
from pipelines.core import imaging, progress, rejects
from pipelines.preprocess import containers, sources
from pipelines.preprocess.pairing import Pair
from pipelines.preprocess.config import Config

SPLIT_PRIORITY = {"test": 0, "val": 1, "train": 2}  # which copy of a duplicate survives


@dataclasses.dataclass(frozen=True)
class Processed:
    key: str
    source: str
    split: str
    path: str
    example: bytes
    stats: dict | None
    quirks: tuple


class MakeExamples(beam.PTransform):
    """Pairs -> {'examples': Processed, 'rejected': dicts}: spreads the pairs over workers,
    decodes, validates, resizes and encodes each, and keeps one copy of identical images."""

    def __init__(self, config: Config, tracker: progress.Tracker | None = None):
        super().__init__()
        self._config = config
        self._tracker = tracker

    def expand(self, pairs):
        processed = (pairs
                     | "Spread" >> beam.Reshuffle()
                     | "Process" >> beam.ParDo(_ProcessPair(self._config)).with_outputs(
                         "rejected", main="processed"))
        # Counted in the stage that does the work: local progress lines (core/progress.py).
        progress.count(self._tracker, progress.DONE, "ProgressDone", processed.processed,
                       processed.rejected)
        kept = (processed.processed
                | "GroupByContent" >> beam.GroupByKey()
                | "KeepOneCopy" >> beam.ParDo(_KeepOneCopy()).with_outputs(
                    "rejected", main="examples"))
        rejected = (processed.rejected, kept.rejected) | "Rejects" >> beam.Flatten()
        return {"examples": kept.examples, "rejected": rejected}


def make_example(pair: Pair, image_bytes: bytes, mask_bytes: bytes | None, config: Config,
                 mask_encoding: str) -> tuple[bytes, np.ndarray, tuple]:
    """The per-image work, pure: -> (serialized example, resized RGB array, quirks).
    Raises Rejected with a reason for anything that can't become an example (a mask's
    failure named as the image's, `mask_...`)."""
    size = config.image_size
    img = imaging.open_image(image_bytes, max_pixels=config.max_pixels, draft_size=size)
    quirks = []
    if img.info.get("cutout_orientation", 1) != 1:
        quirks.append("exif_rotated")
    if img.mode in ("L", "LA", "I;16", "I"):
        quirks.append("grayscale")
    elif img.mode == "CMYK":
        quirks.append("cmyk")
    width, height = img.info["cutout_original_size"]
    rgb, _ = imaging.split_rgb_alpha(img)
    if mask_bytes is None:
        if not pair.empty_mask_allowed:
            raise rejects.Rejected("no_mask", "no mask with the image's stem")
        mask = None
        quirks.append("empty_mask")
    else:
        try:
            mask = imaging.decode_mask(mask_bytes, mask_encoding)
        except rejects.Rejected as e:
            raise rejects.Rejected(*mask_failure(e.reason, e.detail)) from None
        if mask.size != (width, height):
            mask_ratio, image_ratio = mask.size[0] / mask.size[1], width / height
            if abs(mask_ratio - image_ratio) > 0.02 * image_ratio:
                raise rejects.Rejected(
                    "mask_size_mismatch",
                    f"mask {mask.size[0]}x{mask.size[1]} vs image {width}x{height}")
            quirks.append("mask_resized")
    small = np.asarray(imaging.resize_square(rgb, size))
    if mask is None:
        small_mask = np.zeros((size, size), np.uint8)
    else:
        small_mask = np.asarray(imaging.resize_square(mask, size))
    from PIL import Image

    example = schema.make_example(
        key=pair.key, source=pair.source,
        image_jpeg=imaging.encode_jpeg(Image.fromarray(small, "RGB"), config.jpeg_quality),
        mask_png=imaging.encode_png(Image.fromarray(small_mask, "L"), "fast"),
        orig_height=height, orig_width=width, image_size=size)
    return example, small, tuple(quirks)


def mask_failure(reason: str, detail: str) -> tuple[str, str]:
    """A mask's failure as the reason and detail of its image's reject: `mask_<reason>` where
    REASONS names one, else `mask_read_failed` with the mask's own reason in the detail."""
    if "mask" in reason:  # already about the mask (bad_mask_values)
        return reason, detail
    if f"mask_{reason}" in rejects.REASONS:
        return f"mask_{reason}", detail
    return "mask_read_failed", f"{reason}: {detail}" if detail else reason


class _ProcessPair(beam.DoFn):
    """Pair -> (content hash, Processed), or a reject with the reason."""

    def __init__(self, config: Config):
        self._config = config

    def setup(self):
        self._reader = containers.MemberReader(max_bytes=self._config.max_file_bytes)

    def teardown(self):
        self._reader.close()

    def process(self, pair: Pair):
        layout = sources.layout_for(pair.kind, self._config.keep_noncam)
        try:
            image_bytes, mask_bytes = self._read(pair)
            example, small, quirks = make_example(pair, image_bytes, mask_bytes, self._config,
                                                  layout.mask_encoding)
        except rejects.Rejected as e:
            yield beam.pvalue.TaggedOutput("rejected", rejects.record(
                pair.source, pair.image.uri, e.reason, e.detail))
            return
        stats = transform.image_statistics(small) if pair.split == "train" else None
        digest = hashlib.sha256(image_bytes).hexdigest()
        yield digest, Processed(key=pair.key, source=pair.source, split=pair.split,
                                path=pair.image.uri, example=example, stats=stats, quirks=quirks)

    def _read(self, pair: Pair) -> tuple[bytes, bytes | None]:
        """The pair's bytes, every read capped. Raises Rejected: an unreadable member is one bad
        input, not a failed job; a mask's failure is named `mask_...`."""
        image_bytes = self._read_member(pair.image)
        if pair.mask is None:
            return image_bytes, None
        try:
            return image_bytes, self._read_member(pair.mask)
        except rejects.Rejected as e:
            raise rejects.Rejected(*mask_failure(e.reason, e.detail)) from None

    def _read_member(self, member) -> bytes:
        try:
            return self._reader.read(member)
        except rejects.Rejected:
            raise
        except Exception as e:  # noqa: BLE001 (storage errors, a corrupt archive member)
            raise rejects.Rejected("read_failed", f"{type(e).__name__}: {e}") from None


class _KeepOneCopy(beam.DoFn):
    """Byte-identical images: the copy in test, else val, survives, so nothing leaks into train."""

    def process(self, element):
        _, copies = element
        copies = sorted(copies, key=lambda c: (SPLIT_PRIORITY[c.split], c.key))
        yield copies[0]
        for dup in copies[1:]:
            yield beam.pvalue.TaggedOutput("rejected", rejects.record(
                dup.source, dup.path, "duplicate", f"same bytes as {copies[0].key}"))

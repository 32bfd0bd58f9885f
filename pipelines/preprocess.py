"""Preprocess: raw dataset archives -> sharded TFRecords + a tf.Transform analysis.

Runbook
-------
    python -m pipelines.preprocess --source p3m10k=P3M-10k.zip --source cod10k=COD10K-v3.tar.gz \
        --source people_seg=people_segmentation/ --source folder:mine=gs://bucket/my_set \
        --output_dir OUT [--image_size 320] [--val_fraction 0.1] [--test_fraction 0.1] \
        [--keep_noncam] [standard Beam options: --runner, --direct_num_workers, --project, ...]

Writes (OUT must be empty or absent, local or gs://):
- OUT/{train,val,test}/<split>-NNNNN-of-MMMMM.tfrecord.gz: examples as in `model/schema.py`
  (RGB JPEG and single-channel PNG alpha, both stretched to image_size square), sharded at about
  `--shard_mb` MB each.
- OUT/transform/: the tf.Transform analysis of the training split (per-channel pixel mean and std).
- OUT/rejected/rejected-00000-of-00001.jsonl: one line per input image that did not become an
  example ({source, path, reason, detail}): bad inputs, and those left out on purpose (COD NonCAM,
  duplicates). OUT/manifest.json: counts per source and split, per reason, per quirk, and the
  run's options. The manifest is written last: a folder without it is an unfinished run.
With no --runner it runs locally and offline. About 3-6 ms per image per core for typical photos
(a few hundred synthetic pairs take under a minute here, most of it start-up and the analysis);
on Dataflow, P3M-10K + COD-10K (~16K pairs) take minutes with a few workers.
"""
from __future__ import annotations

if __name__ == "__main__":
    # `python -m pipelines.preprocess`: run the module under its real name before anything is
    # defined here, so elements pickle as pipelines.preprocess.* (importable by worker
    # processes), never as __main__.*.
    import sys

    from pipelines.preprocess import main

    sys.exit(main())

import dataclasses
import gzip
import hashlib
import json
import logging
import math
import sys
import tempfile

import apache_beam as beam
import numpy as np
from apache_beam.metrics import Metrics
from apache_beam.options.pipeline_options import GoogleCloudOptions, PipelineOptions, TestOptions

from model import schema, transform
from pipelines import fileio, imaging, sources, tfrecord
from pipelines.analysis import AnalyzeNormalization
from pipelines.options import (job_view, make_pipeline, require_reachable, run_job_cli,
                               shares_local_disk)

SKIP_REASONS = ("noncam", "duplicate")  # left out on purpose; every other reason is a rejection
SPLIT_PRIORITY = {"test": 0, "val": 1, "train": 2}  # which copy of a duplicate survives
NAMESPACE = "preprocess"


class PreprocessOptions(PipelineOptions):
    @classmethod
    def _add_argparse_args(cls, parser):
        parser.add_argument("--source", action="append", default=None,
                            help="KIND=PATH (KIND: p3m10k, cod10k, people_seg, folder) or "
                                 "folder:NAME=PATH; repeat for several sources")
        parser.add_argument("--image_size", type=int, default=320)
        parser.add_argument("--val_fraction", type=float, default=0.1,
                            help="share of hash-split examples for val (where the dataset has "
                                 "no val split of its own)")
        parser.add_argument("--test_fraction", type=float, default=0.1)
        parser.add_argument("--keep_noncam", action="store_true", default=False,
                            help="keep COD-10K NonCAM images as empty-mask negatives")
        parser.add_argument("--jpeg_quality", type=int, default=95)
        parser.add_argument("--shard_mb", type=float, default=150.0)


@dataclasses.dataclass(frozen=True)
class Config:
    sources: tuple
    output_dir: str
    image_size: int = 320
    val_fraction: float = 0.1
    test_fraction: float = 0.1
    keep_noncam: bool = False
    jpeg_quality: int = 95
    shard_mb: float = 150.0
    max_pixels: int = imaging.DEFAULT_MAX_PIXELS

    @classmethod
    def from_options(cls, opts) -> "Config":
        """From `options.job_view(options, PreprocessOptions)` (--output_dir, --max_pixels are
        shared flags)."""
        if not opts.source:
            raise ValueError("give at least one --source KIND=PATH")
        if not opts.output_dir:
            raise ValueError("--output_dir is required")
        specs = tuple(sources.parse_source(s) for s in opts.source)
        names = [s.name for s in specs]
        clashes = sorted({n for n in names if names.count(n) > 1})
        if clashes:
            raise ValueError(f"two sources share the name {clashes[0]!r}: name folder sources "
                             "with folder:NAME=PATH")
        config = cls(sources=specs, output_dir=opts.output_dir.rstrip("/"),
                     image_size=opts.image_size, val_fraction=opts.val_fraction,
                     test_fraction=opts.test_fraction, keep_noncam=opts.keep_noncam,
                     jpeg_quality=opts.jpeg_quality, shard_mb=opts.shard_mb,
                     max_pixels=opts.max_pixels)
        config.validate()
        return config

    def validate(self) -> None:
        if not 16 <= self.image_size <= 2048:
            raise ValueError(f"--image_size {self.image_size} is outside 16..2048")
        for name in ("val_fraction", "test_fraction"):
            value = getattr(self, name)
            if not 0.0 <= value < 1.0:
                raise ValueError(f"--{name} {value} must be in [0, 1)")
        if self.val_fraction + self.test_fraction >= 1.0:
            raise ValueError("--val_fraction + --test_fraction must leave room for train")
        if not 1 <= self.jpeg_quality <= 100:
            raise ValueError("--jpeg_quality must be in 1..100")
        for spec in self.sources:
            is_folder = fileio.is_dir(spec.path)
            if not is_folder and not fileio.exists(spec.path):
                raise ValueError(f"source {spec.name}: {spec.path} does not exist")
            if not is_folder and sources.container_kind(spec.path) == "folder":
                raise ValueError(f"source {spec.name}: {spec.path} is a file but not a supported "
                                 f"archive ({', '.join(sources.ARCHIVE_SUFFIXES)}) nor a folder")
        if self.shard_mb <= 0:
            raise ValueError("--shard_mb must be > 0")

    def as_dict(self) -> dict:
        d = dataclasses.asdict(self)
        d["sources"] = [dataclasses.asdict(s) for s in self.sources]
        return d


def reject(source: str, path: str, reason: str, detail: str = "") -> dict:
    return {"source": source, "path": path, "reason": reason, "detail": detail}


# --- Stage 1: list members and classify them --------------------------------------------------

class _ExpandSource(beam.DoFn):
    """One source -> ('member', (pair_key, (role, member))), ('split_list', ...), ('ignored', ...)."""

    def __init__(self, keep_noncam: bool):
        self._keep_noncam = keep_noncam

    def process(self, spec):
        layout = sources.layout_for(spec.kind, self._keep_noncam)

        def wanted(name):
            return not sources.is_junk(name) and layout.classify(name) is not None

        reader = sources.MemberReader()
        try:
            for member in sources.list_members(spec, wanted=wanted):
                if sources.is_junk(member.name):
                    yield beam.pvalue.TaggedOutput("ignored", ("junk", member.uri))
                    continue
                role = layout.classify(member.name)
                if role is None:
                    if layout.is_auxiliary(member.name):
                        yield beam.pvalue.TaggedOutput("ignored", ("auxiliary", member.uri))
                    elif member.name.lower().endswith(sources.IMAGE_EXTENSIONS):
                        # An image where the layout reads none: listed, so nothing vanishes.
                        yield beam.pvalue.TaggedOutput("rejected", reject(
                            spec.name, member.uri, "outside_layout",
                            f"not in a folder the {spec.kind} layout reads"))
                    else:
                        yield beam.pvalue.TaggedOutput("ignored", ("not_an_image", member.uri))
                elif role.kind == "split_list":
                    stems = reader.read(member).decode("utf-8", "replace").split()
                    group_id = (spec.name, member.container, role.root)
                    yield beam.pvalue.TaggedOutput(
                        "split_list", (group_id, {posixpath_stem(s): role.stem for s in stems}))
                else:
                    pair_key = (spec.name, member.container, role.root, role.group, role.stem)
                    yield pair_key, (spec.kind, role, member)
        finally:
            reader.close()


def posixpath_stem(text: str) -> str:
    base = text.strip().rsplit("/", 1)[-1]
    return base.rsplit(".", 1)[0] if "." in base else base


def _merge_dicts(dicts):
    merged = {}
    for d in dicts:
        merged.update(d)
    return merged


@dataclasses.dataclass(frozen=True)
class Pair:
    key: str
    source: str
    kind: str
    split: str
    image: sources.Member
    mask: sources.Member | None
    empty_mask_allowed: bool


class _MakePairs(beam.DoFn):
    """(pair_key, [(kind, role, member), ...]) -> Pair, or rejects for what can't pair."""

    def __init__(self, config: Config):
        self._config = config

    def process(self, element, split_lists):
        (source, container, root, _group, _stem), entries = element
        entries = sorted(entries, key=lambda e: e[2].name)
        kind = entries[0][0]
        layout = sources.layout_for(kind, self._config.keep_noncam)
        images = [(r, m) for _, r, m in entries if r.kind == "image"]
        masks = [(r, m) for _, r, m in entries if r.kind == "mask"]
        # A .png mask is preferred over other formats of the same stem; the rest are reported.
        masks.sort(key=lambda rm: (not rm[1].name.lower().endswith(".png"), rm[1].name))
        if not images:
            for _, m in masks:
                yield beam.pvalue.TaggedOutput(
                    "rejected", reject(source, m.uri, "mask_without_image"))
            return
        (role, image), extra_images = images[0], images[1:]
        for _, other in extra_images:
            yield beam.pvalue.TaggedOutput("rejected", reject(
                source, other.uri, "ambiguous_stem", f"{image.name} has the same stem"))
        for _, other in masks[1:]:
            yield beam.pvalue.TaggedOutput("rejected", reject(
                source, other.uri, "ambiguous_mask", f"{masks[0][1].name} was used"))
        reason = layout.skip_reason(role)
        if reason:
            yield beam.pvalue.TaggedOutput("rejected", reject(source, image.uri, reason))
            return
        key = f"{source}/{role.relpath}"
        listed = split_lists.get((source, container, role.root), {})
        split = layout.split_for(role, key, listed, self._config.val_fraction,
                                 self._config.test_fraction)
        yield Pair(key=key, source=source, kind=kind, split=split, image=image,
                   mask=masks[0][1] if masks else None,
                   empty_mask_allowed=layout.empty_mask_allowed(role))


# --- Stage 2: decode, validate, resize, encode ------------------------------------------------

@dataclasses.dataclass(frozen=True)
class Processed:
    key: str
    source: str
    split: str
    path: str
    example: bytes
    stats: dict | None
    quirks: tuple


def make_example(pair: Pair, image_bytes: bytes, mask_bytes: bytes | None, config: Config,
                 mask_encoding: str) -> tuple[bytes, np.ndarray, tuple]:
    """The per-image work, pure: -> (serialized example, resized RGB array, quirks).
    Raises ImageError with a reason for anything that can't become an example."""
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
            raise imaging.ImageError("no_mask", "no mask with the image's stem")
        mask = None
        quirks.append("empty_mask")
    else:
        try:
            mask = imaging.decode_mask(mask_bytes, mask_encoding)
        except imaging.ImageError as e:
            raise imaging.ImageError(f"mask_{e.reason}", e.detail) from None
        if mask.size != (width, height):
            mask_ratio, image_ratio = mask.size[0] / mask.size[1], width / height
            if abs(mask_ratio - image_ratio) > 0.02 * image_ratio:
                raise imaging.ImageError(
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


class _ProcessPair(beam.DoFn):
    """Pair -> (content hash, Processed), or a reject with the reason."""

    def __init__(self, config: Config):
        self._config = config

    def setup(self):
        self._reader = sources.MemberReader()

    def teardown(self):
        self._reader.close()

    def process(self, pair: Pair):
        try:
            image_bytes = self._reader.read(pair.image)
            mask_bytes = self._reader.read(pair.mask) if pair.mask else None
        except Exception as e:  # an unreadable member is one bad input, not a failed job
            yield beam.pvalue.TaggedOutput("rejected", reject(
                pair.source, pair.image.uri, "unreadable", f"{type(e).__name__}: {e}"))
            return
        layout = sources.layout_for(pair.kind, self._config.keep_noncam)
        try:
            example, small, quirks = make_example(pair, image_bytes, mask_bytes, self._config,
                                                  layout.mask_encoding)
        except imaging.ImageError as e:
            yield beam.pvalue.TaggedOutput(
                "rejected", reject(pair.source, pair.image.uri, e.reason, e.detail))
            return
        stats = transform.image_statistics(small) if pair.split == "train" else None
        digest = hashlib.sha256(image_bytes).hexdigest()
        yield digest, Processed(key=pair.key, source=pair.source, split=pair.split,
                                path=pair.image.uri, example=example, stats=stats, quirks=quirks)


class _KeepOneCopy(beam.DoFn):
    """Byte-identical images: the copy in test, else val, survives, so nothing leaks into train."""

    def process(self, element):
        _, copies = element
        copies = sorted(copies, key=lambda c: (SPLIT_PRIORITY[c.split], c.key))
        yield copies[0]
        for dup in copies[1:]:
            yield beam.pvalue.TaggedOutput("rejected", reject(
                dup.source, dup.path, "duplicate", f"same bytes as {copies[0].key}"))


# --- Stage 3: write ---------------------------------------------------------------------------

def shard_name(split: str, index: int, count: int) -> str:
    return f"{split}-{index:05d}-of-{count:05d}{schema.SHARD_SUFFIX}"


class WriteShards(beam.PTransform):
    """Processed examples -> OUT/<split>/*.tfrecord.gz, about `shard_mb` each, written atomically.
    The shard count is computed from the bytes actually produced (WriteToTFRecord can't)."""

    def __init__(self, output_dir: str, shard_mb: float):
        super().__init__()
        self._output_dir = output_dir
        self._shard_bytes = shard_mb * 1e6

    def expand(self, examples):
        shard_bytes = self._shard_bytes
        totals = (examples
                  | "SizeBySplit" >> beam.Map(lambda e: (e.split, len(e.example)))
                  | "SumBySplit" >> beam.CombinePerKey(sum))

        def assign(e, totals):
            count = max(1, math.ceil(totals[e.split] / shard_bytes))
            index = min(count - 1, int(sources.hash_fraction(e.key) * count))
            return (e.split, index, count), (e.key, e.example)

        return (examples
                | "AssignShard" >> beam.Map(assign, totals=beam.pvalue.AsDict(totals))
                | "GroupShard" >> beam.GroupByKey()
                | "WriteShard" >> beam.ParDo(_WriteShard(self._output_dir)))


class _WriteShard(beam.DoFn):
    def __init__(self, output_dir: str):
        self._output_dir = output_dir
        self._written = Metrics.counter(NAMESPACE, "written")

    def process(self, element):
        (split, index, count), records = element
        records = sorted(records)
        body = b"".join(tfrecord.frame(example) for _, example in records)
        path = fileio.join(self._output_dir, split, shard_name(split, index, count))
        fileio.write_bytes(path, gzip.compress(body, compresslevel=6, mtime=0))
        self._written.inc(len(records))
        yield split, path, len(records)


class _WriteRejects(beam.DoFn):
    def __init__(self, output_dir: str):
        self._output_dir = output_dir

    def process(self, element):
        _, lines = element
        path = fileio.join(self._output_dir, "rejected", "rejected-00000-of-00001.jsonl")
        fileio.write_bytes(path, ("\n".join(sorted(lines)) + "\n").encode("utf-8"))
        yield path


def _tally(kind: str, *names) -> tuple:
    return (kind,) + tuple(names)


class _WriteManifest(beam.DoFn):
    def __init__(self, config: Config):
        self._config = config

    def process(self, _, tallies, shards, rejects_written, transform_written):
        counts, totals, rejected, skipped, ignored, quirks = {}, {}, {}, {}, {}, {}
        for key, n in tallies:
            kind = key[0]
            if kind == "example":
                _, source, split = key
                counts.setdefault(source, {s: 0 for s in schema.SPLITS})[split] += n
                totals[split] = totals.get(split, 0) + n
            elif kind == "reject":
                (skipped if key[1] in SKIP_REASONS else rejected)[key[1]] = n
            elif kind == "ignored":
                ignored[key[1]] = n
            elif kind == "quirk":
                quirks[key[1]] = n
        shard_files = {s: sorted(p.rsplit("/", 1)[-1] for sp, p, _ in shards if sp == s)
                       for s in schema.SPLITS}
        manifest = {
            "schema_version": schema.SCHEMA_VERSION,
            "image_size": self._config.image_size,
            "counts": counts,
            "totals": {s: totals.get(s, 0) for s in schema.SPLITS},
            "rejected": dict(sorted(rejected.items())),
            "skipped": dict(sorted(skipped.items())),
            "rejected_lines": sum(rejected.values()) + sum(skipped.values()),
            "ignored_files": dict(sorted(ignored.items())),
            "quirks": dict(sorted(quirks.items())),
            "shards": shard_files,
            "options": self._config.as_dict(),
        }
        path = fileio.join(self._config.output_dir, schema.MANIFEST_FILE)
        fileio.write_bytes(path, json.dumps(manifest, indent=2, sort_keys=True).encode("utf-8"),
                           mime_type="application/json")
        yield manifest


class PairImages(beam.PTransform):
    """Source specs -> {'pairs': Pair, 'rejected': dicts, 'ignored': (reason, uri)}: lists every
    member, classifies it by its dataset's layout, and pairs image and mask by
    (source, container, root, split folder, stem)."""

    def __init__(self, config: Config):
        super().__init__()
        self._config = config

    def expand(self, specs):
        config = self._config
        expanded = specs | "Expand" >> beam.ParDo(_ExpandSource(config.keep_noncam)).with_outputs(
            "ignored", "split_list", "rejected", main="members")
        split_lists = (expanded.split_list
                       | "GroupLists" >> beam.GroupByKey()
                       | "MergeLists" >> beam.MapTuple(lambda k, ds: (k, _merge_dicts(ds))))
        paired = (expanded.members
                  | "GroupPairs" >> beam.GroupByKey()
                  | "Pair" >> beam.ParDo(_MakePairs(config), beam.pvalue.AsDict(split_lists))
                  .with_outputs("rejected", main="pairs"))
        rejected = (expanded.rejected, paired.rejected) | "Rejects" >> beam.Flatten()
        return {"pairs": paired.pairs, "rejected": rejected, "ignored": expanded.ignored}


class MakeExamples(beam.PTransform):
    """Pairs -> {'examples': Processed, 'rejected': dicts}: spreads the pairs over workers,
    decodes, validates, resizes and encodes each, and keeps one copy of identical images."""

    def __init__(self, config: Config):
        super().__init__()
        self._config = config

    def expand(self, pairs):
        processed = (pairs
                     | "Spread" >> beam.Reshuffle()
                     | "Process" >> beam.ParDo(_ProcessPair(self._config)).with_outputs(
                         "rejected", main="processed"))
        kept = (processed.processed
                | "GroupByContent" >> beam.GroupByKey()
                | "KeepOneCopy" >> beam.ParDo(_KeepOneCopy()).with_outputs(
                    "rejected", main="examples"))
        rejected = (processed.rejected, kept.rejected) | "Rejects" >> beam.Flatten()
        return {"examples": kept.examples, "rejected": rejected}


class WriteRejects(beam.PTransform):
    """Reject dicts -> OUT/rejected/rejected-00000-of-00001.jsonl (sorted lines); counts them."""

    def __init__(self, output_dir: str):
        super().__init__()
        self._output_dir = output_dir

    def expand(self, rejects):
        return (rejects
                | "Count" >> beam.ParDo(_CountRejects())
                | "Lines" >> beam.Map(lambda r: (None, json.dumps(r, sort_keys=True)))
                | "Gather" >> beam.GroupByKey()
                | "Write" >> beam.ParDo(_WriteRejects(self._output_dir)))


class Tally(beam.PTransform):
    """(examples, rejects, ignored files) -> ((kind, name...), count) for the manifest."""

    def expand(self, pcolls):
        examples, rejects, ignored = pcolls
        return ((examples | "Examples" >> beam.FlatMap(
                    lambda e: [_tally("example", e.source, e.split)]
                    + [_tally("quirk", q) for q in e.quirks]),
                 rejects | "Rejects" >> beam.Map(lambda r: _tally("reject", r["reason"])),
                 ignored | "Ignored" >> beam.Map(lambda kv: _tally("ignored", kv[0])))
                | "All" >> beam.Flatten()
                | "Count" >> beam.combiners.Count.PerElement())


class Preprocess(beam.PTransform):
    """The whole job: source specs in, files written; emits the manifest once everything else
    (shards, rejects, the analysis) is written."""

    def __init__(self, config: Config, local_runner: bool = True, temp_dir: str | None = None):
        super().__init__()
        self._config = config
        self._local_runner = local_runner
        self._temp_dir = temp_dir

    def expand(self, specs):
        config = self._config
        paired = specs | "PairImages" >> PairImages(config)
        made = paired["pairs"] | "MakeExamples" >> MakeExamples(config)
        examples = made["examples"]
        rejects = (paired["rejected"], made["rejected"]) | "AllRejects" >> beam.Flatten()

        shards = examples | "WriteShards" >> WriteShards(config.output_dir, config.shard_mb)
        rejects_written = rejects | "WriteRejects" >> WriteRejects(config.output_dir)
        transform_written = (examples
                             | "TrainStats" >> beam.FlatMap(
                                 lambda e: [e.stats] if e.stats is not None else [])
                             | "Analyze" >> AnalyzeNormalization(
                                 fileio.join(config.output_dir, schema.TRANSFORM_DIR),
                                 temp_dir=self._temp_dir, local_runner=self._local_runner))
        tallies = (examples, rejects, paired["ignored"]) | "Tally" >> Tally()
        return (specs.pipeline
                | "ManifestTrigger" >> beam.Create([None])
                | "WriteManifest" >> beam.ParDo(
                    _WriteManifest(config), beam.pvalue.AsList(tallies),
                    beam.pvalue.AsList(shards), beam.pvalue.AsList(rejects_written),
                    beam.pvalue.AsList(transform_written)))


class _CountRejects(beam.DoFn):
    def __init__(self):
        self._rejected = Metrics.counter(NAMESPACE, "rejected")
        self._skipped = Metrics.counter(NAMESPACE, "skipped")

    def process(self, record):
        (self._skipped if record["reason"] in SKIP_REASONS else self._rejected).inc()
        yield record


def build(pipeline: beam.Pipeline, config: Config, local_runner: bool,
          temp_dir: str | None = None):
    return (pipeline
            | "Sources" >> beam.Create(list(config.sources), reshuffle=False)
            | "Preprocess" >> Preprocess(config, local_runner=local_runner, temp_dir=temp_dir))


def run(argv=None) -> dict:
    """Runs the job; returns the manifest it wrote."""
    options = PipelineOptions(argv)
    config = Config.from_options(job_view(options, PreprocessOptions))
    fileio.ensure_empty_or_absent(config.output_dir)
    local = shares_local_disk(options)
    temp_dir = options.view_as(GoogleCloudOptions).temp_location
    if not local:
        if not temp_dir:
            raise ValueError("--temp_location (a gs:// folder the workers share) is required "
                             "when the workers run on other machines")
        require_reachable(options, [config.output_dir] + [s.path for s in config.sources])
    dry_run = options.view_as(TestOptions).dry_run
    if dry_run:
        # tf.Transform makes its temp folders while the graph is built; a dry run only builds.
        temp_dir = tempfile.mkdtemp(prefix="cutout-preprocess-")
    with make_pipeline(options) as pipeline:
        build(pipeline, config, local_runner=local, temp_dir=temp_dir)
    if dry_run:
        return {}
    manifest = json.loads(fileio.read_bytes(fileio.join(config.output_dir, schema.MANIFEST_FILE)))
    logging.info("preprocess: %s written, %s rejected, %s skipped", manifest["totals"],
                 manifest["rejected"], manifest["skipped"])
    return manifest


def main(argv=None) -> int:
    return run_job_cli("preprocess", run, PreprocessOptions, (ValueError,),
                       lambda m: {k: m[k] for k in ("totals", "rejected", "skipped")}, argv)


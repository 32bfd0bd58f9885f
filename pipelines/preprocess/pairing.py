"""Stage 1 of preprocess: list every member of each source, classify it by its dataset's layout
(`sources.py`), and pair image and mask by (source, container, root, split folder, stem).

What can't pair (a mask with no image, a second image or mask of the same stem, an image in a
folder the layout doesn't read, one left out on purpose) becomes a reject, and so does an entry
that must not be read (a pipe, a device, a broken link, a tar's link member, a name that is not
UTF-8, a file over --max_file_bytes); files the layout knows and doesn't use (trimaps, OS junk,
text files) are counted as ignored.
"""
from __future__ import annotations

import dataclasses
import apache_beam as beam

from pipelines.core import rejects, safe_files
from pipelines.preprocess import containers, sources
from pipelines.preprocess.config import Config


@dataclasses.dataclass(frozen=True)
class Pair:
    key: str
    source: str
    kind: str
    split: str
    image: containers.Member
    mask: containers.Member | None
    empty_mask_allowed: bool


class PairImages(beam.PTransform):
    """Source specs -> {'pairs': Pair, 'rejected': dicts, 'ignored': (reason, uri)}: lists every
    member, classifies it by its dataset's layout, and pairs image and mask by
    (source, container, root, split folder, stem)."""

    def __init__(self, config: Config):
        super().__init__()
        self._config = config

    def expand(self, specs):
        config = self._config
        expanded = specs | "Expand" >> beam.ParDo(_ExpandSource(config.keep_noncam,
                                                       config.max_file_bytes)).with_outputs(
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


class _ExpandSource(beam.DoFn):
    """One source -> (pair_key, (kind, role, member)) per image or mask, and tagged 'split_list',
    'ignored' and 'rejected' outputs for the rest."""

    def __init__(self, keep_noncam: bool, max_file_bytes: int):
        self._keep_noncam = keep_noncam
        self._max_file_bytes = max_file_bytes

    def process(self, spec):
        layout = sources.layout_for(spec.kind, self._keep_noncam)

        def wanted(name):
            return not safe_files.is_junk(name) and layout.classify(name) is not None

        reader = containers.MemberReader(max_bytes=self._max_file_bytes)
        try:
            for member in containers.list_members(spec, wanted, self._max_file_bytes):
                if safe_files.is_junk(member.name):
                    yield beam.pvalue.TaggedOutput("ignored", ("junk", member.uri))
                    continue
                role = layout.classify(member.name)
                if isinstance(member, containers.BadEntry):
                    yield beam.pvalue.TaggedOutput("rejected", rejects.record(
                        spec.name, member.uri, member.reason, member.detail))
                    if role is not None and role.kind != "split_list":
                        # Its partner is then blamed on it, not on a missing file.
                        yield self._pair_key(spec, member, role), (spec.kind, role, member)
                    continue
                if role is None:
                    if layout.is_auxiliary(member.name):
                        yield beam.pvalue.TaggedOutput("ignored", ("auxiliary", member.uri))
                    elif member.name.lower().endswith(sources.IMAGE_EXTENSIONS):
                        # An image where the layout reads none: listed, so nothing vanishes.
                        yield beam.pvalue.TaggedOutput("rejected", rejects.record(
                            spec.name, member.uri, "outside_layout",
                            f"not in a folder the {spec.kind} layout reads"))
                    else:
                        yield beam.pvalue.TaggedOutput("ignored", ("not_an_image", member.uri))
                elif role.kind == "split_list":
                    yield from self._split_list(spec, member, role, reader)
                else:
                    yield self._pair_key(spec, member, role), (spec.kind, role, member)
        finally:
            reader.close()

    @staticmethod
    def _pair_key(spec, member, role) -> tuple:
        return spec.name, member.container, role.root, role.group, role.stem

    @staticmethod
    def _split_list(spec, member, role, reader):
        """A dataset's split list -> ((source, container, root), {stem: split}); one that can't
        be read is a reject (its stems get hash splits), not a failed job."""
        try:
            data = reader.read(member)
        except Exception as e:  # noqa: BLE001 (one bad file is a reject)
            yield beam.pvalue.TaggedOutput("rejected", rejects.from_exception(
                spec.name, member.uri, e, "read_failed"))
            return
        group_id = (spec.name, member.container, role.root)
        yield beam.pvalue.TaggedOutput("split_list",
                                       (group_id, sources.read_split_list(data, role.stem)))


def _rejected_partner(bad: dict, kind: str) -> str:
    entry = bad.get(kind)
    return f"its {kind} {entry.name} was rejected ({entry.reason})" if entry else ""


def _merge_dicts(dicts):
    merged = {}
    for d in dicts:
        merged.update(d)
    return merged


class _MakePairs(beam.DoFn):
    """(pair_key, [(kind, role, member), ...]) -> Pair, or rejects for what can't pair. A
    BadEntry among them was rejected already: it only explains why its partner can't pair."""

    def __init__(self, config: Config):
        self._config = config

    def process(self, element, split_lists):
        (source, container, root, _group, _stem), entries = element
        entries = sorted(entries, key=lambda e: e[2].name)
        kind = entries[0][0]
        layout = sources.layout_for(kind, self._config.keep_noncam)
        bad = {r.kind: m for _, r, m in entries if isinstance(m, containers.BadEntry)}
        entries = [e for e in entries if not isinstance(e[2], containers.BadEntry)]
        images = [(r, m) for _, r, m in entries if r.kind == "image"]
        masks = [(r, m) for _, r, m in entries if r.kind == "mask"]
        # A .png mask is preferred over other formats of the same stem; the rest are reported.
        masks.sort(key=lambda rm: (not rm[1].name.lower().endswith(".png"), rm[1].name))
        if not images:
            for _, m in masks:
                yield beam.pvalue.TaggedOutput("rejected", rejects.record(
                    source, m.uri, "mask_without_image", _rejected_partner(bad, "image")))
            return
        (role, image), extra_images = images[0], images[1:]
        for _, other in extra_images:
            yield beam.pvalue.TaggedOutput("rejected", rejects.record(
                source, other.uri, "ambiguous_stem", f"{image.name} has the same stem"))
        for _, other in masks[1:]:
            yield beam.pvalue.TaggedOutput("rejected", rejects.record(
                source, other.uri, "ambiguous_mask", f"{masks[0][1].name} was used"))
        reason = layout.skip_reason(role)
        if reason:
            yield beam.pvalue.TaggedOutput("rejected", rejects.record(source, image.uri, reason))
            return
        if not masks and "mask" in bad:
            yield beam.pvalue.TaggedOutput("rejected", rejects.record(
                source, image.uri, "no_mask", _rejected_partner(bad, "mask")))
            return
        key = f"{source}/{role.relpath}"
        listed = split_lists.get((source, container, role.root), {})
        split = layout.split_for(role, key, listed, self._config.val_fraction,
                                 self._config.test_fraction)
        yield Pair(key=key, source=source, kind=kind, split=split, image=image,
                   mask=masks[0][1] if masks else None,
                   empty_mask_allowed=layout.empty_mask_allowed(role))

"""Stage 1 of preprocess: list every member of each source, classify it by its dataset's layout
(`pipelines.sources`), and pair image and mask by (source, container, root, split folder, stem).

What can't pair (a mask with no image, a second image or mask of the same stem, an image in a
folder the layout doesn't read, one left out on purpose) becomes a reject; files the layout knows
and doesn't use (trimaps, OS junk, text files) are counted as ignored.
"""
from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING

import apache_beam as beam

from pipelines import sources
from pipelines.preprocessing.rejects import reject

if TYPE_CHECKING:
    from pipelines.preprocess import Config


@dataclasses.dataclass(frozen=True)
class Pair:
    key: str
    source: str
    kind: str
    split: str
    image: sources.Member
    mask: sources.Member | None
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


class _ExpandSource(beam.DoFn):
    """One source -> (pair_key, (kind, role, member)) per image or mask, and tagged 'split_list',
    'ignored' and 'rejected' outputs for the rest."""

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
                    group_id = (spec.name, member.container, role.root)
                    yield beam.pvalue.TaggedOutput(
                        "split_list", (group_id, sources.read_split_list(reader.read(member),
                                                                         role.stem)))
                else:
                    pair_key = (spec.name, member.container, role.root, role.group, role.stem)
                    yield pair_key, (spec.kind, role, member)
        finally:
            reader.close()


def _merge_dicts(dicts):
    merged = {}
    for d in dicts:
        merged.update(d)
    return merged


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

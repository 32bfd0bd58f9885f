"""What a cut-out job writes: the output modes, the kinds of file each makes, and their names.

The one module an output format touches for its naming (tests/unit/test_outputs.py lists the
files): `--output` of remove_background and of the one-image tool take `OUTPUT_MODES`; a mode
makes the kinds in `KINDS_OF_MODE` (each kind's bytes come from `inference.encode_outputs`);
an input at `<rel>.<ext>` gives `<rel>.png`, and with `--output both` the mask goes beside the
cut-out at `<rel>.mask.png` (`MASK_SUFFIX`), which evaluate's folder mode recognises
(`mask_key`).
"""
from __future__ import annotations

import posixpath

from pipelines.core.rejects import Rejected

OUTPUT_MODES = ("cutout", "mask", "both")
KINDS_OF_MODE = {"cutout": ("cutout",), "mask": ("mask",), "both": ("cutout", "mask")}
MASK_SUFFIX = ".mask"         # `--output both`: the mask's stem is the cut-out's plus this
OUTPUT_EXTENSION = ".png"
MAX_NAME_BYTES = 255          # one path component, on every common local filesystem


def kinds_of(mode: str) -> tuple[str, ...]:
    """The kinds of file (`cutout`, `mask`) that `--output MODE` writes."""
    if mode not in KINDS_OF_MODE:
        raise ValueError(f"unknown output mode {mode!r}; one of {OUTPUT_MODES}")
    return KINDS_OF_MODE[mode]


def output_names(rel: str, mode: str = "cutout") -> tuple[tuple[str, str], ...]:
    """(kind, relative output name) for each output of the input at `rel`.

    cutout: `<stem>.png`; mask: `<stem>.png` (single channel); both: `<stem>.png` and
    `<stem>.mask.png`. Raises Rejected('name_too_long') for a component over 255 bytes.
    """
    kinds = kinds_of(mode)
    stem = posixpath.splitext(rel)[0]
    names = tuple((kind, _name(stem, kind, len(kinds) > 1)) for kind in kinds)
    for _, name in names:
        for part in name.split("/"):
            if len(part.encode("utf-8")) > MAX_NAME_BYTES:
                raise Rejected("name_too_long",
                               f"{part[:40]!r}... is over {MAX_NAME_BYTES} bytes")
    return names


def _name(stem: str, kind: str, beside_a_cutout: bool) -> str:
    suffix = MASK_SUFFIX if kind == "mask" and beside_a_cutout else ""
    return stem + suffix + OUTPUT_EXTENSION


def mask_path_beside(out: str) -> str:
    """Where `--output both` puts the mask of the cut-out at OUT: OUT's stem + '.mask.png'."""
    stem = out[:-len(OUTPUT_EXTENSION)] if out.lower().endswith(OUTPUT_EXTENSION) else out
    return _name(stem, "mask", True)


def is_mask_stem(stem: str) -> bool:
    """Whether a file's stem is that of a mask written beside its cut-out (`x.mask`)."""
    return stem.endswith(MASK_SUFFIX)


def mask_key(stem: str) -> str:
    """The cut-out's stem of a mask written beside it: 'a/x.mask' -> 'a/x'."""
    return stem[:-len(MASK_SUFFIX)] if is_mask_stem(stem) else stem

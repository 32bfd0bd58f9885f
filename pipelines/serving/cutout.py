"""One image's background removed, without Beam: the same steps as the pipeline, same bytes.

Runbook
-------
    python -m pipelines.cutout IN OUT --model MODEL/export [--output cutout|mask|both]
        [--background COLOR] [--png_compression rle|fast|default] [--max_pixels N]
        [--max_file_bytes N] [--refine guided|none]

IN and OUT may be local paths or gs:// URIs. Writes OUT (atomically; content type image/png on
gs://): the RGBA cut-out, or with `--output mask` the single-channel mask; with `--output both`
the cut-out at OUT and the mask beside it at `<OUT without .png>.mask.png`, the names
`pipelines.remove_background` uses. `--refine guided` (default) snaps the upsampled alpha onto
the photo's edges (`pipelines/serving/refine.py`), `none` keeps the plain bilinear upsampling. Exit
status 1 with the reason when IN can't be turned into a cut-out (`not_an_image`, `undecodable`,
`too_many_pixels`, `not_a_regular_file`, `too_large` (over `--max_file_bytes`), ...); exit status
2 with one line when it can't run: OUT is IN (links resolved) or a folder, or the model's files
are damaged. Takes a few seconds, most of it importing TensorFlow and loading the model.

Python:
    from pipelines.serving import cutout
    model = cutout.load_model("MODEL/export")                 # once: seconds
    png = cutout.remove_background_bytes(data, model)         # per image: milliseconds
A path in place of `model` works too, but loads the model on every call; the second call with
a path warns once, pointing here.
"""
from __future__ import annotations

import argparse
import os
import sys
import warnings
from typing import Optional, Union

from model.errors import report
from pipelines.core import fileio, imaging, safe_files
from pipelines.serving import inference, model_files
from pipelines.serving.refine import DEFAULT_REFINE, REFINE_MODES
from pipelines.serving.outputs import OUTPUT_MODES, kinds_of, mask_path_beside
from pipelines.core.rejects import JobError, Rejected


def load_model(path: str, threads: int = 0) -> inference.LoadedModel:
    """Loads MODEL/export (local or gs://) once, to pass to every call as `model`. `threads`:
    TensorFlow's threads (0: its default)."""
    return inference.load_saved_model(path, threads)


# A path passed again means a loop that reloads the model (seconds) for every image: warn once.
# Not a silent cache: it would hold the model for the process's life, and go on serving the old
# one after the export at that path is replaced (a re-run of training writes the same folder).
_paths_seen: set = set()
_warned_reload = False


def _as_model(model: Union[str, inference.LoadedModel]) -> inference.LoadedModel:
    global _warned_reload
    if not isinstance(model, str):
        return model
    if model in _paths_seen and not _warned_reload:
        _warned_reload = True
        warnings.warn(f"the model at {model} is loaded again on every call, which takes seconds: "
                      f"load it once with cutout.load_model({model!r}) and pass that instead",
                      stacklevel=_caller_stacklevel())
    _paths_seen.add(model)
    return load_model(model)


def _caller_stacklevel() -> int:
    """The warning's stacklevel that names the first caller outside this module."""
    frame, level = sys._getframe(1), 1
    while frame is not None and frame.f_globals.get("__name__") == __name__:
        frame, level = frame.f_back, level + 1
    return level


def remove_background_outputs(data: bytes, model: Union[str, inference.LoadedModel],
                              kinds=("cutout",), background: Optional[tuple] = None,
                              png_compression: str = "rle",
                              max_pixels: Optional[int] = imaging.DEFAULT_MAX_PIXELS,
                              refine_mode: str = DEFAULT_REFINE) -> dict[str, bytes]:
    """{kind: PNG bytes} for kinds 'cutout' and/or 'mask'. Raises rejects.Rejected."""
    model = _as_model(model)
    small = inference.prepare_image(data, model.image_size, max_pixels)
    alpha_small = model.predict(small[None])[0]
    return inference.render_outputs(data, alpha_small, kinds, background=background,
                                    png_compression=png_compression, max_pixels=max_pixels,
                                    refine_mode=refine_mode)


def remove_background_bytes(data: bytes, model: Union[str, inference.LoadedModel],
                            output: str = "cutout", background: Optional[tuple] = None,
                            png_compression: str = "rle",
                            max_pixels: Optional[int] = imaging.DEFAULT_MAX_PIXELS,
                            refine_mode: str = DEFAULT_REFINE) -> bytes:
    """Encoded image bytes -> PNG bytes of its cut-out (`output='cutout'`, RGBA, or RGB on
    `background`) or mask (`output='mask'`). `model` is a `load_model(...)` result (load once, call
    many times) or a path to MODEL/export (loaded on every call).
    Raises rejects.Rejected with `.reason` for an input that can't be done."""
    if output not in ("cutout", "mask"):
        raise ValueError("output must be 'cutout' or 'mask' (use remove_background_outputs "
                         "for both)")
    return remove_background_outputs(data, model, (output,), background, png_compression,
                                     max_pixels, refine_mode)[output]


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m pipelines.cutout",
                                     description="Remove one image's background.")
    parser.add_argument("input", help="image file (local or gs://)")
    parser.add_argument("output", help="PNG to write (local or gs://)")
    parser.add_argument("--model", required=True, help="MODEL/export (local or gs://)")
    parser.add_argument("--output", dest="mode", default="cutout", choices=OUTPUT_MODES)
    parser.add_argument("--background", default=None)
    parser.add_argument("--png_compression", default="rle", choices=imaging.PNG_COMPRESSIONS)
    parser.add_argument("--max_pixels", type=int, default=imaging.DEFAULT_MAX_PIXELS)
    parser.add_argument("--max_file_bytes", type=int, default=safe_files.DEFAULT_MAX_FILE_BYTES,
                        help="refuse a larger input (default 256 MiB)")
    parser.add_argument("--refine", default=DEFAULT_REFINE, choices=REFINE_MODES,
                        help="guided: edges follow the photo's (default); none: plain upsampling")
    return parser.parse_args(argv)


def output_targets(args: argparse.Namespace) -> dict[str, str]:
    """{kind: path} to write. Raises JobError for a target that is the input (links resolved)
    or a folder: the input must never be overwritten."""
    targets = {"cutout": args.output, "mask": args.output}
    if args.mode == "both":
        targets["mask"] = mask_path_beside(args.output)
    targets = {kind: targets[kind] for kind in kinds_of(args.mode)}
    for path in targets.values():
        if fileio.resolved(path) == fileio.resolved(args.input):
            raise JobError(f"the output {path} is the input {args.input}: give another path")
        if not fileio.is_gcs(path) and os.path.isdir(path):
            raise JobError(f"the output {path} is a folder: give a file name (OUT.png)")
    return targets


def main(argv=None) -> int:
    """Exit status: 0 written; 1 the input can't be done (its reason); 2 the tool can't run
    (an output that would overwrite the input or is a folder, a damaged model)."""
    args = parse_args(argv)
    try:
        targets = output_targets(args)
        if isinstance(args.model, str):
            model_files.check_export_files(args.model)
        background = imaging.parse_color(args.background) if args.background else None
        data = fileio.read_bytes(args.input, args.max_file_bytes)
        pngs = remove_background_outputs(data, args.model, tuple(targets), background,
                                         args.png_compression, args.max_pixels, args.refine)
    except JobError as e:
        return report("cutout", e)
    except Rejected as e:
        print(f"cutout: {args.input}: {e}", file=sys.stderr)
        return 1
    except (ValueError, OSError) as e:
        print(f"cutout: error: {type(e).__name__}: {e}", file=sys.stderr)
        return 1
    for kind, png in pngs.items():
        fileio.write_bytes(targets[kind], png, mime_type="image/png")
    return 0

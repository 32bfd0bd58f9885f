"""One image's background removed, without Beam: the same steps as the pipeline, same bytes.

Runbook
-------
    cutout one IN OUT.png -m MODEL/export            (python -m pipelines.cutout IN OUT.png ...)
    cutout one IN [IN ...] -o DIR -m MODEL/export    (each IN -> DIR/<IN's name>.png)
        [--output cutout|mask|both] [--background COLOR]
        [--png_compression fastest|rle|fast|default] [--runtime openvino|openvino_bf16|savedmodel]
        [--max_pixels N] [--max_file_bytes N] [--refine guided|none]

IN, OUT and DIR may be local paths or gs:// URIs. Writes each output (atomically; content type
image/png on gs://): the RGBA cut-out, or with `--output mask` the single-channel mask; with
`--output both` the cut-out at OUT and the mask beside it at `<OUT without .png>.mask.png`, the
names `pipelines.remove_background` uses; prints each file it wrote. `--refine guided` (default)
snaps the upsampled alpha onto the photo's edges (`pipelines/serving/refine.py`), `none` keeps
the plain bilinear upsampling. `--runtime` as in the Beam jobs (`openvino`, the default,
imports no TensorFlow: about a second; `savedmodel` a few seconds, most of it importing
TensorFlow). Before the model loads, every output and input is checked. Exit status 2 with one line when it can't run: an input that does not exist,
an output that is an input (links resolved), a folder or not a .png name, no regular file (a
device such as /dev/null, a FIFO, a socket, a link to one: never opened), two inputs that would
write one name, a damaged, foreign or mis-described model (`pipelines/serving/model_proof.py`),
a training folder given for its export ("did you mean MODEL/export?"). Exit status 1 when an input can't be turned into a cut-out (`not_an_image`,
`undecodable`, `too_many_pixels`, `not_a_regular_file`, `too_large` (over `--max_file_bytes`),
...: one line each, naming it; the others are written). 130/143 on Ctrl-C/SIGTERM.

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

from model import feedback, flags, interrupts, mistakes
from model.errors import report
from pipelines.core import fileio, imaging, safe_files
from pipelines.core.options import (DEFAULT_RUNTIME, RUNTIME_HELP, RUNTIMES,
                                    check_shared_flags)
from pipelines.core.rejects import JobError, Rejected, printable
from pipelines.serving import inference, model_proof
from pipelines.serving.outputs import OUTPUT_MODES, kinds_of, mask_path_beside
from pipelines.serving.refine import DEFAULT_REFINE, REFINE_MODES


def load_model(path: str, threads: int = 0, runtime: str = DEFAULT_RUNTIME):
    """Loads MODEL/export (local or gs://) once, to pass to every call as `model`. `threads`:
    the runtime's threads (0: its default); `runtime`: `--runtime`'s values."""
    return inference.load_model(path, runtime, threads)


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
                              png_compression: str = imaging.DEFAULT_PNG_COMPRESSION,
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
                            png_compression: str = imaging.DEFAULT_PNG_COMPRESSION,
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


PROG = "python -m pipelines.cutout"


def parse_args(argv=None, prog: str = PROG) -> argparse.Namespace:
    parser = flags.StrictParser(prog=prog, description="Remove the background of one or more "
                                "images, without Beam: IN OUT, or IN [IN ...] -o DIR.")
    parser.add_argument("paths", nargs="+", metavar="IN",
                        help="image files (local or gs://); with no -o, exactly IN OUT, OUT a "
                             ".png name")
    parser.add_argument("-o", "--output_dir", default=None,
                        help="write each IN as DIR/<IN's name>.png (several inputs)")
    parser.add_argument("-m", "--model", required=True, help="MODEL/export (local or gs://)")
    parser.add_argument("--output", dest="mode", default="cutout", choices=OUTPUT_MODES,
                        help="cutout (RGBA), mask (single channel), or both (OUT and "
                             "<OUT without .png>.mask.png)")
    parser.add_argument("--background", default=None,
                        help="composite onto this colour (name, #RRGGBB or R,G,B)")
    parser.add_argument("--png_compression", default=imaging.DEFAULT_PNG_COMPRESSION,
                        choices=imaging.PNG_COMPRESSIONS)
    parser.add_argument("--runtime", default=DEFAULT_RUNTIME, choices=RUNTIMES, help=RUNTIME_HELP)
    parser.add_argument("--max_pixels", type=int, default=imaging.DEFAULT_MAX_PIXELS)
    parser.add_argument("--max_file_bytes", type=int, default=safe_files.DEFAULT_MAX_FILE_BYTES,
                        help="refuse a larger input")
    parser.add_argument("--refine", default=DEFAULT_REFINE, choices=REFINE_MODES,
                        help="guided: edges follow the photo's; none: plain upsampling")
    return parser.parse_args(argv)


def _targets(out: str, mode: str) -> dict[str, str]:
    targets = {"cutout": out, "mask": mask_path_beside(out) if mode == "both" else out}
    return {kind: targets[kind] for kind in kinds_of(mode)}


def plan_outputs(args: argparse.Namespace) -> list[tuple[str, dict[str, str]]]:
    """[(input, {kind: path to write})]. Raises JobError, before any model is loaded, for an
    input that does not exist, an output that is an input (links resolved), a folder, not a
    .png name, or two inputs that would write one name."""
    if args.output_dir:
        inputs = list(args.paths)
        outs = [fileio.join(args.output_dir, _stem(path) + ".png") for path in inputs]
    elif len(args.paths) == 2:
        inputs, outs = [args.paths[0]], [args.paths[1]]
    else:
        raise JobError("give IN OUT (OUT a .png name), or several inputs with -o DIR"
                       if len(args.paths) == 1 else
                       f"{len(args.paths)} paths and no -o: give IN OUT for one image, or "
                       "IN [IN ...] -o DIR for several")
    plan, claimed = [], {}
    for path, out in zip(inputs, outs):
        if not (fileio.exists(path) if fileio.is_gcs(path) else os.path.lexists(path)):
            raise JobError(mistakes.missing_input("input", path))
        if not fileio.is_gcs(out) and os.path.isdir(out):
            raise JobError(f"the output {out} is a folder: give a file name (OUT.png), or "
                           f"-o {out} to write {out}/<name>.png")
        targets = _targets(out, args.mode)
        for target in targets.values():
            for other in inputs:
                if fileio.resolved(target) == fileio.resolved(other):
                    raise JobError(mistakes.output_is_input(target, other))
        if not out.lower().endswith(".png"):
            raise JobError(f"the output {out} is not a .png name: a cut-out is a PNG; give "
                           f"{os.path.splitext(out)[0]}.png")
        for target in targets.values():
            check_target(target)
            if target in claimed:
                raise JobError(f"{claimed[target]} and {path} would both be written as "
                               f"{target}: give them in two runs, or rename one")
            claimed[target] = path
        plan.append((path, targets))
    return plan


def check_target(path: str) -> None:
    """JobError unless `path` may be written (`safe_files.output_problem`): checked before any
    work and again just before each write."""
    problem = None if fileio.is_gcs(path) else safe_files.output_problem(path)
    if problem:
        raise JobError(f"the output {path} {problem}: only a regular file or a new path is "
                       "ever written")


def _stem(path: str) -> str:
    return os.path.splitext(path.rstrip("/").rsplit("/", 1)[-1])[0]


def _check_input(path: str, args: argparse.Namespace) -> bytes:
    """The input's bytes, decodable (raises Rejected): checked before the model loads."""
    data = fileio.read_bytes(path, args.max_file_bytes)
    imaging.open_image(data, args.max_pixels)
    return data


def _say_rejected(label: str, path: str, error: Exception) -> None:
    print(f"{label}: {printable(path)}: {error}", file=sys.stderr, flush=True)


def run(args: argparse.Namespace, label: str) -> int:
    """Exit status: 0 every output written; 1 some input can't be done (each named with its
    reason on stderr); JobError for a mistake, before the model loads."""
    plan = plan_outputs(args)
    check_shared_flags(args)
    background = imaging.parse_color(args.background) if args.background else None
    # The proof's cheap steps (files, checksums, image_size) before the inputs are read: a bad
    # model is one line before anything is said or loaded (serving/model_proof.py).
    image_size = model_proof.check_files(args.model, args.model, args.runtime)
    ready, failed = [], 0
    for path, targets in plan:  # every input checked before the model's seconds of loading
        try:
            _check_input(path, args)
            ready.append((path, targets))
        except Rejected as e:
            _say_rejected(label, path, e)
            failed += 1
    if not ready:
        return 1
    written = [0]
    interrupts.on_interrupt(count=lambda: written[0])
    where = args.output_dir or ready[0][1]["cutout" if "cutout" in ready[0][1] else "mask"]
    feedback.say(f"{len(ready)} input(s) -> {where}; loading the model {args.model}")
    model = model_proof.load_and_probe(args.model, image_size, runtime=args.runtime)
    for path, targets in ready:
        try:
            data = _check_input(path, args)
            pngs = remove_background_outputs(data, model, tuple(targets), background,
                                             args.png_compression, args.max_pixels, args.refine)
        except (Rejected, OSError, ValueError) as e:
            _say_rejected(label, path, e)
            failed += 1
            continue
        for kind, png in pngs.items():
            check_target(targets[kind])
            try:
                fileio.write_bytes(targets[kind], png, mime_type="image/png")
            except OSError as e:
                raise JobError(f"can't write {e.filename or targets[kind]}: {e.strerror}") from None
            print(f"{label}: wrote {targets[kind]} ({kind}, from {printable(path)})", flush=True)
        written[0] += 1
    return 1 if failed else 0


def main(argv=None, prog: str = PROG) -> int:
    """Exit status: 0 written; 1 an input can't be done (its reason); 2 the tool can't run (a
    missing input, an output that would overwrite an input or is a folder or not .png, a
    damaged model); 130/143 interrupted."""
    args = parse_args(argv, prog)
    label = "cutout" if prog == PROG else prog
    interrupts.guard(label)
    feedback.set_prog(label)
    try:
        return run(args, label)
    except (JobError, ValueError) as e:  # ValueError: a --background that is not a colour
        return report(label, e)

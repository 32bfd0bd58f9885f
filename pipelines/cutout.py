"""One image's background removed, without Beam: the same steps as the pipeline, same bytes.

Runbook
-------
    python -m pipelines.cutout IN OUT --model MODEL/export [--output cutout|mask|both]
        [--background COLOR] [--png_compression rle|fast|default] [--max_pixels N]
        [--refine guided|none]

IN and OUT may be local paths or gs:// URIs. Writes OUT (atomically; content type image/png on
gs://): the RGBA cut-out, or with `--output mask` the single-channel mask; with `--output both`
the cut-out at OUT and the mask beside it at `<OUT without .png>.mask.png`, the names
`pipelines.remove_background` uses. `--refine guided` (default) snaps the upsampled alpha onto
the photo's edges (`pipelines/refine.py`), `none` keeps the plain bilinear upsampling. Exit
status 1 with the reason when IN can't be turned into a cut-out (`not_an_image`, `undecodable`,
`too_many_pixels`, ...). Takes a few seconds, most of it importing TensorFlow and loading the
model.

Python:
    from pipelines import cutout, inference
    model = inference.load_saved_model("MODEL/export")        # once
    png = cutout.remove_background_bytes(data, model)         # per image
"""
from __future__ import annotations

import argparse
import sys
from typing import Optional, Union

from pipelines import fileio, imaging, inference
from pipelines.refine import DEFAULT_REFINE, REFINE_MODES
from pipelines.output_plan import MASK_SUFFIX, OUTPUT_MODES
from pipelines.imaging import ImageError


def _as_model(model: Union[str, inference.LoadedModel]) -> inference.LoadedModel:
    return inference.load_saved_model(model) if isinstance(model, str) else model


def remove_background_outputs(data: bytes, model: Union[str, inference.LoadedModel],
                              kinds=("cutout",), background: Optional[tuple] = None,
                              png_compression: str = "rle",
                              max_pixels: Optional[int] = imaging.DEFAULT_MAX_PIXELS,
                              refine_mode: str = DEFAULT_REFINE) -> dict[str, bytes]:
    """{kind: PNG bytes} for kinds 'cutout' and/or 'mask'. Raises ImageError."""
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
    `background`) or mask (`output='mask'`). `model` is a path to MODEL/export (loaded on every
    call) or a `inference.load_saved_model(...)` result (load once, call many times).
    Raises ImageError with `.reason` for an input that can't be done."""
    if output not in ("cutout", "mask"):
        raise ValueError("output must be 'cutout' or 'mask' (use remove_background_outputs "
                         "for both)")
    return remove_background_outputs(data, model, (output,), background, png_compression,
                                     max_pixels, refine_mode)[output]


def mask_path_beside(out: str) -> str:
    """Where `--output both` puts the mask: OUT's stem + '.mask.png'."""
    stem = out[:-4] if out.lower().endswith(".png") else out
    return stem + MASK_SUFFIX + ".png"


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
    parser.add_argument("--refine", default=DEFAULT_REFINE, choices=REFINE_MODES,
                        help="guided: edges follow the photo's (default); none: plain upsampling")
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    try:
        background = imaging.parse_color(args.background) if args.background else None
        kinds = ("cutout", "mask") if args.mode == "both" else (args.mode,)
        pngs = remove_background_outputs(fileio.read_bytes(args.input), args.model, kinds,
                                         background, args.png_compression, args.max_pixels,
                                         args.refine)
    except ImageError as e:
        print(f"cutout: {args.input}: {e}", file=sys.stderr)
        return 1
    except (ValueError, OSError) as e:
        print(f"cutout: error: {type(e).__name__}: {e}", file=sys.stderr)
        return 1
    targets = {"cutout": args.output, "mask": args.output}
    if args.mode == "both":
        targets["mask"] = mask_path_beside(args.output)
    for kind, png in pngs.items():
        fileio.write_bytes(targets[kind], png, mime_type="image/png")
    return 0


if __name__ == "__main__":
    sys.exit(main())

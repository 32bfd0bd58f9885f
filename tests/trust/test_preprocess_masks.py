"""Issue 20, class 8: preprocess reads a mask only as one grey channel. A colour mask (channels
differ) or a mask carried in an alpha channel is a reject (`mask_not_grayscale`, evaluate's
`gt_not_grayscale` for the same file), never an all-zero or luma mask in the shards."""
import json
import os

import numpy as np
import pytest
from PIL import Image

from tests.trust import support as ts


def _masks():
    shape = np.zeros((40, 40), np.uint8)
    shape[10:30, 10:30] = 255
    zeros = np.zeros_like(shape)
    opaque = np.full_like(shape, 255)
    return {
        "gray": Image.fromarray(shape, "L"),
        "colour": Image.fromarray(np.stack([shape, zeros, zeros], -1), "RGB"),
        "alpha_only": Image.fromarray(np.stack([zeros, zeros, zeros, shape], -1), "RGBA"),
        "la_alpha": Image.fromarray(np.stack([zeros, shape], -1), "LA"),
        "rgba_opaque": Image.fromarray(np.stack([shape, shape, shape, opaque], -1), "RGBA"),
        "grey_rgb": Image.fromarray(np.stack([shape, shape, shape], -1), "RGB"),
    }


@pytest.mark.timeout(300)
def test_colour_and_alpha_masks_are_rejects(tmp_path):
    raw = tmp_path / "raw"
    os.makedirs(raw / "images")
    os.makedirs(raw / "masks")
    for i, (stem, mask) in enumerate(_masks().items()):
        photo = np.full((40, 40, 3), 100 + 10 * i, np.uint8)  # no two alike (duplicates skip)
        Image.fromarray(photo).save(raw / "images" / f"{stem}.png")
        mask.save(raw / "masks" / f"{stem}.png")
    before = ts.hashes(raw)
    proc = ts.run_module(ts.PREPROCESS, "--source", f"folder={raw}", "--output_dir",
                         tmp_path / "out", "--image_size", "32")
    assert proc.returncode == 0, proc.stderr[-3000:]
    rejected = [json.loads(line) for f in os.listdir(tmp_path / "out" / "_rejected")
                for line in open(tmp_path / "out" / "_rejected" / f) if line.strip()]
    assert {os.path.basename(r["path"]): r["reason"] for r in rejected} == {
        "colour.png": "mask_not_grayscale", "alpha_only.png": "mask_not_grayscale",
        "la_alpha.png": "mask_not_grayscale"}
    manifest = json.loads((tmp_path / "out" / "manifest.json").read_text())
    assert sum(manifest["counts"][next(iter(manifest["counts"]))].values()) == 3
    assert ts.hashes(raw) == before


def test_evaluate_and_preprocess_agree_on_the_same_files():
    from pipelines.core import imaging
    from pipelines.evaluate import scoring as eval_scoring
    from tests import cutout_support as cs

    for stem, mask in _masks().items():
        data = cs.encode(mask, "PNG")
        bad = stem in ("colour", "alpha_only", "la_alpha")
        if bad:
            assert cs.reason_of(imaging.decode_mask, data, "auto") == "mask_not_grayscale"
            assert cs.reason_of(eval_scoring.ground_truth_alpha, data) == "gt_not_grayscale"
        else:
            assert imaging.decode_mask(data, "auto").mode == "L"
            with_value = eval_scoring.ground_truth_alpha(data)
            assert with_value.max() == 255

"""Shared by the tests: a tiny real model from the exporter whose output is predictable, pictures
whose expected cut-out is known, a local TestPipeline, and readers of the jobs' outputs.

The model thresholds brightness: alpha = sigmoid(K * (mean(R, G, B) - 128)), so a bright object
(220) on a dark background (30) gives alpha ~1 on the object and ~0 around it.
"""
from __future__ import annotations

import io
import os
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
IMAGE_SIZE = 32
BRIGHT, DARK = 220, 30
K = 0.25


def export_brightness_model(export_dir: str) -> str:
    import keras

    from model.export import export_model

    model = keras.Sequential([keras.Input((IMAGE_SIZE, IMAGE_SIZE, 3)),
                              keras.layers.Conv2D(1, 1, activation="sigmoid")])
    model.layers[0].set_weights([np.full((1, 1, 3, 1), K / 3, np.float32),
                                 np.array([-128 * K], np.float32)])
    export_model(model, export_dir, IMAGE_SIZE, mean=[0, 0, 0], std=[1, 1, 1])
    return export_dir


def expected_alpha(rgb: np.ndarray) -> np.ndarray:
    """What the model says for each pixel, ignoring resizing: 255 bright, 0 dark."""
    mean = np.asarray(rgb, np.float32)[..., :3].mean(axis=-1)
    return np.where(mean > 128, 255, 0).astype(np.uint8)


def scene(width: int = 64, height: int = 48, box=None) -> np.ndarray:
    """A dark picture with a bright rectangle (x0, y0, x1, y1); default: the centre half."""
    rgb = np.full((height, width, 3), DARK, np.uint8)
    x0, y0, x1, y1 = box or (width // 4, height // 4, 3 * width // 4, 3 * height // 4)
    rgb[y0:y1, x0:x1] = BRIGHT
    rgb[..., 1] = np.clip(rgb[..., 1].astype(int) + 5, 0, 255)  # not quite gray
    return rgb


def hashes(folder) -> dict:
    """{relative path: sha256} of every regular file under a folder (links not followed)."""
    import hashlib

    out = {}
    for d, _, names in os.walk(folder):
        for n in names:
            path = os.path.join(d, n)
            if os.path.isfile(path) and not os.path.islink(path):
                with open(path, "rb") as f:
                    out[os.path.relpath(path, folder)] = hashlib.sha256(f.read()).hexdigest()
    return out


def encode(img: Image.Image, fmt: str, **kwargs) -> bytes:
    buf = io.BytesIO()
    img.save(buf, fmt, **kwargs)
    return buf.getvalue()


def reason_of(fn, *args) -> str:
    """The reason of the Rejected that fn(*args) must raise."""
    from pipelines.core.rejects import Rejected

    with pytest.raises(Rejected) as info:
        fn(*args)
    return info.value.reason


def local_test_pipeline():
    """A TestPipeline on the FnApiRunner directly: the DirectRunner would first try to download
    Prism."""
    from apache_beam.runners.portability.fn_api_runner import fn_runner
    from apache_beam.testing import test_pipeline

    return test_pipeline.TestPipeline(runner=fn_runner.FnApiRunner())


def job_config(tmp_path, model="/unused", **kw):
    """A remove_background JobConfig over tmp_path/in -> tmp_path/out."""
    from pipelines.remove_background.config import JobConfig

    values = dict(source="test", input_kind="folder", pattern=str(tmp_path / "in") + "/**",
                  root=str(tmp_path / "in"), dest=str(tmp_path / "out"), model=model,
                  image_size=IMAGE_SIZE)
    values.update(kw)
    return JobConfig(**values)


def interior(mask: np.ndarray, margin: int = 4) -> np.ndarray:
    """Pixels at least `margin` away from any change in `mask` (where resizing can't blur)."""
    from scipy import ndimage  # brought in by the test dependencies

    fg = mask > 127
    inside = ndimage.binary_erosion(fg, iterations=margin, border_value=1)
    outside = ndimage.binary_erosion(~fg, iterations=margin, border_value=1)
    return inside | outside


def assert_alpha_matches(alpha: np.ndarray, expected: np.ndarray, margin: int = 4) -> None:
    keep = interior(expected, margin)
    assert keep.sum() > 0.3 * keep.size
    diff = np.abs(alpha.astype(int) - expected.astype(int))[keep]
    assert diff.max() <= 8, f"alpha differs by up to {diff.max()} away from edges"


def write(path, data: bytes) -> str:
    path = str(path)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(data)
    return path


def dest_rejects(dest) -> list:
    """remove_background's rejects: every line of every shard of DEST/_rejected/*.jsonl."""
    import glob
    import json

    return [json.loads(line)
            for path in sorted(glob.glob(os.path.join(dest, "_rejected", "*.jsonl")))
            for line in open(path).read().splitlines()]


# --- Preprocess: its arguments over the synthetic archives, and readers of what it wrote. ---

def preprocess_args(raw_folder, out_dir, image_size=48, extra=()) -> list:
    """`pipelines.preprocess` arguments over the three synthetic sources in `raw_folder`."""
    return ["--source", f"p3m10k={raw_folder}/P3M-10k.zip",
            "--source", f"cod10k={raw_folder}/COD10K-v3.tar.gz",
            "--source", f"people_seg={raw_folder}/people_segmentation",
            "--output_dir", str(out_dir), "--image_size", str(image_size), *extra]


def read_examples(out) -> dict:
    """Every example in OUT's shards: {key: (split, {feature: value})}; a key twice fails."""
    import glob

    import tensorflow as tf

    from model import schema

    found = {}
    for split in schema.SPLITS:
        for path in sorted(glob.glob(schema.shard_pattern(str(out), split))):
            for raw in tf.data.TFRecordDataset(path, compression_type="GZIP"):
                ex = tf.io.parse_single_example(raw, schema.feature_spec())
                key = ex["key"].numpy().decode()
                assert key not in found, f"{key} written twice"
                found[key] = (split, {k: v.numpy() for k, v in ex.items()})
    return found


def read_rejects(out) -> list:
    """Every line of OUT/_rejected/*.jsonl (every job's rejects), parsed."""
    import glob
    import json

    lines = []
    for path in glob.glob(os.path.join(out, "_rejected", "*.jsonl")):
        lines += [json.loads(line) for line in open(path) if line.strip()]
    return lines


def upload_tree(local_root, gcs_root) -> None:
    """Copies a local folder to gs:// (the emulator), keeping relative paths."""
    from pipelines.core import fileio

    for folder, _, names in os.walk(local_root):
        for name in names:
            full = os.path.join(folder, name)
            rel = os.path.relpath(full, local_root).replace(os.sep, "/")
            with open(full, "rb") as f:
                fileio.write_bytes(f"{gcs_root}/{rel}", f.read())


# --- Model: targets for the losses. ---

def soft_target(seed: int = 0, n: int = 2, size: int = 16) -> np.ndarray:
    """A batch of soft alpha masks [n, size, size, 1]: uniform noise, the top rows 0 and the
    bottom rows 1 (so both classes are present)."""
    rng = np.random.default_rng(seed)
    y = rng.uniform(0, 1, (n, size, size, 1)).astype(np.float32)
    y[:, :4] = 0.0
    y[:, -4:] = 1.0
    return y


# --- Listing: the fan-out against one listing (tests/pipelines/test_listing.py, the GCS twin). ---

def single_listing(pattern, root, exclude_prefix=None):
    """The listing before the fan-out: one FileSystems.match -> (uris, ignored)."""
    import posixpath

    from apache_beam.io.filesystems import FileSystems

    from pipelines.core.safe_files import is_junk

    prefix = root.rstrip("/") + "/"
    uris, ignored = set(), set()
    for meta in FileSystems.match([pattern])[0].metadata_list:
        path = meta.path
        if path.endswith("/") or (exclude_prefix and path.startswith(exclude_prefix)):
            continue
        rel = path[len(prefix):] if path.startswith(prefix) else posixpath.basename(path)
        (ignored if is_junk(rel) else uris).add(path)
    return uris, ignored


_FOUND: dict = {}  # module-level: the in-process runner pickles DoFns, not this by value


def _keep(element, tag):
    _FOUND.setdefault(tag, []).append(element)


def fanned_out(cfg, levels):
    """ListInputs' fan-out at `levels` -> (uris, ignored, rejects)."""
    import apache_beam as beam

    from pipelines.core import listing
    from pipelines.remove_background import inputs as rb_inputs

    walker = rb_inputs.InputWalker(cfg.pattern, cfg.root, cfg.exclude_prefix, cfg.source)
    _FOUND.clear()
    p = local_test_pipeline()
    out = p | listing.FanOutList(cfg.root, walker, tags=("ignored", "rejected"), levels=levels)
    for tag in (listing.MAIN, "ignored", "rejected"):
        _ = out[tag] | f"Keep{tag}" >> beam.Map(_keep, tag)
    p.run().wait_until_finish()
    return (set(_FOUND.get(listing.MAIN, [])), set(_FOUND.get("ignored", [])),
            _FOUND.get("rejected", []))


def single_dest_listing(dest, folders_matter):
    """DEST's claims before the fan-out: one listing."""
    from pipelines.core import fileio
    from pipelines.remove_background import output_plan

    prefix = dest.rstrip("/") + "/"
    claims, folders = set(), set()
    for path, _ in fileio.match(fileio.escape_glob(prefix) + "**"):
        rel = path[len(prefix):]
        if rel.startswith("_") or rel.endswith("/"):
            continue
        claims.add((rel, ("have",)))
        if folders_matter:
            folders.update(output_plan.ancestors(rel))
    return claims | {(f, ("dir",)) for f in folders}


_PEAK = ("import resource, subprocess, sys; "
         "r = subprocess.run(sys.argv[1:], capture_output=True); "
         "sys.stdout.buffer.write(r.stdout); sys.stderr.buffer.write(r.stderr); "
         "print(r.returncode, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, "
         "file=sys.stderr)")


def run_measuring_peak(argv, cwd=None, env=None, timeout=None):
    """Runs `argv` and returns (returncode, stdout bytes, stderr text, peak RSS in bytes).

    The job runs as the only child of a small launcher: Linux carries a process's RSS high-water
    mark across exec, so a job forked straight from this (large) test process would report the
    test process's size; the launcher's RUSAGE_CHILDREN maximum is the job's own peak (any
    worker processes it waited for included)."""
    proc = subprocess.run([sys.executable, "-c", _PEAK, *argv], cwd=cwd, env=env,
                          capture_output=True, timeout=timeout)
    stderr, _, last = proc.stderr.decode(errors="replace").rstrip("\n").rpartition("\n")
    returncode, peak_kib = map(int, last.split())
    return returncode, proc.stdout, stderr, peak_kib * 1024

"""Benchmark: the preprocess pipeline against a bare multiprocessing pool doing the same work.

    python bench/preprocess.py [--images 2000] [--mem_images 400] [--size 320]

Prints, from one run on one archive of photo-sized JPEGs (720x960, each unique):
1. images/s of the pipeline on the local runner with 2 workers (multi-process) against a bare
   `multiprocessing` pool of 2 processes doing the same per-image work (`examples.make_example`)
   and writing the same gzip TFRecords. Goal: >= 0.85x.
2. peak memory (max RSS of one in-process run) at N and 4N images. Goal: 4N <= 1.2x N.
3. the per-image work against the cheapest decode + resize + encode Pillow allows (draft-mode
   JPEG decoding, BILINEAR, JPEG encode; no mask, no checks).
Ratios are what matter: absolute times drift from machine to machine.
"""
from __future__ import annotations

import argparse
import gzip
import io
import json
import multiprocessing
import os
import shutil
import subprocess
import sys
import tempfile
import time
import zipfile

import numpy as np
from PIL import Image

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from model import tfrecord  # noqa: E402
from pipelines.preprocess import examples, pairing  # noqa: E402
from pipelines.preprocess import job as preprocess  # noqa: E402
from pipelines.synthetic import datasets as synthetic  # noqa: E402


def make_archive(path: str, count: int, seed: int = 0) -> None:
    """A folder-layout zip of `count` unique 720x960 JPEG photos with masks."""
    rng = np.random.default_rng(seed)
    scenes = [synthetic.render_scene(rng, 720, 960) for _ in range(24)]
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as zf:
        for i in range(count):
            rgb, alpha = scenes[i % len(scenes)]
            rgb = rgb.copy()
            rgb[0, 0] = (i % 256, (i // 256) % 256, 7)  # unique bytes, no duplicates to drop
            buf = io.BytesIO()
            Image.fromarray(rgb).save(buf, "JPEG", quality=90)
            zf.writestr(f"bench/images/{i:06d}.jpg", buf.getvalue())
            buf = io.BytesIO()
            Image.fromarray(alpha).save(buf, "PNG")
            zf.writestr(f"bench/masks/{i:06d}.png", buf.getvalue())


def _pool_work(args):
    archive, name, size = args
    with zipfile.ZipFile(archive) as zf:
        image = zf.read(f"bench/images/{name}.jpg")
        mask = zf.read(f"bench/masks/{name}.png")
    pair = pairing.Pair(key=f"bench/images/{name}.jpg", source="bench", kind="folder",
                           split="train", image=None, mask=None, empty_mask_allowed=False)
    config = preprocess.Config(sources=(), output_dir="", image_size=size)
    example, _, _ = examples.make_example(pair, image, mask, config, "auto")
    return example


def run_pool(archive: str, count: int, size: int, out_dir: str) -> float:
    start = time.perf_counter()
    names = [f"{i:06d}" for i in range(count)]
    with multiprocessing.get_context("spawn").Pool(2) as pool:
        examples = pool.map(_pool_work, [(archive, n, size) for n in names], chunksize=16)
    os.makedirs(out_dir, exist_ok=True)
    with open(os.path.join(out_dir, "train.tfrecord.gz"), "wb") as f:
        f.write(gzip.compress(b"".join(tfrecord.frame(e) for e in examples), mtime=0))
    return time.perf_counter() - start


def run_pipeline(archive: str, out_dir: str, size: int, mode: str, workers: int) -> float:
    start = time.perf_counter()
    preprocess.run(["--source", f"folder:bench={archive}", "--output_dir", out_dir,
                    "--image_size", str(size), "--direct_num_workers", str(workers),
                    "--direct_running_mode", mode])
    return time.perf_counter() - start


def peak_memory_mib(archive: str, size: int, tmp: str) -> float:
    """Max RSS of one in-process pipeline run, in a fresh interpreter: its VmHWM, which starts
    afresh at exec (getrusage's maximum would carry over this driver's own size from the fork)."""
    out = tempfile.mkdtemp(dir=tmp)
    shutil.rmtree(out)
    code = ("import sys; sys.path.insert(0, %r); from bench.preprocess import "
            "run_pipeline; run_pipeline(%r, %r, %d, 'in_memory', 1); "
            "print([l.split()[1] for l in open('/proc/self/status') if l.startswith('VmHWM:')][0])"
            % (os.path.dirname(os.path.dirname(os.path.abspath(__file__))), archive, out, size))
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            check=True)
    return int(result.stdout.strip().splitlines()[-1]) / 1024.0


def per_image_costs(archive: str, size: int, samples: int = 60) -> tuple[float, float]:
    with zipfile.ZipFile(archive) as zf:
        pairs = [(zf.read(f"bench/images/{i:06d}.jpg"), zf.read(f"bench/masks/{i:06d}.png"))
                 for i in range(samples)]
    config = preprocess.Config(sources=(), output_dir="", image_size=size)
    pair = pairing.Pair(key="k", source="bench", kind="folder", split="train", image=None,
                           mask=None, empty_mask_allowed=False)
    start = time.perf_counter()
    for image, mask in pairs:
        examples.make_example(pair, image, mask, config, "auto")
    ours = (time.perf_counter() - start) / samples
    start = time.perf_counter()
    for image, _ in pairs:
        img = Image.open(io.BytesIO(image))
        img.draft("RGB", (size, size))
        small = img.convert("RGB").resize((size, size), Image.Resampling.BILINEAR)
        small.save(io.BytesIO(), "JPEG", quality=95)
    cheapest = (time.perf_counter() - start) / samples
    return ours, cheapest


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--images", type=int, default=2000)
    parser.add_argument("--mem_images", type=int, default=400)
    parser.add_argument("--size", type=int, default=320)
    args = parser.parse_args()
    tmp = tempfile.mkdtemp(prefix="cutout-bench-")
    try:
        archive = os.path.join(tmp, "bench.zip")
        make_archive(archive, args.images)
        pool_s = run_pool(archive, args.images, args.size, os.path.join(tmp, "pool"))
        beam_s = run_pipeline(archive, os.path.join(tmp, "beam"), args.size,
                              "multi_processing", 2)
        ours, cheapest = per_image_costs(archive, args.size)
        small = os.path.join(tmp, "small.zip")
        make_archive(small, args.mem_images)
        big = os.path.join(tmp, "big.zip")
        make_archive(big, 4 * args.mem_images)
        mem_n = peak_memory_mib(small, args.size, tmp)
        mem_4n = peak_memory_mib(big, args.size, tmp)
        report = {
            "images": args.images,
            "pool_images_per_s": round(args.images / pool_s, 1),
            "pipeline_images_per_s": round(args.images / beam_s, 1),
            "pipeline_vs_pool": round(pool_s / beam_s, 3),
            "peak_mib_N": round(mem_n), "peak_mib_4N": round(mem_4n),
            "N": args.mem_images, "memory_4N_over_N": round(mem_4n / mem_n, 3),
            "per_image_ms": round(ours * 1000, 2), "cheapest_pillow_ms": round(cheapest * 1000, 2),
            "per_image_over_cheapest": round(ours / cheapest, 3),
        }
        print(json.dumps(report, indent=2))
        print(f"pipeline/pool throughput: {report['pipeline_vs_pool']}x (goal >= 0.85x)")
        print(f"memory 4N/N: {report['memory_4N_over_N']}x (goal <= 1.2x)")
        print(f"per-image work / cheapest Pillow: {report['per_image_over_cheapest']}x")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()

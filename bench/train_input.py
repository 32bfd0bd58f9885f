"""Does the tf.data input keep up with training? Input images/s against training-step images/s,
measured in the same run, for 1 and 2 CPU replicas (MirroredStrategy over logical CPU devices).

    python bench/train_input.py [--image_size 256] [--images 64] [--batch 8] [--steps 4]

Makes a small synthetic data folder (pipelines.synthetic scenes, the layout pipelines.preprocess
writes), then for each replica count runs a fresh process (logical devices can only be set before
TF starts) that measures
- input: the training dataset exactly as model.train builds it with its default recipe (read,
  parse, decode, augment into training crops, normalise, batch), iterated alone, after a warm-up
  batch;
- step: `fit` on one cached batch repeated (no input cost), U-Net16 at the default settings
  (on the default crops), timing the second epoch (the first one traces).
Prints images/s for both and their ratio; the goal is input >= 3x step, so the input pipeline
never starves training even when it shares the cores with it. About 1.5 minutes at 256 px on 2
cores.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
GOAL = 3.0


def write_data_dir(out_dir: str, image_size: int, images: int, seed: int = 0) -> None:
    """train/ and val/ shards, transform/ and manifest.json, as pipelines.preprocess writes."""
    import gzip

    import numpy as np
    from PIL import Image

    from model import schema, transform
    from model import tfrecord
    from pipelines.core import imaging
    from pipelines.preprocess import analysis
    from pipelines.synthetic import datasets as synthetic

    rng = np.random.default_rng(seed)
    stats = []
    for split, n in (("train", images), ("val", max(2, images // 8))):
        os.makedirs(os.path.join(out_dir, split))
        records = []
        for i in range(n):
            rgb, alpha = synthetic.render_scene(rng, image_size, image_size)
            records.append(tfrecord.frame(schema.make_example(
                f"bench/{split}/{i}.jpg", "synthetic",
                imaging.encode_jpeg(Image.fromarray(rgb, "RGB")),
                imaging.encode_png(Image.fromarray(alpha, "L"), "fast"),
                image_size, image_size, image_size)))
            if split == "train":
                stats.append(transform.image_statistics(rgb))
        with gzip.open(os.path.join(out_dir, split, f"{split}-00000-of-00001.tfrecord.gz"),
                       "wb") as f:
            f.write(b"".join(records))
    analysis.write_transform_from_stats(stats, os.path.join(out_dir, schema.TRANSFORM_DIR))
    with open(os.path.join(out_dir, schema.MANIFEST_FILE), "w") as f:
        json.dump({"schema_version": schema.SCHEMA_VERSION, "image_size": image_size,
                   "counts": {"train": images}}, f)


def measure(data_dir: str, replicas: int, batch: int, steps: int) -> dict:
    """One process, one replica count: input and step throughput."""
    from model import runtime

    plan = runtime.DevicePlan(gpus=0, local_replicas=replicas)
    threads = runtime.available_cores()
    runtime.configure_runtime(plan, threads)
    strategy = runtime.make_strategy(plan)

    import keras
    import tensorflow as tf

    from model import architectures, data, losses, schema, train_config, transform

    info = data.inspect_data_dir(data_dir)
    mean, std = transform.load_normalization(os.path.join(data_dir, schema.TRANSFORM_DIR))
    recipe = train_config.TrainConfig("", "", image_size=info.image_size)   # the defaults
    ds = data.make_train_dataset(info.shards["train"], info.image_size, batch, mean, std,
                                 augment_config=recipe.augment_config(), threads=threads)
    it = iter(ds)
    next(it)                                             # warm-up: threads, shuffle buffer
    n_batches = max(8, 2 * steps)
    t0 = time.perf_counter()
    for _ in range(n_batches):
        next(it)
    input_ips = n_batches * batch / (time.perf_counter() - t0)

    config = recipe.model_config(variable_size=recipe.crop_size() < info.image_size)
    with strategy.scope():
        model = architectures.build_model(config)
        model.compile(keras.optimizers.Adam(1e-3), loss=losses.make_loss(recipe.boundary_weight),
                      metrics=losses.make_metrics())
    cached = ds.take(1).cache().repeat()

    class Timer(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            self.start = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            self.seconds = time.perf_counter() - self.start

    timer = Timer()
    model.fit(cached, epochs=2, steps_per_epoch=steps, callbacks=[timer], verbose=0)
    step_ips = steps * batch / timer.seconds
    return {"replicas": int(strategy.num_replicas_in_sync), "image_size": info.image_size,
            "batch": batch, "crop": recipe.crop_size(), "threads": threads,
            "input_images_per_s": input_ips,
            "step_images_per_s": step_ips, "ratio": input_ips / step_ips,
            "tensorflow": tf.__version__}


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--image_size", type=int, default=256)
    p.add_argument("--images", type=int, default=64)
    p.add_argument("--batch", type=int, default=8, help="global batch")
    p.add_argument("--steps", type=int, default=4, help="timed training steps")
    p.add_argument("--replicas", type=int, nargs="*", default=[1, 2])
    p.add_argument("--_child", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args._child:
        result = measure(args._child, args.replicas[0], args.batch, args.steps)
        print("RESULT " + json.dumps(result), flush=True)
        return

    tmp = tempfile.mkdtemp(prefix="cutout-bench-")
    try:
        t0 = time.perf_counter()
        data_dir = os.path.join(tmp, "data")
        write_data_dir(data_dir, args.image_size, args.images)
        print(f"data: {args.images} synthetic pairs at {args.image_size} px "
              f"({time.perf_counter() - t0:.0f} s)", flush=True)
        env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
        results = []
        for replicas in args.replicas:
            proc = subprocess.run(
                [sys.executable, os.path.abspath(__file__), "--_child", data_dir,
                 "--replicas", str(replicas), "--batch", str(args.batch),
                 "--steps", str(args.steps)],
                cwd=REPO, env=env, capture_output=True, text=True)
            lines = [line for line in proc.stdout.splitlines() if line.startswith("RESULT ")]
            if proc.returncode or not lines:
                sys.exit(f"replicas={replicas} failed:\n{proc.stderr[-3000:]}")
            results.append(json.loads(lines[-1][7:]))
        print(f"\n{'replicas':>8} {'input img/s':>12} {'step img/s':>11} {'input/step':>11}")
        for r in results:
            print(f"{r['replicas']:>8} {r['input_images_per_s']:>12.1f} "
                  f"{r['step_images_per_s']:>11.2f} {r['ratio']:>10.1f}x")
        base = results[0]["step_images_per_s"]
        for r in results[1:]:
            print(f"step throughput, {r['replicas']} replicas vs {results[0]['replicas']}: "
                  f"{r['step_images_per_s'] / base:.2f}x")
        worst = min(r["ratio"] for r in results)
        verdict = "meets" if worst >= GOAL else "MISSES"
        print(f"input/step ratio {worst:.1f}x {verdict} the goal of {GOAL:.0f}x "
              f"(U-Net16, global batch {args.batch}, {results[0]['threads']} threads, "
              f"{args.image_size} px; total {time.perf_counter() - t0:.0f} s)")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.path.insert(0, REPO)
    main()

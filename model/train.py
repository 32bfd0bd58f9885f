"""Trains a background-removal model on `pipelines.preprocess` output and exports it.

Runbook
-------
    python -m model.train --data_dir OUT --model_dir MODEL [--epochs 12] [--batch_size GLOBAL]
        [--architecture unet|mobilenet_unet] [--encoder_weights none|imagenet] [--cpu_replicas K]
        [--learning_rate 1e-3] [--base_filters 16] [--per_replica_batch 8] [--bn_momentum 0.9]
        [--threads N] [--seed 0] [--no_augment]

Reads `OUT/{train,val}/*.tfrecord.gz`, `OUT/transform/` (per-channel mean/std) and
`OUT/manifest.json` (schema version, image size), all checked before any work. Writes to MODEL:
- `config.json`: the validated config plus what the run resolved (replicas, per-replica batch,
  effective learning rate, strategy, devices, normalisation, example counts);
- `metrics.csv`: one row per epoch (loss, iou, mae and their val_ twins, seconds, the attempt
  that ran it); `logs/`: TensorBoard; `training_curves.png`;
- `checkpoints/best.weights.h5`: the weights of the epoch with the best val_iou so far (the epoch
  and its val_iou are stored in the file's HDF5 attributes, written with it in one rename);
  `checkpoints/last.weights.h5` + `last.json` (the finished run), `backup/` (Keras
  BackupAndRestore state while a run is unfinished);
- `export/`: the self-contained SavedModel (`model.export`), what every other job uses. It holds
  the BEST weights by val_iou, not the last epoch's (the last ones only where no best file
  exists): `config.json` and the export's `cutout_export.json` say which, as
  `"exported_weights": "best (epoch N, val_iou X)"` (N numbered as in metrics.csv, from 0) with
  `exported_epoch`, and the export's `exported_metrics` is that epoch's metrics.csv row
  (`final_metrics` stays the last epoch's).

Validation loss: the last validation batch is padded with weight-0 blanks (model/data.py). The
loss averages with the sample weights and the epoch's val_loss is weighted by each step's sum of
weights (not its batch size), so val_loss is the mean over the real validation examples exactly,
on any number of replicas; training batches have no weights and are unaffected.

Devices: every visible GPU, mirrored (MirroredStrategy), mixed float16 on GPU only. With no GPU,
`--cpu_replicas K` splits the CPU into K logical devices and mirrors over them (no speed-up; it
runs the multi-replica path for real). With `TF_CONFIG` set, MultiWorkerMirroredStrategy (each
CPU worker is one replica). `--batch_size` is the GLOBAL batch (default 8 per replica)
and must divide by the replicas; the learning rate is multiplied by the number of replicas
(linear scaling: the default global batch grows with them).

Resuming: re-run the same command. A killed run continues from its last finished epoch; a finished
one is only exported again (from the same best weights); a finished one asked for more `--epochs`
trains the extra epochs, which replace the best weights only if they beat their val_iou.
A MODEL trained with another architecture, width or image size is refused.

How long, on this project's 2-core CPU (synthetic data, U-Net16; photos cost the same per pixel):
- defaults at 256 px: a training step runs at ~7.5 images/s on an idle machine
  (bench/train_input.py); with validation and a busy machine, 240 training + 60 validation
  images took 44-82 s an epoch, 10 epochs 10.4 min (val IoU 0.79). So a few hundred photos
  (~300) take about 15 min for the default 12 epochs; a slower 2-core machine (STACK.md measured
  2.3 min an epoch on 241 photos) about half an hour. Start-up ~15 s, export ~10 s.
- 128 px is 3-4x faster per image: the demo setting (`--cpu_replicas 2 --epochs 12`, global batch
  16) trained 320 images in 4.1 min to val IoU 0.73.
"""
from __future__ import annotations

import argparse
import csv
import dataclasses
import json
import logging
import math
import os
import sys
import time

from model import data as data_lib
from model import schema, unet

log = logging.getLogger("model.train")

CONFIG_FILE = "config.json"
METRICS_FILE = "metrics.csv"
CURVES_FILE = "training_curves.png"
LOGS_DIR = "logs"
BACKUP_DIR = "backup"
CHECKPOINT_DIR = "checkpoints"
BEST_WEIGHTS = "best.weights.h5"
LAST_WEIGHTS = "last.weights.h5"
LAST_STATE = "last.json"
BEST_EPOCH_ATTR = "cutout_epoch"          # HDF5 attributes of best.weights.h5
BEST_VAL_IOU_ATTR = "cutout_val_iou"
DEFAULT_PER_REPLICA_BATCH = 8
# Fields that fix the model's shape: a MODEL folder trained with others can't be resumed.
IDENTITY_FIELDS = ("architecture", "base_filters", "bn_momentum", "image_size")


class ConfigError(ValueError):
    """A bad command line or environment, found before any work."""


@dataclasses.dataclass
class TrainConfig:
    data_dir: str
    model_dir: str
    epochs: int = 12
    batch_size: int | None = None          # GLOBAL; None -> per_replica_batch x replicas
    per_replica_batch: int = DEFAULT_PER_REPLICA_BATCH
    learning_rate: float = 1e-3            # per replica; x num_replicas_in_sync in the optimizer
    min_learning_rate_fraction: float = 0.1  # cosine decay ends at this fraction of the rate
    architecture: str = "unet"
    encoder_weights: str = "none"
    base_filters: int = 16
    bn_momentum: float = unet.DEFAULT_BN_MOMENTUM
    cpu_replicas: int = 0                  # 0 or 1: no split
    threads: int = 0                       # 0: every core this process may use
    seed: int = 0
    augment: bool = True
    image_size: int = 0                    # from the data's manifest

    def validate(self) -> None:
        """Checks that need nothing but the config itself."""
        if not self.model_dir:
            raise ConfigError("--model_dir is required")
        if self.epochs < 1:
            raise ConfigError(f"--epochs must be >= 1, got {self.epochs}")
        if self.batch_size is not None and self.batch_size < 1:
            raise ConfigError(f"--batch_size must be >= 1, got {self.batch_size}")
        if self.per_replica_batch < 1:
            raise ConfigError(f"--per_replica_batch must be >= 1, got {self.per_replica_batch}")
        if not self.learning_rate > 0:
            raise ConfigError(f"--learning_rate must be > 0, got {self.learning_rate}")
        if self.cpu_replicas < 0:
            raise ConfigError(f"--cpu_replicas must be >= 0, got {self.cpu_replicas}")
        if self.threads < 0:
            raise ConfigError(f"--threads must be >= 0, got {self.threads}")
        if self.architecture not in unet.ARCHITECTURES:
            raise ConfigError(f"unknown --architecture {self.architecture!r}; "
                              f"one of {unet.ARCHITECTURES}")
        try:
            # image_size is checked again once the data says what it is.
            unet.check_model_config(self.architecture, unet.size_multiple(self.architecture),
                                    self.base_filters, self.encoder_weights, self.bn_momentum)
        except ValueError as e:
            raise ConfigError(str(e)) from None

    def global_batch(self, replicas: int) -> int:
        batch = self.batch_size if self.batch_size is not None else (
            self.per_replica_batch * replicas)
        if batch % replicas:
            raise ConfigError(f"--batch_size {batch} does not divide by the {replicas} replicas; "
                              f"use a multiple of {replicas}")
        return batch


# --------------------------------------------------------------------------------------------
# Devices and strategy
# --------------------------------------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class DevicePlan:
    gpus: int
    local_replicas: int
    num_workers: int = 1
    multi_worker: bool = False
    task_type: str = "worker"
    task_index: int = 0
    is_chief: bool = True

    @property
    def replicas(self) -> int:
        return self.local_replicas * self.num_workers


def read_tf_config(environ=os.environ) -> dict | None:
    text = environ.get("TF_CONFIG", "").strip()
    if not text:
        return None
    try:
        tf_config = json.loads(text)
    except ValueError as e:
        raise ConfigError(f"TF_CONFIG is not valid JSON: {e}") from None
    cluster = tf_config.get("cluster") or {}
    if not cluster.get("worker") and not cluster.get("chief"):
        raise ConfigError("TF_CONFIG has no cluster.worker (or cluster.chief) list")
    task = tf_config.get("task") or {}
    if task.get("type") not in ("worker", "chief") or not isinstance(task.get("index"), int):
        raise ConfigError("TF_CONFIG.task must be {\"type\": \"worker\"|\"chief\", \"index\": N}")
    return tf_config


def plan_devices(config: TrainConfig, environ=os.environ) -> DevicePlan:
    """How many replicas the run will have, found without starting the TF runtime."""
    import tensorflow as tf

    gpus = len(tf.config.list_physical_devices("GPU"))
    tf_config = read_tf_config(environ)
    if tf_config is not None:
        if config.cpu_replicas > 1:
            raise ConfigError("--cpu_replicas is for one machine; with TF_CONFIG each CPU "
                              "worker is one replica")
        cluster = tf_config["cluster"]
        task = tf_config["task"]
        workers = len(cluster.get("chief", [])) + len(cluster.get("worker", []))
        is_chief = task["type"] == "chief" or ("chief" not in cluster and task["index"] == 0)
        return DevicePlan(gpus=gpus, local_replicas=max(gpus, 1), num_workers=workers,
                          multi_worker=True, task_type=task["type"], task_index=task["index"],
                          is_chief=is_chief)
    if gpus:
        if config.cpu_replicas > 1:
            log.warning("--cpu_replicas %d ignored: %d GPU(s) visible", config.cpu_replicas, gpus)
        return DevicePlan(gpus=gpus, local_replicas=gpus)
    return DevicePlan(gpus=0, local_replicas=max(1, config.cpu_replicas))


def available_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


def configure_runtime(plan: DevicePlan, threads: int) -> None:
    """Thread pools, logical CPU devices, GPU memory growth and precision; must come before the
    TF runtime starts (the first op). Intra-op threads: the cores given; inter-op: enough for the
    replicas to run side by side. Several TF processes on one machine should split the cores."""
    import keras
    import tensorflow as tf

    try:
        tf.config.threading.set_intra_op_parallelism_threads(threads)
        tf.config.threading.set_inter_op_parallelism_threads(max(2, plan.local_replicas))
    except RuntimeError:
        log.warning("TF runtime already started in this process: thread counts left as they are")
    if plan.gpus:
        for gpu in tf.config.list_physical_devices("GPU"):
            tf.config.experimental.set_memory_growth(gpu, True)
        keras.mixed_precision.set_global_policy("mixed_float16")
    elif plan.local_replicas > 1:
        cpu = tf.config.list_physical_devices("CPU")[0]
        try:
            tf.config.set_logical_device_configuration(
                cpu, [tf.config.LogicalDeviceConfiguration()] * plan.local_replicas)
        except RuntimeError:
            if len(tf.config.list_logical_devices("CPU")) < plan.local_replicas:
                raise ConfigError(f"--cpu_replicas {plan.local_replicas}: the TF runtime already "
                                  f"started in this process; run training in a fresh process"
                                  ) from None
    if not plan.gpus:
        keras.mixed_precision.set_global_policy("float32")


def make_strategy(plan: DevicePlan):
    import tensorflow as tf

    if plan.multi_worker:
        return tf.distribute.MultiWorkerMirroredStrategy()
    if plan.gpus:
        return tf.distribute.MirroredStrategy()
    if plan.local_replicas > 1:
        devices = [d.name for d in tf.config.list_logical_devices("CPU")[:plan.local_replicas]]
        return tf.distribute.MirroredStrategy(devices=devices)
    return tf.distribute.get_strategy()


# --------------------------------------------------------------------------------------------
# The MODEL folder
# --------------------------------------------------------------------------------------------

def _gfile():
    import tensorflow as tf

    return tf.io.gfile


def _join(*parts: str) -> str:
    return os.path.join(*parts)


def _write_json(path: str, obj) -> None:
    gfile = _gfile()
    gfile.makedirs(os.path.dirname(path))
    with gfile.GFile(path + ".tmp", "w") as f:
        f.write(json.dumps(obj, indent=2, sort_keys=True) + "\n")
    _replace(path + ".tmp", path)


def _read_json(path: str):
    gfile = _gfile()
    if not gfile.exists(path):
        return None
    with gfile.GFile(path, "r") as f:
        return json.loads(f.read())


def check_previous_run(model_dir: str, config: TrainConfig) -> None:
    previous = _read_json(_join(model_dir, CONFIG_FILE))
    if not previous:
        return
    changed = [f"{name}: {previous.get(name)!r} -> {getattr(config, name)!r}"
               for name in IDENTITY_FIELDS if previous.get(name) != getattr(config, name)]
    if changed:
        raise ConfigError(f"{model_dir} holds a run of another model ({'; '.join(changed)}); "
                          f"use a new --model_dir")


def read_metrics(path: str) -> list[dict]:
    gfile = _gfile()
    if not gfile.exists(path):
        return []
    with gfile.GFile(path, "r") as f:
        return list(csv.DictReader(f))


def _replace(tmp_path: str, path: str) -> None:
    """Atomic on a local disk (a kill leaves the old file or the new one, never half of one)."""
    _gfile().rename(tmp_path, path, overwrite=True)


def _save_weights_atomically(model, path: str) -> None:
    folder, name = os.path.split(path)
    tmp = _join(folder, f"tmp-{os.getpid()}-{name}")       # Keras wants a .weights.h5 suffix
    model.save_weights(tmp)
    _replace(tmp, path)


def _is_remote(path: str) -> bool:
    return "://" in path


def save_best_weights(model, path: str, epoch: int, val_iou: float) -> None:
    """The weights, with `epoch` and `val_iou` as HDF5 attributes of the same file, put in place
    by one rename: the file never names an epoch whose weights it doesn't hold."""
    import tempfile

    import h5py

    gfile = _gfile()
    folder, name = os.path.split(path)
    with tempfile.TemporaryDirectory() as tmp_dir:
        local = _join(tmp_dir, name)
        model.save_weights(local)
        with h5py.File(local, "a") as f:
            f.attrs[BEST_EPOCH_ATTR] = int(epoch)
            f.attrs[BEST_VAL_IOU_ATTR] = float(val_iou)
        tmp = _join(folder, f"tmp-{os.getpid()}-{name}")
        gfile.copy(local, tmp, overwrite=True)
    _replace(tmp, path)


def read_best_weights_info(path: str) -> dict | None:
    """{"epoch": int | None, "val_iou": float | None} of a best-weights file, None if there is
    none (None values: a file written without the attributes)."""
    import tempfile

    import h5py

    gfile = _gfile()
    if not gfile.exists(path):
        return None
    with tempfile.TemporaryDirectory() as tmp_dir:
        local = path
        if _is_remote(path):
            local = _join(tmp_dir, os.path.basename(path))
            gfile.copy(path, local, overwrite=True)
        with h5py.File(local, "r") as f:
            epoch = f.attrs.get(BEST_EPOCH_ATTR)
            val_iou = f.attrs.get(BEST_VAL_IOU_ATTR)
    return {"epoch": None if epoch is None else int(epoch),
            "val_iou": None if val_iou is None else float(val_iou)}


def _best_weights_class():
    import keras

    class BestWeights(keras.callbacks.Callback):
        """Saves the weights (via `save_best_weights`) whenever val_iou beats the best so far:
        Keras' ModelCheckpoint, plus the epoch and val_iou in the file and an atomic write."""

        def __init__(self, path: str, best: float | None):
            super().__init__()
            self.path = path
            self.best = best

        def on_epoch_end(self, epoch, logs=None):
            value = (logs or {}).get("val_iou")
            if value is None or not math.isfinite(float(value)):
                return
            if self.best is None or float(value) > self.best:
                save_best_weights(self.model, self.path, epoch, float(value))
                log.info("epoch %d: val_iou %.5f, the best so far: saved %s",
                         epoch, float(value), self.path)
                self.best = float(value)

    return BestWeights


def _weigh_val_loss_by_sample_weight(model) -> None:
    """Makes the epoch's val_loss the mean over the real (weight > 0) examples.

    The loss already averages each replica's batch with the sample weights
    (`mean_with_sample_weight`), but Keras 3.15's `test_step` adds that mean to its loss tracker
    weighted by the batch SIZE, blanks included: a padded last batch would count as a full one,
    and a replica that got only blanks (its loss is 0) would pull val_loss down. This `test_step`
    is Keras' own with one change: the tracker's weight is the sum of the sample weights (the
    batch size when there are none), so the tracker (summed over replicas) holds sum(w * loss) /
    sum(w). Training steps are untouched."""
    import types

    import tensorflow as tf
    from keras import tree
    from keras.src.losses import loss as loss_module
    from keras.src.trainers.data_adapters import data_adapter_utils

    def test_step(self, data):
        x, y, sample_weight = data_adapter_utils.unpack_x_y_sample_weight(data)
        y_pred = self(x, training=False) if self._call_has_training_arg else self(x)
        loss = self._compute_loss(x=x, y=y, y_pred=y_pred, sample_weight=sample_weight,
                                  training=False)
        if sample_weight is None:
            weight = tf.shape(next(i for i in tree.flatten(x) if i is not None))[0]
        else:
            weight = tf.reduce_sum(tf.cast(sample_weight, "float32"))
        self._loss_tracker.update_state(loss_module.unscale_loss_for_distribution(loss),
                                        sample_weight=weight)
        return self.compute_metrics(x, y, y_pred, sample_weight=sample_weight)

    model.test_step = types.MethodType(test_step, model)


def _backup_callback(backup_dir: str, is_chief: bool):
    """Keras BackupAndRestore, kept until `last.json` is written (so no kill can lose a finished
    run). Writes go to temporary files renamed into place, weights first: a SIGKILL while saving
    (seen in tests) otherwise leaves a truncated HDF5 file that can't be restored. In a
    multi-worker run only the chief saves; the other workers restore from the chief's backup
    (MODEL must be shared storage), so every worker resumes at the same epoch."""
    import keras

    class Backup(keras.callbacks.BackupAndRestore):
        # Overrides Keras 3.15's private saver; the paths and counters are its own.
        def _save_model(self):
            if not is_chief:
                return
            gfile = _gfile()
            gfile.makedirs(self.backup_dir)
            _save_weights_atomically(self.model, self._weights_path)
            tmp = self._training_metadata_path + ".tmp"
            with gfile.GFile(tmp, "w") as f:
                f.write(json.dumps({"epoch": self._current_epoch,
                                    "batch": self._last_batch_seen}))
            _replace(tmp, self._training_metadata_path)

    return Backup(backup_dir, delete_checkpoint=False)


def _epoch_log_class():
    import keras

    class EpochLog(keras.callbacks.Callback):
        """metrics.csv, one row per finished epoch, flushed at once (so a watcher sees progress).

        On a resumed run, rows of epochs that will run again (the backup is saved after this
        row is written, so a kill in between repeats that epoch) are dropped first: each epoch
        appears exactly once. `attempt` numbers the runs that wrote the rows."""

        def __init__(self, path: str):
            super().__init__()
            self.path = path
            self.attempt = 1
            self._trimmed = False
            self._epoch_start = 0.0

        def on_train_begin(self, logs=None):
            rows = read_metrics(self.path)
            self.attempt = 1 + max([int(r["attempt"]) for r in rows] or [0])

        def on_epoch_begin(self, epoch, logs=None):
            if not self._trimmed:
                self._trimmed = True
                self._write([r for r in read_metrics(self.path) if int(r["epoch"]) < epoch])
            self._epoch_start = time.time()

        def _write(self, rows):
            """Rewrites the whole (small) file through a rename: a kill never leaves half a
            row."""
            gfile = _gfile()
            if not rows:
                if gfile.exists(self.path):
                    gfile.remove(self.path)
                return
            fields = list(rows[0].keys())
            tmp = self.path + ".tmp"
            with gfile.GFile(tmp, "w") as f:
                writer = csv.DictWriter(f, fields, extrasaction="ignore")
                writer.writeheader()
                writer.writerows(rows)
            _replace(tmp, self.path)

        def on_epoch_end(self, epoch, logs=None):
            seconds = time.time() - self._epoch_start
            rows = read_metrics(self.path)
            elapsed = float(rows[-1]["elapsed_s"]) if rows else 0.0
            lr = self.model.optimizer.learning_rate
            row = {"epoch": epoch, "attempt": self.attempt, "seconds": round(seconds, 2),
                   "elapsed_s": round(elapsed + seconds, 2),
                   "learning_rate": float(lr.numpy() if hasattr(lr, "numpy") else lr)}
            row.update({k: float(v) for k, v in sorted((logs or {}).items())
                        if k != "learning_rate"})
            self._write(rows + [row])

    return EpochLog


def _epoch_summaries_class():
    import keras

    class EpochSummaries(keras.callbacks.Callback):
        """TensorBoard scalars per epoch, in Keras' layout (`logs/train`, `logs/validation`,
        tags `epoch_loss`, `epoch_iou`, ...). Keras' own TensorBoard callback needs the
        `tensorboard` package for `tf.summary.scalar`; the core `tf.summary.write` op with the
        scalars plugin's metadata writes the same events without it."""

        def __init__(self, log_dir: str):
            super().__init__()
            self.log_dir = log_dir
            self._writers = {}

        def _writer(self, name):
            import tensorflow as tf

            if name not in self._writers:
                self._writers[name] = tf.summary.create_file_writer(_join(self.log_dir, name))
            return self._writers[name]

        def on_epoch_end(self, epoch, logs=None):
            import tensorflow as tf
            from tensorflow.core.framework import summary_pb2

            metadata = summary_pb2.SummaryMetadata(
                plugin_data=summary_pb2.SummaryMetadata.PluginData(plugin_name="scalars"))
            for key, value in (logs or {}).items():
                split, tag = ("validation", key[4:]) if key.startswith("val_") else ("train", key)
                with self._writer(split).as_default():
                    tf.summary.write(f"epoch_{tag}", tf.constant(float(value), tf.float32),
                                     step=epoch, metadata=metadata)
            for writer in self._writers.values():
                writer.flush()

        def on_train_end(self, logs=None):
            for writer in self._writers.values():
                writer.close()

    return EpochSummaries


# --------------------------------------------------------------------------------------------
# Training curves (Pillow only)
# --------------------------------------------------------------------------------------------

def draw_training_curves(rows: list[dict], path: str) -> None:
    """Two panels, loss and IoU per epoch (train solid-ish, val bright), written as a PNG."""
    from PIL import Image, ImageDraw

    # (title, series, legend at the top?): loss falls, IoU rises; keep the legend off the lines.
    panels = (("loss", ("loss", "val_loss"), True), ("IoU @ 0.5", ("iou", "val_iou"), False))
    width, height, margin = 420, 300, 46
    colours = {0: (90, 110, 200), 1: (230, 120, 30)}
    canvas = Image.new("RGB", (width * len(panels), height), "white")
    draw = ImageDraw.Draw(canvas)
    epochs = [int(r["epoch"]) + 1 for r in rows]
    for p, (title, keys, legend_top) in enumerate(panels):
        x0 = p * width + margin
        x1, y0, y1 = (p + 1) * width - 14, 26, height - 30
        series = [[float(r[k]) for r in rows if r.get(k) not in (None, "")] for k in keys]
        values = [v for s in series for v in s if math.isfinite(v)]
        lo, hi = (min(values), max(values)) if values else (0.0, 1.0)
        if hi - lo < 1e-9:
            lo, hi = lo - 0.5, hi + 0.5
        draw.rectangle([x0, y0, x1, y1], outline=(0, 0, 0))
        draw.text((x0, 6), title, fill=(0, 0, 0))
        draw.text((x0 - 42, y0 - 5), f"{hi:.3g}", fill=(0, 0, 0))
        draw.text((x0 - 42, y1 - 8), f"{lo:.3g}", fill=(0, 0, 0))
        if epochs:
            draw.text((x0, y1 + 6), str(epochs[0]), fill=(0, 0, 0))
            draw.text((x1 - 18, y1 + 6), f"{epochs[-1]}", fill=(0, 0, 0))
            draw.text(((x0 + x1) // 2 - 14, y1 + 6), "epoch", fill=(0, 0, 0))
        span = max(1, (epochs[-1] - epochs[0]) if epochs else 1)
        for i, (key, values_k) in enumerate(zip(keys, series)):
            pts = [(x0 + (e - epochs[0]) / span * (x1 - x0),
                    y1 - (v - lo) / (hi - lo) * (y1 - y0))
                   for e, v in zip(epochs, values_k) if math.isfinite(v)]
            if len(pts) > 1:
                draw.line(pts, fill=colours[i], width=2)
            for x, y in pts:
                draw.ellipse([x - 2, y - 2, x + 2, y + 2], fill=colours[i])
            legend_y = y0 + 6 if legend_top else y1 - 30
            draw.text((x1 - 70, legend_y + 12 * i), key, fill=colours[i])
    with _gfile().GFile(path, "wb") as f:
        canvas.save(f, "PNG")


# --------------------------------------------------------------------------------------------
# The run
# --------------------------------------------------------------------------------------------

@dataclasses.dataclass
class TrainResult:
    config: dict            # what config.json holds
    model: object           # the trained keras.Model (float32 clone, as exported)
    export_dir: str | None  # None on non-chief workers
    epochs_run: int         # epochs trained by this call (0 when it only re-exported)


def parse_args(argv=None) -> TrainConfig:
    p = argparse.ArgumentParser(prog="python -m model.train", description=__doc__.split("\n")[0])
    d = TrainConfig("", "")
    p.add_argument("--data_dir", required=True, help="pipelines.preprocess output (OUT)")
    p.add_argument("--model_dir", required=True, help="where everything is written (MODEL)")
    p.add_argument("--epochs", type=int, default=d.epochs)
    p.add_argument("--batch_size", type=int, default=None,
                   help=f"GLOBAL batch (default {d.per_replica_batch} x replicas)")
    p.add_argument("--per_replica_batch", type=int, default=d.per_replica_batch)
    p.add_argument("--learning_rate", type=float, default=d.learning_rate,
                   help="per replica; the optimizer uses it x num_replicas_in_sync")
    p.add_argument("--architecture", default=d.architecture, choices=unet.ARCHITECTURES)
    p.add_argument("--encoder_weights", default=d.encoder_weights, choices=unet.ENCODER_WEIGHTS)
    p.add_argument("--base_filters", type=int, default=d.base_filters)
    p.add_argument("--bn_momentum", type=float, default=d.bn_momentum)
    p.add_argument("--cpu_replicas", type=int, default=d.cpu_replicas,
                   help="with no GPU, split the CPU into this many logical devices")
    p.add_argument("--threads", type=int, default=d.threads,
                   help="TF intra-op and tf.data threads (0: all cores this process may use)")
    p.add_argument("--seed", type=int, default=d.seed)
    p.add_argument("--no_augment", dest="augment", action="store_false")
    args = p.parse_args(argv)
    return TrainConfig(**vars(args))


def run(argv=None) -> TrainResult:
    config = parse_args(argv)
    config.validate()
    plan = plan_devices(config)
    global_batch = config.global_batch(plan.replicas)
    info = data_lib.inspect_data_dir(config.data_dir)
    config.image_size = info.image_size
    try:
        unet.check_model_config(config.architecture, config.image_size, config.base_filters,
                                config.encoder_weights, config.bn_momentum)
    except ValueError as e:
        raise ConfigError(str(e)) from None
    check_previous_run(config.model_dir, config)
    threads = config.threads or available_cores()
    configure_runtime(plan, threads)
    strategy = make_strategy(plan)
    if strategy.num_replicas_in_sync != plan.replicas:
        raise ConfigError(f"expected {plan.replicas} replicas, the strategy has "
                          f"{strategy.num_replicas_in_sync}")
    return _train(config, plan, strategy, info, global_batch, threads)


def _work_around_keras_multi_worker(model, element_spec) -> None:
    """Keras 3.15's `fit` is broken under MultiWorkerMirroredStrategy (keras-team/keras#20585),
    in two places; both are worked around here, for multi-worker runs only:
    - fit/evaluate first build the compiled loss and metrics from a batch that they MEAN-reduce
      across replicas, which fails on the (x, y) structure ("Attempt to convert a value
      (PerReplica...)"). The same state is built here from the dataset's element spec (shapes
      only), inside the strategy's scope, and that step is skipped.
    - each step's logs (scalars) are reduced across workers with `reduce(MEAN, axis=0)`, which
      fails on rank-0 values ("Invalid reduction dimension 0"). Scalars are reduced with
      axis=None (a plain all-reduce mean) instead; everything else is left to Keras.
    """
    from keras import tree
    from keras.src.backend.tensorflow import trainer as tf_trainer

    model._symbolic_build(data_batch=element_spec)
    model._maybe_symbolic_build = lambda iterator=None, data_batch=None: None

    original = tf_trainer.reduce_per_replica
    if getattr(original, "cutout_patched", False):
        return

    def reduce_per_replica(values, strategy, reduction="auto"):
        if (reduction not in ("auto", "mean")
                or not tf_trainer._collective_all_reduce_multi_worker(strategy)):
            return original(values, strategy, reduction=reduction)

        def reduce_one(v):
            local = strategy.experimental_local_results(v)
            if getattr(local[0], "shape", None) is not None and local[0].shape.rank == 0:
                return strategy.reduce("MEAN", v, axis=None)
            return original(v, strategy, reduction=reduction)

        return tree.map_structure(reduce_one, values)

    reduce_per_replica.cutout_patched = True
    tf_trainer.reduce_per_replica = reduce_per_replica


def _strategy_name(strategy, plan: DevicePlan) -> str:
    # MultiWorkerMirroredStrategy's class is named CollectiveAllReduceStrategy.
    return "MultiWorkerMirroredStrategy" if plan.multi_worker else type(strategy).__name__


def _strategy_devices(strategy) -> list[str]:
    try:
        return list(strategy.extended.worker_devices)
    except RuntimeError:          # the default (no-op) strategy: one device, TF's choice
        import tensorflow as tf

        return [tf.config.list_logical_devices("GPU" if tf.config.list_logical_devices("GPU")
                                               else "CPU")[0].name]


def _train(config: TrainConfig, plan: DevicePlan, strategy, info: data_lib.DataInfo,
           global_batch: int, threads: int) -> TrainResult:
    import keras
    import tensorflow as tf

    from model import export, losses, transform

    keras.utils.set_random_seed(config.seed)
    gfile = _gfile()
    chief = plan.is_chief
    checkpoints = _join(config.model_dir, CHECKPOINT_DIR)
    backup_dir = _join(config.model_dir, BACKUP_DIR)
    metrics_path = _join(config.model_dir, METRICS_FILE)
    if chief:
        gfile.makedirs(checkpoints)
    mean, std = transform.load_normalization(_join(config.data_dir, schema.TRANSFORM_DIR))
    n_train = data_lib.count_records(info.shards[data_lib.TRAIN])
    n_val = data_lib.count_records(info.shards[data_lib.VAL])
    steps_per_epoch = max(1, math.ceil(n_train / global_batch))
    val_steps = max(1, math.ceil(n_val / global_batch))
    lr = config.learning_rate * strategy.num_replicas_in_sync
    resolved = dataclasses.asdict(config)
    resolved["runtime"] = {
        "num_replicas_in_sync": int(strategy.num_replicas_in_sync),
        "num_workers": plan.num_workers, "local_replicas": plan.local_replicas,
        "gpus": plan.gpus, "strategy": _strategy_name(strategy, plan),
        "devices": _strategy_devices(strategy),
        "global_batch": global_batch,
        "per_replica_batch": global_batch // strategy.num_replicas_in_sync,
        "effective_learning_rate": lr, "mixed_precision": bool(plan.gpus),
        "threads": threads, "train_examples": n_train, "val_examples": n_val,
        "steps_per_epoch": steps_per_epoch, "val_steps": val_steps,
        "mean": [float(v) for v in mean], "std": [float(v) for v in std],
        "tensorflow": tf.__version__, "keras": keras.__version__,
    }
    if chief:
        _write_json(_join(config.model_dir, CONFIG_FILE), resolved)
    log.info("%s: %d replica(s), global batch %d, lr %.3g, %d train / %d val examples, "
             "%d steps per epoch", _strategy_name(strategy, plan), strategy.num_replicas_in_sync,
             global_batch, lr, n_train, n_val, steps_per_epoch)

    shard_by_files = plan.multi_worker and len(info.shards[data_lib.TRAIN]) >= plan.num_workers
    train_ds = data_lib.make_train_dataset(
        info.shards[data_lib.TRAIN], config.image_size, global_batch, mean, std,
        seed=config.seed, augment_config=data_lib.AugmentConfig() if config.augment else None,
        threads=threads, shard_by_files=shard_by_files)
    val_ds = data_lib.make_eval_dataset(info.shards[data_lib.VAL], config.image_size,
                                        global_batch, mean, std, n_val, threads=threads,
                                        repeat=True)

    with strategy.scope():
        model = unet.build_model(config)
        schedule = keras.optimizers.schedules.CosineDecay(
            lr, decay_steps=config.epochs * steps_per_epoch,
            alpha=config.min_learning_rate_fraction)
        # weighted_metrics, not metrics: Keras 3 updates `metrics` WITHOUT the sample weights,
        # so the weight-0 blanks padding the last validation batch would be scored too (a blank
        # predicted empty scores IoU 1: val_iou, which picks the best weights, biased high).
        model.compile(optimizer=keras.optimizers.Adam(schedule), loss=losses.make_loss(),
                      weighted_metrics=losses.make_metrics())
        model.optimizer.build(model.trainable_variables)
        _weigh_val_loss_by_sample_weight(model)
        if plan.multi_worker:
            _work_around_keras_multi_worker(model, train_ds.element_spec)

    # Every worker decides from the chief's files, so they all take the same path.
    done = int((_read_json(_join(checkpoints, LAST_STATE)) or {}).get("epochs_completed", 0))
    epochs_run = 0
    if done:
        model.load_weights(_join(checkpoints, LAST_WEIGHTS))   # weights and optimizer state
    if done >= config.epochs:
        log.info("%s already trained %d epochs (asked for %d): exporting only",
                 config.model_dir, done, config.epochs)
    else:
        callbacks = [_backup_callback(backup_dir, chief)]
        if chief:
            best = read_best_weights_info(_join(checkpoints, BEST_WEIGHTS))
            best_so_far = [float(r["val_iou"]) for r in read_metrics(metrics_path)
                           if r.get("val_iou")]
            threshold = (best["val_iou"] if best and best["val_iou"] is not None
                         else max(best_so_far) if best and best_so_far else None)
            # The row is written before the backup, so a kill between the two re-runs that
            # epoch, and EpochLog drops its old row: each epoch is in metrics.csv once. The best
            # weights are saved before the backup too, so they always include every epoch the
            # backup counts as done.
            callbacks = [_epoch_log_class()(metrics_path),
                         _best_weights_class()(_join(checkpoints, BEST_WEIGHTS), threshold)
                         ] + callbacks + [
                _epoch_summaries_class()(_join(config.model_dir, LOGS_DIR)),
            ]
        history = model.fit(train_ds, epochs=config.epochs, steps_per_epoch=steps_per_epoch,
                            validation_data=val_ds, validation_steps=val_steps,
                            initial_epoch=done, callbacks=callbacks, shuffle=False, verbose=2)
        epochs_run = len(history.epoch)
        if chief:
            _save_weights_atomically(model, _join(checkpoints, LAST_WEIGHTS))
            _write_json(_join(checkpoints, LAST_STATE), {"epochs_completed": config.epochs})
    if chief and gfile.exists(backup_dir):
        gfile.rmtree(backup_dir)

    # Export a float32 copy outside the strategy: no distributed variables, no float16.
    keras.mixed_precision.set_global_policy("float32")
    serving_model = unet.build_model(config)
    serving_model.set_weights(model.get_weights())
    rows = read_metrics(metrics_path)
    export_dir = None
    if chief:
        # The best weights by val_iou, when there are any (the last epoch's otherwise).
        best_path = _join(checkpoints, BEST_WEIGHTS)
        best = read_best_weights_info(best_path)
        exported_row = None
        if best is not None:
            serving_model.load_weights(best_path)
            if best["epoch"] is None:        # a file from before the attributes: metrics.csv
                scored = [r for r in rows if r.get("val_iou")]
                if scored:
                    top = max(scored, key=lambda r: float(r["val_iou"]))
                    best = {"epoch": int(top["epoch"]), "val_iou": float(top["val_iou"])}
            exported_row = next((r for r in rows if best["epoch"] is not None
                                 and int(r["epoch"]) == best["epoch"]), None)
            exported_epoch = best["epoch"]
            described = (f"best (epoch {best['epoch']}, val_iou {best['val_iou']:.6g})"
                         if best["epoch"] is not None else "best")
        else:
            exported_row = rows[-1] if rows else None
            exported_epoch = int(rows[-1]["epoch"]) if rows else None
            described = (f"last (epoch {exported_epoch}; no {BEST_WEIGHTS})"
                         if rows else f"last (no {BEST_WEIGHTS})")
        resolved["exported_weights"] = described
        resolved["exported_epoch"] = exported_epoch
        _write_json(_join(config.model_dir, CONFIG_FILE), resolved)

        def _metrics(row):
            return {k: float(v) for k, v in row.items()
                    if k.startswith(("val_", "iou", "mae", "loss"))} if row else {}

        export_dir = _join(config.model_dir, export.EXPORT_SUBDIR)
        if gfile.exists(export_dir):
            gfile.rmtree(export_dir)
        export.export_model(serving_model, export_dir, config.image_size, mean, std,
                            extra_metadata={"architecture": config.architecture,
                                            "config": resolved, "epochs_trained": len(rows),
                                            "final_metrics": _metrics(rows[-1] if rows else None),
                                            "exported_weights": described,
                                            "exported_epoch": exported_epoch,
                                            "exported_metrics": _metrics(exported_row)})
        if rows:
            draw_training_curves(rows, _join(config.model_dir, CURVES_FILE))
        log.info("exported %s (%d epochs; weights: %s)", export_dir, len(rows), described)
    return TrainResult(config=resolved, model=serving_model, export_dir=export_dir,
                       epochs_run=epochs_run)


def main(argv=None) -> None:
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(asctime)s %(name)s: %(message)s"))
    log.addHandler(handler)
    log.setLevel(logging.INFO)
    log.propagate = False
    try:
        run(argv)
    except (ConfigError, data_lib.DataError) as e:
        sys.exit(f"model.train: error: {e}")


if __name__ == "__main__":
    main()

"""The training callbacks that write the MODEL folder as the epochs finish (model/checkpoints.py
names the files). `model.train` orders them: EpochLog, BestWeights, then the backup
(`keras_internals.Backup`), so the row and the best weights of an epoch are on disk before the
backup counts it as done, then EpochSummaries."""
from __future__ import annotations

import logging
import math
import os
import time

import keras

from model import checkpoints

log = logging.getLogger("model.train")


class BestWeights(keras.callbacks.Callback):
    """Saves the weights (via `checkpoints.save_best_weights`) whenever val_iou beats the best so
    far: Keras' ModelCheckpoint, plus the epoch and val_iou in the file and an atomic write."""

    def __init__(self, path: str, best: float | None):
        super().__init__()
        self.path = path
        self.best = best

    def on_epoch_end(self, epoch, logs=None):
        value = (logs or {}).get("val_iou")
        if value is None or not math.isfinite(float(value)):
            return
        if self.best is None or float(value) > self.best:
            checkpoints.save_best_weights(self.model, self.path, epoch, float(value))
            log.info("epoch %d: val_iou %.5f, the best so far: saved %s",
                     epoch, float(value), self.path)
            self.best = float(value)


class EpochLog(keras.callbacks.Callback):
    """metrics.csv, one row per finished epoch, flushed at once (so a watcher sees progress).

    On a resumed run, rows of epochs that will run again (the backup is saved after this row is
    written, so a kill in between repeats that epoch) are dropped first: each epoch appears
    exactly once. `attempt` numbers the runs that wrote the rows."""

    def __init__(self, path: str):
        super().__init__()
        self.path = path
        self.attempt = 1
        self._trimmed = False
        self._epoch_start = 0.0

    def on_train_begin(self, logs=None):
        rows = checkpoints.read_metrics(self.path)
        self.attempt = 1 + max([int(r["attempt"]) for r in rows] or [0])

    def on_epoch_begin(self, epoch, logs=None):
        if not self._trimmed:
            self._trimmed = True
            checkpoints.write_metrics(self.path, [r for r in checkpoints.read_metrics(self.path)
                                                  if int(r["epoch"]) < epoch])
        self._epoch_start = time.time()

    def on_epoch_end(self, epoch, logs=None):
        seconds = time.time() - self._epoch_start
        rows = checkpoints.read_metrics(self.path)
        elapsed = float(rows[-1]["elapsed_s"]) if rows else 0.0
        lr = self.model.optimizer.learning_rate
        row = {"epoch": epoch, "attempt": self.attempt, "seconds": round(seconds, 2),
               "elapsed_s": round(elapsed + seconds, 2),
               "learning_rate": float(lr.numpy() if hasattr(lr, "numpy") else lr)}
        row.update({k: float(v) for k, v in sorted((logs or {}).items())
                    if k != "learning_rate"})
        checkpoints.write_metrics(self.path, rows + [row])


class EpochSummaries(keras.callbacks.Callback):
    """TensorBoard scalars per epoch, in Keras' layout (`logs/train`, `logs/validation`, tags
    `epoch_loss`, `epoch_iou`, ...). Keras' own TensorBoard callback needs the `tensorboard`
    package for `tf.summary.scalar`; the core `tf.summary.write` op with the scalars plugin's
    metadata writes the same events without it."""

    def __init__(self, log_dir: str):
        super().__init__()
        self.log_dir = log_dir
        self._writers = {}

    def _writer(self, name):
        import tensorflow as tf

        if name not in self._writers:
            self._writers[name] = tf.summary.create_file_writer(os.path.join(self.log_dir, name))
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

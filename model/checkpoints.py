"""The MODEL folder's files, written so that a kill never leaves half of one.

- `config.json` and `checkpoints/last.json`: JSON, written to a temporary file and renamed.
- `metrics.csv`: one row per finished epoch, rewritten whole through a rename. Columns written
  before the training metric "mae" was renamed "mad" (raw alpha MAD, evaluate's `mad`; evaluate's
  `mae` is the salient-object one) are read under the new names, so older runs resume.
- `checkpoints/best.weights.h5`: the weights of the best epoch by val_iou, with the epoch and its
  val_iou as HDF5 attributes of the same file, put in place by one rename.
- `checkpoints/last.weights.h5`: the finished run's weights and optimizer state.
Renames are atomic on a local disk.
"""
from __future__ import annotations

import csv
import dataclasses
import json
import os

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
RENAMED_COLUMNS = {"mae": "mad", "val_mae": "val_mad"}   # metrics.csv of older runs
METRIC_COLUMNS = ("val_", "iou", "mad", "loss")          # prefixes of the metrics in a row


def gfile():
    import tensorflow as tf

    return tf.io.gfile


def replace(tmp_path: str, path: str) -> None:
    """Atomic on a local disk (a kill leaves the old file or the new one, never half of one)."""
    gfile().rename(tmp_path, path, overwrite=True)


def write_json(path: str, obj) -> None:
    fs = gfile()
    fs.makedirs(os.path.dirname(path))
    with fs.GFile(path + ".tmp", "w") as f:
        f.write(json.dumps(obj, indent=2, sort_keys=True) + "\n")
    replace(path + ".tmp", path)


def read_json(path: str):
    fs = gfile()
    if not fs.exists(path):
        return None
    with fs.GFile(path, "r") as f:
        return json.loads(f.read())


def read_metrics(path: str) -> list[dict]:
    fs = gfile()
    if not fs.exists(path):
        return []
    with fs.GFile(path, "r") as f:
        return [{RENAMED_COLUMNS.get(k, k): v for k, v in row.items()}
                for row in csv.DictReader(f)]


def write_metrics(path: str, rows: list[dict]) -> None:
    """Rewrites the whole (small) file through a rename: a kill never leaves half a row."""
    fs = gfile()
    if not rows:
        if fs.exists(path):
            fs.remove(path)
        return
    fields = list(rows[0].keys())
    tmp = path + ".tmp"
    with fs.GFile(tmp, "w") as f:
        writer = csv.DictWriter(f, fields, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)
    replace(tmp, path)


def epoch_metrics(row: dict | None) -> dict:
    """The metrics of a metrics.csv row, as floats (no epoch, attempt, timings)."""
    return {k: float(v) for k, v in row.items() if k.startswith(METRIC_COLUMNS)} if row else {}


def save_weights_atomically(model, path: str) -> None:
    folder, name = os.path.split(path)
    tmp = os.path.join(folder, f"tmp-{os.getpid()}-{name}")   # Keras wants a .weights.h5 suffix
    model.save_weights(tmp)
    replace(tmp, path)


def save_best_weights(model, path: str, epoch: int, val_iou: float) -> None:
    """The weights, with `epoch` and `val_iou` as HDF5 attributes of the same file, put in place
    by one rename: the file never names an epoch whose weights it doesn't hold."""
    import tempfile

    import h5py

    folder, name = os.path.split(path)
    with tempfile.TemporaryDirectory() as tmp_dir:
        local = os.path.join(tmp_dir, name)
        model.save_weights(local)
        with h5py.File(local, "a") as f:
            f.attrs[BEST_EPOCH_ATTR] = int(epoch)
            f.attrs[BEST_VAL_IOU_ATTR] = float(val_iou)
        tmp = os.path.join(folder, f"tmp-{os.getpid()}-{name}")
        gfile().copy(local, tmp, overwrite=True)
    replace(tmp, path)


def read_best_weights_info(path: str) -> dict | None:
    """{"epoch": int | None, "val_iou": float | None} of a best-weights file, None if there is
    none (None values: a file written without the attributes)."""
    import tempfile

    import h5py

    fs = gfile()
    if not fs.exists(path):
        return None
    with tempfile.TemporaryDirectory() as tmp_dir:
        local = path
        if "://" in path:
            local = os.path.join(tmp_dir, os.path.basename(path))
            fs.copy(path, local, overwrite=True)
        with h5py.File(local, "r") as f:
            epoch = f.attrs.get(BEST_EPOCH_ATTR)
            val_iou = f.attrs.get(BEST_VAL_IOU_ATTR)
    return {"epoch": None if epoch is None else int(epoch),
            "val_iou": None if val_iou is None else float(val_iou)}


def best_val_iou(checkpoints_dir: str, metrics_path: str) -> float | None:
    """The val_iou a new epoch must beat to replace the best weights (None: no best yet)."""
    best = read_best_weights_info(os.path.join(checkpoints_dir, BEST_WEIGHTS))
    if best is None:
        return None
    if best["val_iou"] is not None:
        return best["val_iou"]
    scored = [float(r["val_iou"]) for r in read_metrics(metrics_path) if r.get("val_iou")]
    return max(scored) if scored else None


@dataclasses.dataclass(frozen=True)
class ExportedWeights:
    path: str | None        # the best-weights file; None: the model's own (last epoch's) weights
    epoch: int | None       # numbered as in metrics.csv, from 0
    described: str          # what config.json and the export say, e.g. "best (epoch 3, ...)"
    row: dict | None        # that epoch's metrics.csv row


def choose_exported_weights(checkpoints_dir: str, rows: list[dict]) -> ExportedWeights:
    """The best weights by val_iou when there are any, the last epoch's otherwise."""
    best_path = os.path.join(checkpoints_dir, BEST_WEIGHTS)
    best = read_best_weights_info(best_path)
    if best is not None:
        if best["epoch"] is None:        # a file from before the attributes: metrics.csv
            scored = [r for r in rows if r.get("val_iou")]
            if scored:
                top = max(scored, key=lambda r: float(r["val_iou"]))
                best = {"epoch": int(top["epoch"]), "val_iou": float(top["val_iou"])}
        row = next((r for r in rows if best["epoch"] is not None
                    and int(r["epoch"]) == best["epoch"]), None)
        described = (f"best (epoch {best['epoch']}, val_iou {best['val_iou']:.6g})"
                     if best["epoch"] is not None else "best")
        return ExportedWeights(best_path, best["epoch"], described, row)
    if not rows:
        return ExportedWeights(None, None, f"last (no {BEST_WEIGHTS})", None)
    epoch = int(rows[-1]["epoch"])
    return ExportedWeights(None, epoch, f"last (epoch {epoch}; no {BEST_WEIGHTS})", rows[-1])

"""model.train end to end, as users run it (a subprocess per run: logical CPU devices and thread
pools can only be set before the TF runtime starts, once per process).

Covers: two mirrored CPU replicas for real; the artefacts; val_loss is the mean over the real
validation examples (the last batch is padded with blanks); the export holds the best weights by
val_iou and equals them after everything else (MODEL's other files and the data) is deleted,
also when the best epoch is provably not the last; re-running a finished run only re-exports;
a SIGKILLed run resumes at its stored epoch; MultiWorkerMirroredStrategy with two worker
processes on 127.0.0.1; bad inputs fail clearly before any work."""
from __future__ import annotations

import csv
import gzip
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time

import h5py
import numpy as np
import pytest
from PIL import Image

import tensorflow as tf

from model import data as data_lib
from model import checkpoints, export, losses, schema, tfrecord, train, train_config, transform
from model.architectures import build_model
from model.errors import JobError
from pipelines.core.imaging import encode_png

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
# The training machinery's tests run the small from-scratch U-Net (fast, rebuilt from config.json
# by `_model_with`); the default architecture (efficientnet_lite0_unet) has its own tests in
# test_train_pretrained.py.
UNET = ("--architecture", "unet")


def _env(**extra):
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", PYTHONUNBUFFERED="1")
    env.pop("TF_CONFIG", None)
    env.update(extra)
    return env


def _cmd(data_dir, model_dir, *args):
    return [sys.executable, "-m", "model.train", "--data_dir", data_dir, "--model_dir",
            model_dir, *args]


def _train(data_dir, model_dir, *args, timeout=300):
    proc = subprocess.run(_cmd(data_dir, model_dir, *args), cwd=REPO, env=_env(),
                          capture_output=True, text=True, timeout=timeout)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return proc.stdout + proc.stderr


def _rows(model_dir):
    with open(os.path.join(model_dir, checkpoints.METRICS_FILE)) as f:
        return list(csv.DictReader(f))


def _model_with(config, weights_path):
    model = build_model(train_config.exported_model_config(config))
    model.load_weights(weights_path)
    return model


def _served(model, normalised, config):
    """What the export serves for these pixels: the model's prediction, averaged with its mirror's
    under the config's `tta="flip"` (model.export)."""
    prediction = np.asarray(model(normalised, training=False))
    if config["tta"] == "flip":
        mirrored = np.asarray(model(normalised[:, :, ::-1], training=False))[:, :, ::-1]
        prediction = (prediction + mirrored) / 2
    return prediction


def _best_row(rows):
    """The first epoch with the highest val_iou (a later tie is no improvement)."""
    return max(rows, key=lambda r: (float(r["val_iou"]), -int(r["epoch"])))


def test_two_replicas_train_and_the_export_is_self_contained(tiny_data, tmp_path):
    src, arrays = tiny_data
    data_dir = str(tmp_path / "data")
    shutil.copytree(src, data_dir)                 # deleted below; the fixture is shared
    model_dir = str(tmp_path / "model")
    args = ("--epochs", "2", "--cpu_replicas", "2", "--batch_size", "4", "--threads", "2", *UNET)
    _train(data_dir, model_dir, *args)

    config = json.load(open(os.path.join(model_dir, checkpoints.CONFIG_FILE)))
    runtime = config["runtime"]
    assert runtime["num_replicas_in_sync"] == 2 and runtime["strategy"] == "MirroredStrategy"
    assert len(runtime["devices"]) == 2 and runtime["per_replica_batch"] == 2
    assert runtime["effective_learning_rate"] == pytest.approx(2 * config["learning_rate"])
    assert config["image_size"] == 32 and runtime["train_examples"] == 16
    # The normalisation is the analysis of the training images (mean of per-image means).
    pixel_mean = np.mean([img.reshape(-1, 3).mean(0) for img in arrays["images"]["train"]], 0)
    np.testing.assert_allclose(runtime["mean"], pixel_mean, rtol=1e-4)

    rows = _rows(model_dir)
    assert [int(r["epoch"]) for r in rows] == [0, 1]
    assert all(np.isfinite(float(r[k])) for r in rows for k in ("loss", "val_loss", "val_iou"))
    assert os.listdir(os.path.join(model_dir, "logs", "train"))
    assert os.listdir(os.path.join(model_dir, "logs", "validation"))
    assert Image.open(os.path.join(model_dir, checkpoints.CURVES_FILE)).size[0] > 400
    for name in (checkpoints.BEST_WEIGHTS, checkpoints.LAST_WEIGHTS, checkpoints.LAST_STATE):
        assert os.path.exists(os.path.join(model_dir, checkpoints.CHECKPOINT_DIR, name))
    assert not os.path.exists(os.path.join(model_dir, checkpoints.BACKUP_DIR))

    # The last epoch's val_loss, val_iou and val_mad are the means over the 6 real validation
    # examples, although the last batch (global 4) is 2 real + 2 weight-0 blanks, and on 2
    # replicas one replica gets only blanks. Counting the blanks moves val_loss by ~25% (x 6/8)
    # and val_iou far more (a blank predicted empty scores 1). BatchNorm is synchronized across
    # replicas, so the mirrored evaluation sees the same moving averages as the saved weights
    # (unsynchronized, each replica kept its own and validation drifted 2-7% from them).
    checkpoints_dir = os.path.join(model_dir, checkpoints.CHECKPOINT_DIR)
    mean, std = transform.load_normalization(os.path.join(data_dir, "transform"))
    val = data_lib.make_eval_dataset(data_lib.list_shards(data_dir, "val"), 32, 6, mean, std, 6)
    (val_x, val_y, val_w), = list(val)
    assert float(tf.reduce_sum(val_w)) == 6
    last_model = _model_with(config, os.path.join(checkpoints_dir, checkpoints.LAST_WEIGHTS))
    val_p = last_model(val_x, training=False)
    per_image = losses.BceDiceLoss(boundary_weight=config["boundary_weight"],
                                   reduction="none")(val_y, val_p)
    assert float(rows[-1]["val_loss"]) == pytest.approx(float(np.mean(per_image)), rel=1e-3)
    for name, metric in (("val_iou", losses.ThresholdedIoU()), ("val_mad", losses.MaskMAD())):
        metric.update_state(val_y, val_p)
        assert float(rows[-1][name]) == pytest.approx(float(metric.result()), rel=1e-3), name

    # The export holds the best weights by val_iou, and says so.
    best = _best_row(rows)
    best_info = checkpoints.read_best_weights_info(
        os.path.join(checkpoints_dir, checkpoints.BEST_WEIGHTS))
    assert best_info == {"epoch": int(best["epoch"]),
                         "val_iou": pytest.approx(float(best["val_iou"]), rel=1e-6)}
    described = f"best (epoch {best['epoch']}, val_iou {float(best['val_iou']):.6g})"
    metadata = json.load(open(os.path.join(model_dir, "export", export.METADATA_FILE)))
    assert metadata["exported_weights"] == described
    assert metadata["exported_epoch"] == int(best["epoch"])
    assert metadata["exported_metrics"]["val_iou"] == pytest.approx(float(best["val_iou"]))
    config = json.load(open(os.path.join(model_dir, checkpoints.CONFIG_FILE)))
    assert config["exported_weights"] == described

    # Re-running a finished run trains nothing and exports again (the same best weights).
    os.remove(os.path.join(model_dir, "export", export.METADATA_FILE))
    out = _train(data_dir, model_dir, *args)
    assert "exporting only" in out and len(_rows(model_dir)) == 2
    metadata = json.load(open(os.path.join(model_dir, "export", export.METADATA_FILE)))
    assert metadata["architecture"] == "unet" and metadata["epochs_trained"] == 2
    assert metadata["exported_weights"] == described
    assert metadata["config"]["runtime"]["num_replicas_in_sync"] == 2
    np.testing.assert_allclose(metadata["mean"], runtime["mean"], rtol=1e-6)

    # The best model: rebuilt from config.json and the best checkpoint, fed normalised pixels by
    # hand.
    model = _model_with(config, os.path.join(checkpoints_dir, checkpoints.BEST_WEIGHTS))
    images = np.stack(arrays["images"]["test"]).astype(np.uint8)
    normalised = (images.astype(np.float32) - mean) / std
    expected = _served(model, normalised, config)
    assert expected.shape == (4, 32, 32, 1) and expected.std() > 0

    # Delete everything but the export, and the data; the export must still serve.
    for name in os.listdir(model_dir):
        if name != export.EXPORT_SUBDIR:
            path = os.path.join(model_dir, name)
            shutil.rmtree(path) if os.path.isdir(path) else os.remove(path)
    shutil.rmtree(data_dir)
    _, serve_bytes, serve_resized = export.load_export(os.path.join(model_dir, "export"))
    got = serve_resized(images=images)["alpha"].numpy()
    np.testing.assert_allclose(got, expected, atol=1e-5)
    png = encode_png(Image.fromarray(images[0], "RGB"), "fast")
    served = serve_bytes(image_bytes=tf.constant([png]))
    np.testing.assert_allclose(served["alpha"].numpy()[0], expected[0], atol=1e-5)


def test_mixed_float16_on_two_cpu_replicas_trains_and_serves_float32(tiny_data, tmp_path):
    """The GPU's precision, on the CPU: float16 layers, a float32 head and loss, mirrored over
    two logical devices; the export is a float32 model serving float32 alpha."""
    data_dir, arrays = tiny_data
    model_dir = str(tmp_path / "model")
    # float16 kernels on a CPU are Eigen's slow fallback (oneDNN has them only with AVX-512).
    _train(data_dir, model_dir, "--epochs", "2", "--precision", "mixed_float16", *UNET,
           "--cpu_replicas", "2", "--batch_size", "4", "--base_filters", "4", "--threads", "2",
           timeout=600)
    runtime = json.load(open(os.path.join(model_dir, checkpoints.CONFIG_FILE)))["runtime"]
    assert runtime["mixed_precision"] is True and runtime["dtype_policy"] == "mixed_float16"
    assert runtime["output_dtype"] == "float32" and runtime["num_replicas_in_sync"] == 2
    rows = _rows(model_dir)
    assert len(rows) == 2
    assert all(np.isfinite(float(r[k])) for r in rows for k in ("loss", "val_loss", "val_iou"))
    images = np.stack(arrays["images"]["test"]).astype(np.uint8)
    _, _, serve_resized = export.load_export(os.path.join(model_dir, "export"))
    alpha = serve_resized(images=images)["alpha"].numpy()
    assert alpha.dtype == np.float32 and alpha.shape == (4, 32, 32, 1)
    assert np.isfinite(alpha).all() and 0.0 <= alpha.min() and alpha.max() <= 1.0


def test_the_export_holds_the_best_epoch_when_later_epochs_are_worse(tiny_data, tmp_path):
    """Made deterministic: after one epoch (the best so far, as the first scored epoch always
    is), its val_iou in the best-weights file is raised to 1, the most an IoU can be, so no
    epoch of the resumed run can beat it. The export must then hold epoch 0's weights, not the
    last epoch's, which provably differ."""
    data_dir, arrays = tiny_data
    model_dir = str(tmp_path / "model")
    args = ("--base_filters", "4", "--batch_size", "8", "--threads", "2", *UNET)
    _train(data_dir, model_dir, "--epochs", "1", *args)
    checkpoints_dir = os.path.join(model_dir, checkpoints.CHECKPOINT_DIR)
    best_path = os.path.join(checkpoints_dir, checkpoints.BEST_WEIGHTS)
    assert checkpoints.read_best_weights_info(best_path)["epoch"] == 0
    epoch0 = str(tmp_path / "epoch0.weights.h5")
    shutil.copy(best_path, epoch0)
    with h5py.File(best_path, "a") as f:
        f.attrs[checkpoints.BEST_VAL_IOU_ATTR] = 1.0

    _train(data_dir, model_dir, "--epochs", "3", *args)
    rows = _rows(model_dir)
    assert [int(r["epoch"]) for r in rows] == [0, 1, 2]
    assert checkpoints.read_best_weights_info(best_path) == {"epoch": 0, "val_iou": 1.0}
    described = "best (epoch 0, val_iou 1)"
    config = json.load(open(os.path.join(model_dir, checkpoints.CONFIG_FILE)))
    metadata = json.load(open(os.path.join(model_dir, "export", export.METADATA_FILE)))
    assert config["exported_weights"] == metadata["exported_weights"] == described
    assert config["exported_epoch"] == metadata["exported_epoch"] == 0
    assert metadata["exported_metrics"]["val_iou"] == pytest.approx(float(rows[0]["val_iou"]))
    assert metadata["final_metrics"]["val_iou"] == pytest.approx(float(rows[-1]["val_iou"]))

    images = np.stack(arrays["images"]["test"]).astype(np.uint8)
    mean, std = transform.load_normalization(os.path.join(data_dir, "transform"))
    normalised = (images.astype(np.float32) - mean) / std
    from_best = _served(_model_with(config, epoch0), normalised, config)
    last_weights = os.path.join(checkpoints_dir, checkpoints.LAST_WEIGHTS)
    from_last = _served(_model_with(config, last_weights), normalised, config)
    assert np.abs(from_best - from_last).max() > 1e-3      # two more epochs moved the weights
    _, _, serve_resized = export.load_export(os.path.join(model_dir, "export"))
    np.testing.assert_allclose(serve_resized(images=images)["alpha"].numpy(), from_best,
                               atol=1e-5)


def test_killed_run_resumes_at_its_stored_epoch(tiny_data, tmp_path):
    data_dir, _ = tiny_data
    model_dir = str(tmp_path / "model")
    epochs = 30
    args = ("--epochs", str(epochs), "--batch_size", "8", "--base_filters", "4",
            "--threads", "2", *UNET)
    proc = subprocess.Popen(_cmd(data_dir, model_dir, *args), cwd=REPO, env=_env(),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    metrics = os.path.join(model_dir, checkpoints.METRICS_FILE)
    deadline = time.time() + 120
    try:
        while True:
            assert proc.poll() is None, "the run ended before it could be killed"
            assert time.time() < deadline, "no epochs logged in time"
            if os.path.exists(metrics) and len(open(metrics).read().splitlines()) >= 3:
                break                            # header + two epochs
            time.sleep(0.02)
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.kill()
        proc.wait()
    killed_rows = _rows(model_dir)
    assert 2 <= len(killed_rows) < epochs
    assert os.path.exists(os.path.join(model_dir, checkpoints.BACKUP_DIR))
    assert not os.path.exists(os.path.join(model_dir, "export"))

    out = _train(data_dir, model_dir, *args)
    rows = _rows(model_dir)
    assert [int(r["epoch"]) for r in rows] == list(range(epochs))      # each epoch once
    first = [r for r in rows if r["attempt"] == "1"]
    second = [r for r in rows if r["attempt"] == "2"]
    resumed_at = int(second[0]["epoch"])
    # It continued from the stored epoch (at least 1: the backup follows each logged epoch),
    # not from 0, and the epochs of the two attempts add up to the requested count.
    assert resumed_at >= 1 and len(first) == resumed_at
    assert len(first) + len(second) == epochs
    assert f"Epoch {resumed_at + 1}/{epochs}" in out and "Epoch 1/" not in out
    last_state = os.path.join(model_dir, checkpoints.CHECKPOINT_DIR, checkpoints.LAST_STATE)
    assert json.load(open(last_state)) == {"epochs_completed": epochs}
    assert os.path.exists(os.path.join(model_dir, "export", "saved_model.pb"))
    assert not os.path.exists(os.path.join(model_dir, checkpoints.BACKUP_DIR))

    # The export is the best-weights file, which covers every epoch in metrics.csv (it is saved
    # before the backup; a kill in between can leave it the killed attempt's score of an epoch
    # that ran again, never less than the best in metrics.csv).
    config = json.load(open(os.path.join(model_dir, checkpoints.CONFIG_FILE)))
    best_path = os.path.join(model_dir, checkpoints.CHECKPOINT_DIR, checkpoints.BEST_WEIGHTS)
    info = checkpoints.read_best_weights_info(best_path)
    assert info["val_iou"] >= max(float(r["val_iou"]) for r in rows) - 1e-6
    metadata = json.load(open(os.path.join(model_dir, "export", export.METADATA_FILE)))
    assert metadata["exported_weights"] == (
        f"best (epoch {info['epoch']}, val_iou {info['val_iou']:.6g})")
    assert config["exported_weights"] == metadata["exported_weights"]
    images = np.stack(tiny_data[1]["images"]["test"]).astype(np.uint8)
    mean, std = transform.load_normalization(os.path.join(data_dir, "transform"))
    expected = _served(_model_with(config, best_path), (images.astype(np.float32) - mean) / std,
                       config)
    _, _, serve_resized = export.load_export(os.path.join(model_dir, "export"))
    np.testing.assert_allclose(serve_resized(images=images)["alpha"].numpy(),
                               np.asarray(expected), atol=1e-5)


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_multi_worker_mirrored_with_two_processes(tiny_data, tmp_path):
    data_dir, _ = tiny_data
    model_dir = str(tmp_path / "model")
    workers = [f"127.0.0.1:{_free_port()}", f"127.0.0.1:{_free_port()}"]
    procs = []
    for index in range(2):
        tf_config = {"cluster": {"worker": workers}, "task": {"type": "worker", "index": index}}
        procs.append(subprocess.Popen(
            _cmd(data_dir, model_dir, "--epochs", "1", "--batch_size", "4",
                 "--base_filters", "4", "--threads", "1", *UNET),
            cwd=REPO, env=_env(TF_CONFIG=json.dumps(tf_config)),
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True))
    outputs = []
    try:
        for proc in procs:
            outputs.append(proc.communicate(timeout=150)[0])
    finally:
        for proc in procs:
            proc.kill()
    assert [p.returncode for p in procs] == [0, 0], "\n----\n".join(o[-3000:] for o in outputs)
    runtime = json.load(open(os.path.join(model_dir, checkpoints.CONFIG_FILE)))["runtime"]
    assert runtime["strategy"] == "MultiWorkerMirroredStrategy"
    assert runtime["num_workers"] == 2 and runtime["num_replicas_in_sync"] == 2
    assert runtime["per_replica_batch"] == 2
    assert [int(r["epoch"]) for r in _rows(model_dir)] == [0]
    assert os.path.exists(os.path.join(model_dir, "export", "saved_model.pb"))
    assert "exported" in outputs[0] and "exported" not in outputs[1]   # the chief exports


# --- bad inputs: clear errors before any work -------------------------------------------------

def _bad_data_dir(root, manifest=None, version_in_record=None, size=32):
    os.makedirs(os.path.join(root, "transform"))
    with open(os.path.join(root, "manifest.json"), "w") as f:
        json.dump(manifest or {"schema_version": schema.SCHEMA_VERSION, "image_size": 32,
                               "counts": {}}, f)
    record = schema.make_example("k", "s", b"jpeg", b"png", size, size, size)
    if version_in_record is not None:
        record = schema.encode_example({"key": "k", "source": "s", "image": b"", "mask": b"",
                                        "orig_height": 32, "orig_width": 32, "image_size": 32,
                                        "schema_version": version_in_record})
    for split in ("train", "val"):
        os.makedirs(os.path.join(root, split))
        with gzip.open(os.path.join(root, split, f"{split}-00000-of-00001.tfrecord.gz"),
                       "wb") as f:
            f.write(tfrecord.frame(record))
    return str(root)


@pytest.mark.parametrize("case, message", [
    ("missing_dir", "does not exist"),
    ("empty_dir", "is not a `cutout preprocess` output"),
    ("no_shards", "no shards match"),
    ("manifest_version", "schema_version 0"),
    ("record_version", "first record has schema_version 7"),
    ("truncated_shard", "train-00000-of-00001.tfrecord.gz is a truncated or corrupt shard"),
    ("damaged_transform", "transform is not a readable tf.Transform analysis"),
    ("batch_not_divisible", "does not divide by the 2 replicas"),
    ("size_not_multiple", "multiple of 32"),
    ("other_model_in_model_dir", "architecture: 'mobilenet_unet'"),
    ("unreadable_config_in_model_dir", "config.json is unreadable"),
    ("epochs", "--epochs must be >= 1"),
])
def test_bad_inputs_fail_before_any_work(tmp_path, case, message):
    data_dir = str(tmp_path / "data")
    model_dir = str(tmp_path / "model")
    args = []
    if case == "empty_dir":
        os.makedirs(data_dir)
    elif case == "no_shards":
        os.makedirs(os.path.join(data_dir, "transform"))
        json.dump({"schema_version": 1, "image_size": 32}, open(data_dir + "/manifest.json", "w"))
    elif case == "manifest_version":
        _bad_data_dir(data_dir, manifest={"schema_version": 0, "image_size": 32})
    elif case == "record_version":
        _bad_data_dir(data_dir, version_in_record=7)
    elif case == "batch_not_divisible":
        _bad_data_dir(data_dir)
        args = ["--batch_size", "3", "--cpu_replicas", "2"]
    elif case == "size_not_multiple":
        _bad_data_dir(data_dir, manifest={"schema_version": 1, "image_size": 48}, size=48)
        args = ["--architecture", "mobilenet_unet"]
    elif case == "other_model_in_model_dir":
        _bad_data_dir(data_dir)
        os.makedirs(model_dir)
        json.dump({"architecture": "mobilenet_unet", "base_filters": 16, "bn_momentum": 0.9,
                   "image_size": 32}, open(os.path.join(model_dir, "config.json"), "w"))
    elif case == "unreadable_config_in_model_dir":
        _bad_data_dir(data_dir)
        os.makedirs(model_dir)
        open(os.path.join(model_dir, "config.json"), "w").write('{"architecture": "un')
    elif case == "truncated_shard":
        _truncate(os.path.join(_bad_data_dir(data_dir), "train",
                               "train-00000-of-00001.tfrecord.gz"))
    elif case == "damaged_transform":  # every other check passes; OUT/transform/ is empty
        _bad_data_dir(data_dir)
    elif case == "epochs":
        _bad_data_dir(data_dir)
        args = ["--epochs", "0"]
    before = sorted(os.listdir(model_dir)) if os.path.exists(model_dir) else None
    with pytest.raises(JobError, match=message):
        train.run(["--data_dir", data_dir, "--model_dir", model_dir, *args])
    after = sorted(os.listdir(model_dir)) if os.path.exists(model_dir) else None
    assert after == before                     # nothing written


def _truncate(path):
    """Cuts a gzip shard in the middle of its compressed stream."""
    with open(path, "rb") as f:
        whole = f.read()
    with open(path, "wb") as f:
        f.write(whole[:len(whole) // 2])


@pytest.mark.parametrize("case, expected", [
    ("missing_data_dir", "model.train: error: --data_dir {data} does not exist: check the path"),
    ("not_a_preprocess_folder", "model.train: error: --data_dir {data} is not a `cutout "
                                "preprocess` output (no manifest.json): give the --output_dir "
                                "of a finished `cutout preprocess` run"),
    ("bad_flag_value", "model.train: error: --crop_fraction must be in (0, 1], got 1.5"),
    ("truncated_shard", "model.train: error: {data}/val/val-00000-of-00001.tfrecord.gz is a "
                        "truncated or corrupt shard"),
    ("model_dir_is_a_file", "model.train: error: --model_dir {model} is a file, not a folder"),
    ("flag_argparse_refuses", "python -m model.train: error: argument --epochs: invalid int "
                              "value: 'ten'"),
])
def test_a_users_mistake_is_one_line_on_stderr_and_exit_2(tmp_path, case, expected):
    """As users run it (`python -m model.train`, through the quiet-logs filter): exit status 2,
    and stderr is exactly one line, starting with the expected message, no traceback."""
    data_dir, model_dir = str(tmp_path / "data"), str(tmp_path / "model")
    args = []
    if case == "not_a_preprocess_folder":
        os.makedirs(os.path.join(data_dir, "photos"))
        open(os.path.join(data_dir, "photos", "a.jpg"), "wb").write(b"jpeg")
    elif case == "bad_flag_value":
        _bad_data_dir(data_dir)
        args = ["--crop_fraction", "1.5"]
    elif case == "truncated_shard":
        _truncate(os.path.join(_bad_data_dir(data_dir), "val", "val-00000-of-00001.tfrecord.gz"))
    elif case == "model_dir_is_a_file":
        _bad_data_dir(data_dir)
        open(model_dir, "w").write("not a folder")
    elif case == "flag_argparse_refuses":
        _bad_data_dir(data_dir)
        args = ["--epochs", "ten"]
    env = _env()
    env.pop("TF_CPP_MIN_LOG_LEVEL")  # as users run it: the notices are model/console.py's to hide
    proc = subprocess.run(_cmd(data_dir, model_dir, *args), cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=120)
    lines = proc.stderr.splitlines()
    assert proc.returncode == 2, proc.stderr[-3000:]
    assert len(lines) == 1, proc.stderr[-3000:]
    assert lines[0].startswith(expected.format(data=data_dir, model=model_dir)), lines[0]
    assert proc.stdout == ""
    if case != "model_dir_is_a_file":
        assert not os.path.exists(model_dir)  # refused before any work

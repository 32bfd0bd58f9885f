"""Every use of Keras 3.15's private APIs in this project, in one place: a Keras upgrade breaks
here first. Each piece says what it replaces and why; check each against the new Keras' source
(keras/src/trainers/trainer.py, keras/src/backend/tensorflow/trainer.py,
keras/src/callbacks/backup_and_restore.py) before upgrading, and rerun
tests/integration/test_train.py and tests/unit/test_keras_internals.py.

- `weigh_val_loss_by_sample_weight`: Keras' `test_step` with its loss tracker weighted by the
  sample weights (the padded validation batches of `model.data.make_eval_dataset`).
- `work_around_keras_multi_worker`: `fit` under MultiWorkerMirroredStrategy
  (keras-team/keras#20585).
- `Backup`: BackupAndRestore whose private saver writes atomically.
"""
from __future__ import annotations

import json
import types

import keras

from model import checkpoints


def weigh_val_loss_by_sample_weight(model) -> None:
    """Makes the epoch's val_loss the mean over the real (weight > 0) examples of padded
    validation batches (`model.data.make_eval_dataset`).

    Keras 3.15's `test_step` adds each step's (already weighted) loss to its loss tracker
    weighted by the batch SIZE: a padded last batch would count as a full one, and a replica
    that got only blanks (its loss is 0) would pull val_loss down. This `test_step` is Keras' own
    with one change: the tracker's weight is the sum of the sample weights (the batch size when
    there are none), so the tracker (summed over replicas) holds sum(w * loss) / sum(w).
    Training steps are untouched."""
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


def work_around_keras_multi_worker(model, element_spec) -> None:
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


class Backup(keras.callbacks.BackupAndRestore):
    """Keras BackupAndRestore, kept until `last.json` is written (so no kill can lose a finished
    run). Writes go to temporary files renamed into place, weights first: a SIGKILL while saving
    (seen in tests) otherwise leaves a truncated HDF5 file that can't be restored. In a
    multi-worker run only the chief saves; the other workers restore from the chief's backup
    (MODEL must be shared storage), so every worker resumes at the same epoch."""

    def __init__(self, backup_dir: str, is_chief: bool):
        super().__init__(backup_dir, delete_checkpoint=False)
        self.is_chief = is_chief

    # Overrides Keras 3.15's private saver; the paths and counters are its own.
    def _save_model(self):
        if not self.is_chief:
            return
        fs = checkpoints.gfile()
        fs.makedirs(self.backup_dir)
        checkpoints.save_weights_atomically(self.model, self._weights_path)
        tmp = self._training_metadata_path + ".tmp"
        with fs.GFile(tmp, "w") as f:
            f.write(json.dumps({"epoch": self._current_epoch,
                                "batch": self._last_batch_seen}))
        checkpoints.replace(tmp, self._training_metadata_path)

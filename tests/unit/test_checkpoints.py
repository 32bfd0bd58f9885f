"""model/checkpoints.py: metrics.csv of runs from before training's "mae" became "mad" still
resumes, and the exported weights are chosen as documented."""
from __future__ import annotations

import os

from model import checkpoints


def test_older_metrics_csv_is_read_with_the_new_names_and_extends_cleanly(tmp_path):
    path = str(tmp_path / checkpoints.METRICS_FILE)
    with open(path, "w") as f:
        f.write("epoch,attempt,iou,loss,mae,val_iou,val_loss,val_mae\n"
                "0,1,0.5,0.9,0.3,0.4,1.0,0.35\n")
    rows = checkpoints.read_metrics(path)
    assert rows == [{"epoch": "0", "attempt": "1", "iou": "0.5", "loss": "0.9", "mad": "0.3",
                     "val_iou": "0.4", "val_loss": "1.0", "val_mad": "0.35"}]
    new_row = {"epoch": 1, "attempt": 2, "iou": 0.6, "loss": 0.8, "mad": 0.2, "val_iou": 0.5,
               "val_loss": 0.9, "val_mad": 0.25}
    checkpoints.write_metrics(path, rows + [new_row])      # as EpochLog appends a row
    rows = checkpoints.read_metrics(path)
    assert [r["mad"] for r in rows] == ["0.3", "0.2"]
    assert [r["val_mad"] for r in rows] == ["0.35", "0.25"]
    assert checkpoints.epoch_metrics(rows[1]) == {"iou": 0.6, "loss": 0.8, "mad": 0.2,
                                                  "val_iou": 0.5, "val_loss": 0.9,
                                                  "val_mad": 0.25}


def test_without_a_best_file_the_last_epoch_is_exported(tmp_path):
    rows = [{"epoch": "0", "val_iou": "0.7"}, {"epoch": "1", "val_iou": "0.6"}]
    chosen = checkpoints.choose_exported_weights(str(tmp_path), rows)
    assert chosen == checkpoints.ExportedWeights(
        None, 1, f"last (epoch 1; no {checkpoints.BEST_WEIGHTS})", rows[1])
    none = checkpoints.choose_exported_weights(str(tmp_path), [])
    assert (none.path, none.epoch, none.row) == (None, None, None)
    assert not os.listdir(tmp_path)

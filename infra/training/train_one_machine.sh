#!/usr/bin/env bash
# Train on one machine with all its GPUs (MirroredStrategy picks every visible GPU).
#   DATA=gs://my-cutout/data/v1 MODEL_DIR=gs://my-cutout/models/unet-v1 \
#       infra/training/train_one_machine.sh [--epochs 40 --architecture mobilenet_unet ...]
# The global batch is per-replica batch x GPUs, and the learning rate scales with it; mixed
# precision is on for GPUs. Re-running the same command resumes from the last epoch.
# CUDA_VISIBLE_DEVICES=0,1 limits the GPUs. Watch it: tensorboard --logdir "$MODEL_DIR/logs".
set -euo pipefail
cd "$(dirname "$0")/../.."
exec "${PYTHON:-python}" -m model.train --data_dir "${DATA:?set DATA}" \
    --model_dir "${MODEL_DIR:?set MODEL_DIR}" "$@"

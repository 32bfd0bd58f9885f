#!/usr/bin/env bash
# Remove backgrounds from a bucket prefix on Dataflow GPU workers (one NVIDIA L4 each).
#   PROJECT=my-project BUCKET=gs://my-cutout INPUT=gs://photos/2026/ DEST=gs://cutouts/2026/ \
#       MODEL=gs://my-cutout/models/unet/export infra/dataflow/submit_remove_background.sh
# Variables: PROJECT, BUCKET, INPUT (a prefix or glob; or INPUT_LIST + INPUT_ROOT), DEST, MODEL
# (required); REGION, IMAGE_GPU, GPU (default nvidia-l4), MACHINE (default g2-standard-8),
# MAX_WORKERS (default 20), BATCH (default 32), OUTPUT (cutout|mask|both), RUNTIME, DRY_RUN.
# GPU=none runs on CPU workers with $IMAGE instead.
# Cost drivers: GPU workers x hours; PNG encoding is CPU work on the same workers, so pick a
# machine with enough vCPUs per GPU (g2-standard-8). Re-running the same command skips finished
# outputs, so a stopped job is resumed by submitting it again.
set -euo pipefail
source "$(dirname "$0")/env.sh"
: "${DEST:?set DEST}" "${MODEL:?set MODEL to MODEL/export}"
if [ -n "${INPUT_LIST:-}" ]; then
  INPUTS=(--input_list "$INPUT_LIST" --input_root "${INPUT_ROOT:?set INPUT_ROOT}")
else
  INPUTS=(--input "${INPUT:?set INPUT or INPUT_LIST}")
fi
GPU="${GPU:-nvidia-l4}"
# The model's runtime: OpenVINO (the export's openvino/ model) on CPU workers, TensorFlow's
# SavedModel on GPU workers (RUNTIME overrides: openvino, openvino_bf16, savedmodel).
if [ "$GPU" = "none" ]; then
  HARDWARE=(--sdk_container_image "$IMAGE" --machine_type "${MACHINE:-n2-standard-8}"
            --runtime "${RUNTIME:-openvino}")
else
  HARDWARE=(--sdk_container_image "$IMAGE_GPU" --machine_type "${MACHINE:-g2-standard-8}"
            --dataflow_service_options "worker_accelerator=type:${GPU};count:1;install-nvidia-driver"
            --runtime "${RUNTIME:-savedmodel}")
fi
exec "$PYTHON" -m pipelines.remove_background "${INPUTS[@]}" --output_dir "$DEST" \
    --model "$MODEL" --output "${OUTPUT:-cutout}" --max_batch_size "${BATCH:-32}" \
    "${COMMON[@]}" "${HARDWARE[@]}" --max_num_workers "${MAX_WORKERS:-20}" \
    --job_name "cutout-remove-background-$(date +%Y%m%d-%H%M%S)"

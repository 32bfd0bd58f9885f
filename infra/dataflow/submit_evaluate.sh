#!/usr/bin/env bash
# Evaluate an exported model on a preprocessed split, on Dataflow (CPU workers).
#   PROJECT=my-project BUCKET=gs://my-cutout DATA=gs://my-cutout/data/20261128 \
#       MODEL=gs://my-cutout/models/unet/export REPORT=gs://my-cutout/reports/unet \
#       infra/dataflow/submit_evaluate.sh
# Variables: PROJECT, BUCKET, DATA, MODEL, REPORT (required); SPLIT (default test), REGION, IMAGE,
# MAX_WORKERS (default 5), DRY_RUN. Cost: small (a test split of ~1K images takes minutes).
set -euo pipefail
source "$(dirname "$0")/env.sh"
exec "$PYTHON" -m pipelines.evaluate --data_dir "${DATA:?set DATA}" --model "${MODEL:?set MODEL}" \
    --split "${SPLIT:-test}" --report_dir "${REPORT:?set REPORT}" "${COMMON[@]}" \
    --sdk_container_image "$IMAGE" --max_num_workers "${MAX_WORKERS:-5}" \
    --job_name "cutout-evaluate-$(date +%Y%m%d-%H%M%S)"

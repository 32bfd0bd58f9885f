#!/usr/bin/env bash
# Preprocess the raw archives on Dataflow (CPU workers).
#   PROJECT=my-project BUCKET=gs://my-cutout infra/dataflow/submit_preprocess.sh \
#       p3m10k=gs://my-cutout/raw/P3M-10k.zip cod10k=gs://my-cutout/raw/COD10K-v3.zip
# Variables: PROJECT, BUCKET (required); REGION, IMAGE, OUT (default $BUCKET/data/<date>),
# MAX_WORKERS (default 10), MACHINE (default n2-standard-4), IMAGE_SIZE (default 320), DRY_RUN.
# Cost drivers: workers x minutes (P3M-10K + COD-10K, ~16K pairs: about 10 minutes on 10
# n2-standard-4). Watch it in the console's Dataflow page or `gcloud dataflow jobs list`.
set -euo pipefail
source "$(dirname "$0")/env.sh"
OUT="${OUT:-${BUCKET}/data/$(date +%Y%m%d-%H%M%S)}"
SOURCES=()
for s in "$@"; do SOURCES+=(--source "$s"); done
[ ${#SOURCES[@]} -gt 0 ] || { echo "give at least one KIND=PATH source" >&2; exit 2; }
exec "$PYTHON" -m pipelines.preprocess "${SOURCES[@]}" --output_dir "$OUT" \
    --image_size "${IMAGE_SIZE:-320}" "${COMMON[@]}" \
    --sdk_container_image "$IMAGE" --machine_type "${MACHINE:-n2-standard-4}" \
    --max_num_workers "${MAX_WORKERS:-10}" --job_name "cutout-preprocess-$(date +%Y%m%d-%H%M%S)"

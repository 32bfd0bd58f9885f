# Settings every Dataflow script reads. Override any of them in the environment before calling.
# Nothing in the project reads cloud settings at import time: only these scripts do.
: "${PROJECT:?set PROJECT to your Google Cloud project id}"
: "${BUCKET:?set BUCKET to a gs:// bucket for data, temp and staging, e.g. gs://my-cutout}"
REGION="${REGION:-europe-west4}"
IMAGE="${IMAGE:-${REGION}-docker.pkg.dev/${PROJECT}/cutout/worker:latest}"
IMAGE_GPU="${IMAGE_GPU:-${REGION}-docker.pkg.dev/${PROJECT}/cutout/worker-gpu:latest}"
TEMP="${TEMP:-${BUCKET}/dataflow/temp}"
STAGING="${STAGING:-${BUCKET}/dataflow/staging}"
# DRY_RUN=1 builds and checks the job graph without submitting (no credentials needed).
DRY_RUN_FLAG=()
if [ "${DRY_RUN:-0}" = "1" ]; then DRY_RUN_FLAG=(--dry_run=True); fi
PYTHON="${PYTHON:-python}"
COMMON=(--runner DataflowRunner --project "$PROJECT" --region "$REGION"
        --temp_location "$TEMP" --staging_location "$STAGING"
        --setup_file "$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)/setup.py"
        --experiments use_runner_v2 "${DRY_RUN_FLAG[@]}")

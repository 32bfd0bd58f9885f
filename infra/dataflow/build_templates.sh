#!/usr/bin/env bash
# Builds the worker images and one Flex Template per job.
#   PROJECT=my-project BUCKET=gs://my-cutout infra/dataflow/build_templates.sh
# Then launch, e.g.:
#   gcloud dataflow flex-template run "cutout-preprocess-$(date +%s)" --region "$REGION" \
#     --template-file-gcs-location "$BUCKET/templates/preprocess.json" \
#     --parameters source=p3m10k=gs://my-cutout/raw/P3M-10k.zip,output_dir=gs://my-cutout/data/v1
# Variables: PROJECT, BUCKET (required); REGION, IMAGE, IMAGE_GPU (see env.sh).
set -euo pipefail
source "$(dirname "$0")/env.sh"
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
gcloud builds submit "$ROOT" --project "$PROJECT" --region "$REGION" \
    --config <(printf 'steps:\n- name: gcr.io/cloud-builders/docker\n  args: [build, -t, %s, -f, infra/dataflow/Dockerfile, .]\n- name: gcr.io/cloud-builders/docker\n  args: [build, --build-arg, TF_EXTRA=and-cuda, -t, %s, -f, infra/dataflow/Dockerfile, .]\nimages: [%s, %s]\n' \
        "$IMAGE" "$IMAGE_GPU" "$IMAGE" "$IMAGE_GPU")
for job in preprocess remove_background evaluate; do
  image="$IMAGE"
  if [ "$job" = remove_background ]; then image="$IMAGE_GPU"; fi
  gcloud dataflow flex-template build "$BUCKET/templates/$job.json" --project "$PROJECT" \
      --image "$image" --sdk-language PYTHON \
      --metadata-file "$ROOT/infra/dataflow/templates/$job.metadata.json" \
      --env "FLEX_TEMPLATE_PYTHON_PY_FILE=/app/pipelines/$job/__main__.py"
done

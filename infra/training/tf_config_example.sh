#!/usr/bin/env bash
# Several machines without Vertex AI: start this on every machine, with its own INDEX (0 = chief).
#   HOSTS="10.0.0.2:2222,10.0.0.3:2222" INDEX=0 DATA=gs://... MODEL_DIR=gs://... \
#       infra/training/tf_config_example.sh
set -euo pipefail
IFS=, read -r -a hosts <<<"${HOSTS:?comma-separated host:port of every worker}"
workers=$(printf '"%s",' "${hosts[@]}")
export TF_CONFIG="{\"cluster\": {\"worker\": [${workers%,}]}, \"task\": {\"type\": \"worker\", \"index\": ${INDEX:?}}}"
cd "$(dirname "$0")/../.."
exec "${PYTHON:-python}" -m model.train --data_dir "${DATA:?}" --model_dir "${MODEL_DIR:?}" "$@"

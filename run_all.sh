#!/usr/bin/env bash
# Run every notebook in order with papermill and render the HTML report.
#   ./run_all.sh [--profile quick|full] [--data DIR] [--only 01 02 ...]
# Corpora come from --data, else $SER_DATA_DIR, else data/; with none, a synthetic demo corpus is used.
set -euo pipefail
cd "$(dirname "$0")"
bash scripts/setup_env.sh
export MPLBACKEND=Agg PYTHONUNBUFFERED=1
exec .venv/bin/python -m ser_utils run "$@"

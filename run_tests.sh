#!/usr/bin/env bash
# Unit tests for ser_utils plus every notebook at its quick defaults under nbval.
set -euo pipefail
cd "$(dirname "$0")"
bash scripts/setup_env.sh
export MPLBACKEND=Agg PYTHONUNBUFFERED=1 TF_CPP_MIN_LOG_LEVEL=2
exec .venv/bin/python -m pytest tests --nbval-lax notebooks "$@"

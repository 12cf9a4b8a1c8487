#!/usr/bin/env bash
# Create .venv/ at the repo root with the pinned requirements and ser_utils (editable), if missing or stale.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
stamp=.venv/.requirements.sha256
want=$(sha256sum requirements.txt pyproject.toml | sha256sum | cut -d' ' -f1)
register_kernel() {  # the notebooks' kernel "ser-utils", kept inside .venv (--sys-prefix): jupyter from .venv finds it
  [ -f .venv/share/jupyter/kernels/ser-utils/kernel.json ] ||
    .venv/bin/python -m ipykernel install --sys-prefix --name ser-utils --display-name "Python (ser-utils)" >/dev/null
}
if [ -x .venv/bin/python ] && [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
  register_kernel
  exit 0
fi
echo "Setting up .venv (pinned requirements.txt; a few minutes the first time) ..."
[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
.venv/bin/python -m pip install --quiet --upgrade pip
.venv/bin/python -m pip install --quiet -r requirements.txt
.venv/bin/python -m pip install --quiet --no-deps -e .
echo "$want" > "$stamp"
register_kernel

#!/usr/bin/env bash
# Create .venv (if missing) and install deviation with torch pinned to the CPU build first.
set -euo pipefail
cd "$(dirname "$0")/.."
PY="${PYTHON:-python3.11}"
command -v "$PY" >/dev/null 2>&1 || PY=python3
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
. .venv/bin/activate
python -m pip install --quiet --upgrade pip >/dev/null 2>&1 || true
# torch first, pinned: a bare 'torch' requirement would pull a multi-GB CUDA build.
python -c "import torch, sys; sys.exit(0 if torch.__version__.startswith('2.13.0') else 1)" 2>/dev/null \
  || python -m pip install --quiet "torch==2.13.0"
python -m pip install --quiet -e ".[test]"

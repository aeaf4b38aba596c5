#!/usr/bin/env bash
# Set up .venv (deviation alone: the demo needs no torch) and run the bundled demo:
# DevNet on the real thyroid data under the paper's protocol, 10 runs.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup_env.sh
exec .venv/bin/python -m deviation.demo "$@"

#!/usr/bin/env bash
# Set up .venv (torch pinned to the CPU build first) and run the bundled demo:
# DevNet on the real thyroid data under the paper's protocol, 10 runs.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup_env.sh
exec .venv/bin/python -m deviation.bench.demo "$@"

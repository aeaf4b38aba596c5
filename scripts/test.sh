#!/usr/bin/env bash
# Set up .venv (torch pinned to the CPU build first, then the test dependencies) and run the whole test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup_env.sh --test
exec .venv/bin/python -m pytest -n 2 -q "$@"

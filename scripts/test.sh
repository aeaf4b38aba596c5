#!/usr/bin/env bash
# Set up .venv (torch pinned to the CPU build first, then the test dependencies) and run the whole test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup_env.sh --test
echo "[test] ruff: lint and import order (pyproject.toml [tool.ruff])"
.venv/bin/ruff check src tests reproduction benchmarks tools
echo "[test] pytest on 2 workers (5 to 10 minutes on 2 idle cores)"
exec .venv/bin/python -m pytest -n 2 -q "$@"

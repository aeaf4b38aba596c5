#!/usr/bin/env bash
# Long fuzz run of the property tests (tests/test_properties.py) with the
# "long" hypothesis profile (tests/conftest.py): FUZZ_EXAMPLES examples per
# test (default 3000), random rather than derandomized.  The result goes to
# docs/fuzz-results.json; `python tools/reliability_report.py` shows it in
# docs/RELIABILITY.md.  A failure prints the falsifying example and the
# @reproduce_failure blob to replay it.
#
#   scripts/fuzz.sh                       # 3000 examples per property
#   FUZZ_EXAMPLES=20000 scripts/fuzz.sh   # longer
#   scripts/fuzz.sh -k read_table         # extra arguments go to pytest
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-.venv/bin/python}"
[ -x "$PYTHON" ] || PYTHON=python
export HYPOTHESIS_PROFILE=long FUZZ_EXAMPLES="${FUZZ_EXAMPLES:-3000}" PYTHONWARNINGS=ignore
junit="$(mktemp -t fuzz-XXXXXX.xml)"
trap 'rm -f "$junit"' EXIT
start=$(date +%s)
status=0
"$PYTHON" -m pytest tests/test_properties.py -p no:cacheprovider -q --junitxml="$junit" \
    -o junit_family=xunit1 --hypothesis-show-statistics "$@" || status=$?
"$PYTHON" tools/reliability_report.py --fuzz-summary "$junit" --fuzz-seconds "$(( $(date +%s) - start ))" || true
exit $status

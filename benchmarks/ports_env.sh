#!/usr/bin/env bash
# Build benchmarks/.venv-ports: a separate virtual environment holding the other
# DevNet ports (DeepOD 0.4.1 and PyOD 3.6.7) for benchmarks/compare_ports.py.
#
# DeepOD 0.4.1 pins torch<1.13.1, which has no wheel for Python 3.11 and would
# pull a CUDA build if it had: torch==2.13.0 (the CPU wheel) goes in first, then
# the two ports go in with --no-deps, then only the light packages that their
# imports need. Nothing here may pull another torch; the last step checks it.
#
#     bash benchmarks/ports_env.sh
set -euo pipefail
cd "$(dirname "$0")"
VENV=.venv-ports
PY="${PYTHON:-python3.11}"
command -v "$PY" >/dev/null 2>&1 || PY=python3
[ -x "$VENV/bin/python" ] || "$PY" -m venv "$VENV"
PIP=("$VENV/bin/python" -m pip install --quiet --disable-pip-version-check)

# 1. torch first, pinned to the CPU build.
"$VENV/bin/python" -c "import torch, sys; sys.exit(0 if torch.__version__.startswith('2.13.0') else 1)" 2>/dev/null \
  || "${PIP[@]}" "torch==2.13.0"

# 2. the ports themselves, without their dependencies (DeepOD's torch pin is unsatisfiable here).
"${PIP[@]}" --no-deps "deepod==0.4.1" "pyod==3.6.7"

# 3. what `import deepod.models` and `import pyod.models.devnet` need at run time.
#    None of these depends on torch. pyod/__init__ imports numba (pyod.utils);
#    matplotlib, which PyOD also lists, is not imported by pyod.models.devnet.
#    pip then warns that deepod wants torch<1.13.1: expected, and ignored.
"${PIP[@]}" "numpy>=1.23,<2.5" "scipy>=1.9" "scikit-learn>=1.3" "pandas>=1.5" "tqdm>=4.62" "joblib>=1.5" "numba>=0.59"

# 4. check: the ports import, and torch is still the CPU 2.13.0 build.
"$VENV/bin/python" - <<'EOF'
import torch
assert torch.__version__.startswith("2.13.0"), torch.__version__
from deepod.models.tabular import DevNet as _d  # noqa: F401
from pyod.models.devnet import DevNet as _p  # noqa: F401
import importlib.metadata as md
print("ports venv ready: torch", torch.__version__, "deepod", md.version("deepod"), "pyod", md.version("pyod"))
EOF

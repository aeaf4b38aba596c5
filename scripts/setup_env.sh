#!/usr/bin/env bash
# Create .venv (if missing) and install deviation into it, saying what it does and how long each step takes.
#
#   bash scripts/setup_env.sh               # deviation alone: fitting, scoring, the demo (no torch)
#   bash scripts/setup_env.sh --with-torch  # also torch, pinned to the CPU build 2.13.0 (engine="torch")
#   bash scripts/setup_env.sh --test        # torch as above, then the test dependencies (scripts/test.sh)
#
# torch is always installed first and pinned: a bare 'torch' requirement would pull a multi-GB CUDA build.
set -euo pipefail
cd "$(dirname "$0")/.."

with_torch=0
extras=""
for arg in "$@"; do
  case "$arg" in
    --with-torch) with_torch=1; extras="[torch]" ;;
    --test) with_torch=1; extras="[test]" ;;
    -h|--help) sed -n '2,8p' "$0"; exit 0 ;;
    *) echo "setup_env.sh: unknown argument '$arg'; use --with-torch, --test or nothing" >&2; exit 2 ;;
  esac
done
TORCH_VERSION="2.13.0"

started=$(date +%s)
step_start=0
step() {  # step "what": print what is about to happen
  step_start=$(date +%s)
  printf '[setup] %s ... ' "$1"
}
done_step() {  # done_step ["note"]: print how long the step took
  printf 'done (%ds)%s\n' "$(( $(date +%s) - step_start ))" "${1:+, $1}"
}

PY="${PYTHON:-python3.11}"
command -v "$PY" >/dev/null 2>&1 || PY=python3
if [ ! -x .venv/bin/python ]; then
  step "creating .venv with $PY"
  "$PY" -m venv .venv
  done_step
else
  echo "[setup] using the existing .venv"
fi
. .venv/bin/activate

step "upgrading pip"
python -m pip install --quiet --upgrade pip >/dev/null 2>&1 || true
done_step "pip $(python -m pip --version | cut -d' ' -f2)"

if [ "$with_torch" = 1 ]; then
  if python -c "import torch, sys; sys.exit(0 if torch.__version__.startswith('$TORCH_VERSION') else 1)" 2>/dev/null; then
    echo "[setup] torch $TORCH_VERSION already installed"
  else
    step "installing torch==$TORCH_VERSION (CPU build, before anything else)"
    python -m pip install --quiet "torch==$TORCH_VERSION"
    done_step
  fi
fi

step "installing deviation (editable) with pip install -e \".$extras\""
python -m pip install --quiet -e ".$extras"
done_step

if python -c "import torch" 2>/dev/null; then
  torch_note="torch $(python -c 'import torch; print(torch.__version__)')"
else
  torch_note="no torch (engine='numpy' on the CPU; bash scripts/setup_env.sh --with-torch adds it)"
fi
echo "[setup] ready in $(( $(date +%s) - started ))s: .venv with deviation $(python -c 'import deviation; print(deviation.__version__)'), $torch_note"

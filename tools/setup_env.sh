#!/usr/bin/env bash
# Set up everything ctxseg needs in a virtual environment inside the checkout (default .venv):
# torch + torchvision, Detectron2 (an importable one is reused; otherwise the registry's
# pb1-detectron2==0.6 sdist is built without its C++ extension) and ctxseg in editable mode.
# Fast when everything is already in place: a stamp records the set-up of the current packaging files.
set -euo pipefail

cd "$(dirname "$0")/.."
VENV=${VENV:-.venv}
PY_BASE=${PYTHON:-python3}
TORCH_SPEC=${TORCH_SPEC:-"torch==2.14.1 torchvision==0.29.1"}
D2_SDIST=${D2_SDIST:-pb1-detectron2==0.6}

stamp="$VENV/.ctxseg-setup-$(cat pyproject.toml setup.py tools/setup_env.sh | sha1sum | cut -c1-12)"
if [ -f "$stamp" ]; then
  exit 0
fi

log() { echo "[setup] $*"; }

if [ ! -x "$VENV/bin/python" ]; then
  # A base interpreter that already imports torch and Detectron2 (for example an upstream
  # Detectron2 built from source on a GPU machine) is reused through system site packages.
  if "$PY_BASE" -c "import torch, torchvision, detectron2" >/dev/null 2>&1; then
    log "reusing torch and Detectron2 of $PY_BASE"
    "$PY_BASE" -m venv --system-site-packages "$VENV"
  else
    log "creating $VENV"
    "$PY_BASE" -m venv "$VENV"
  fi
fi
PY="$VENV/bin/python"
PIP=("$PY" -m pip --disable-pip-version-check)

# pip 25+ refuses the Detectron2 sdist (an extra declares a URL dependency); 23/24 accept it.
if ! "$PY" -c "import sys, pip; sys.exit(int(pip.__version__.split('.')[0]) >= 25)"; then
  log "installing pip<25"
  "${PIP[@]}" install -q "pip>=23,<25"
fi

# Builds below run without isolation, with this setuptools: pyproject.toml's license field needs 77.
if ! "$PY" -c "import sys, setuptools; sys.exit(int(setuptools.__version__.split('.')[0]) < 77)" >/dev/null 2>&1; then
  log "installing setuptools>=77"
  "${PIP[@]}" install -q "setuptools>=77"
fi

if ! "$PY" -c "import torch, torchvision" >/dev/null 2>&1; then
  log "installing $TORCH_SPEC (about a minute from this machine's disk)"
  # shellcheck disable=SC2086
  "${PIP[@]}" install $TORCH_SPEC
fi

if ! "$PY" -c "import importlib.util, sys; sys.exit(importlib.util.find_spec('detectron2') is None)"; then
  log "building Detectron2 from the $D2_SDIST sdist without its C++ extension"
  work=$(mktemp -d)
  trap 'rm -rf "$work"' EXIT
  # Metadata preparation imports torch, hence --no-build-isolation.
  "${PIP[@]}" download -q --no-deps --no-build-isolation "$D2_SDIST" -d "$work"
  tar -xzf "$work"/*.tar.gz -C "$work"
  src=$(find "$work" -mindepth 1 -maxdepth 1 -type d | head -n 1)
  grep -q "ext_modules=get_extensions()," "$src/setup.py" || {
    echo "[setup] unexpected $D2_SDIST setup.py: cannot remove its C++ extension" >&2; exit 1; }
  sed -i 's/ext_modules=get_extensions(),/ext_modules=[],/' "$src/setup.py"
  "${PIP[@]}" install -q --no-build-isolation "$src"
fi

log "installing ctxseg (editable) with its dependencies and the [dev] extra (pytest, ruff, onnx)"
"${PIP[@]}" install -q --no-build-isolation -e ".[dev]"

rm -f "$VENV"/.ctxseg-setup-*
touch "$stamp"
log "done: activate with 'source $VENV/bin/activate'"

#!/usr/bin/env bash
# Create .venv with everything the server, the CLI and the tests need. Idempotent.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON="${PYTHON:-$(command -v python3.11 || command -v python3)}"
if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
fi
.venv/bin/python -m pip install --quiet --upgrade pip 2>/dev/null || true
# torch + torchvision first, as a matching pair: controlnet_aux imports torchvision, and a
# torchvision that does not match torch fails at import ("operator torchvision::nms does not exist").
if ! .venv/bin/python -c "import torch, torchvision" 2>/dev/null; then
  .venv/bin/python -m pip install --quiet "torch==2.14.1" "torchvision==0.29.1"
fi
.venv/bin/python -m pip install --quiet -e ".[dev]"
command -v blender >/dev/null && [ ! -d .blender-deps/grpc ] && { .venv/bin/python -m pip install --quiet --only-binary :all: --python-version "$(blender -b --factory-startup --python-expr 'import sys; print("PYVER=%d.%d" % sys.version_info[:2])' 2>/dev/null | sed -n 's/^PYVER=//p')" --target .blender-deps grpcio protobuf numpy || echo "note: could not install grpcio/protobuf/numpy for Blender's Python into .blender-deps"; }  # Blender add-on tests
# Blender 4.2 LTS and 5.0 as Python modules (bpy from PyPI) for the add-on's tests; DCCBRIDGE_BLENDER_VERSIONS=all
# adds 4.5 LTS. Not fatal here: tests/test_blender_addon.py names what is missing (and fails under CI=true).
bash scripts/setup_blender_versions.sh || echo "note: some Blender versions could not be set up (scripts/setup_blender_versions.sh)"
# The real Connect web client for tests/test_http_face.py (pinned in tests/node/package-lock.json).
if command -v node >/dev/null && command -v npm >/dev/null; then
  if [ ! tests/node/node_modules/.package-lock.json -nt tests/node/package-lock.json ]; then
    (cd tests/node && npm ci --no-audit --no-fund --loglevel=error)
  fi
else
  echo "note: node/npm not found; the connect-web test in tests/test_http_face.py will be skipped"
fi
# The Photoshop UXP plugin's packages (connect-web, protobuf-es, fast-png, esbuild; pinned in its package-lock.json).
if command -v node >/dev/null && command -v npm >/dev/null; then
  if [ ! clients/photoshop_uxp/node_modules/.package-lock.json -nt clients/photoshop_uxp/package-lock.json ]; then
    (cd clients/photoshop_uxp && npm ci --no-audit --no-fund --loglevel=error)
  fi
else
  echo "note: node/npm not found; tests/test_photoshop_plugin.py will be skipped (and fails under CI=true)"
fi
.venv/bin/python -c "import dccbridge, torch, diffusers; print('dccbridge', dccbridge.__version__, '| torch', torch.__version__, '| diffusers', diffusers.__version__)"

#!/usr/bin/env bash
# Set up (system packages when root, .venv, npm packages) and run every test.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup_system.sh
bash scripts/setup.sh
.venv/bin/python -m pytest -q "$@"

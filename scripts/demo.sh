#!/usr/bin/env bash
# The main job on a fresh machine: set up, start the server on the built-in tiny model, and
# make a real client request (ControlNet depth from a synthetic depth pass) that writes out/demo.png.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh

mkdir -p out
DATA_DIR="$(mktemp -d)"
LOG="out/server.log"
.venv/bin/dccbridge serve --port 0 --http-port 0 --data-dir "$DATA_DIR" > "$LOG" 2>&1 &
SERVER_PID=$!
trap 'kill -TERM $SERVER_PID 2>/dev/null; wait $SERVER_PID 2>/dev/null || true' EXIT

for _ in $(seq 1 600); do
  PORT="$(sed -n 's/.*listening on 127\.0\.0\.1:\([0-9]*\).*/\1/p' "$LOG" | head -1)"
  [ -n "$PORT" ] && break
  kill -0 $SERVER_PID 2>/dev/null || { cat "$LOG"; exit 1; }
  sleep 0.2
done
echo "server on 127.0.0.1:$PORT (log: $LOG)"

# A depth pass as a host would send it: a near box in front of a far wall, sky at infinity.
.venv/bin/python - <<'PY'
import numpy as np
depth = np.full((512, 512), 8.0, np.float32)
depth[:160, :] = np.inf
depth[200:420, 150:360] = 3.0
np.save("out/demo-depth.npy", depth)
PY

.venv/bin/dccbridge generate --server "127.0.0.1:$PORT" --prompt "a stone tower on a hill, evening light" \
  --steps 8 --seed 1234 --width 512 --height 512 --control depth=out/demo-depth.npy --depth-far 100 \
  -o out/demo.png
echo "wrote out/demo.png (the tiny model has random weights: expect noise shaped by the real code path)"

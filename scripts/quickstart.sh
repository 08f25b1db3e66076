#!/usr/bin/env bash
# The quick start: set up, serve the default model, ask for suggestions on the built-in sample
# scene, print them. Until EVLM-tiny is trained (issue 8) the default model is a tiny RANDOM
# checkpoint built here: its suggestions are schema-valid but meaningless.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/setup.sh
MODEL=${EVLM_MODEL:-models/tiny-qwen2-vl}
if [ ! -f "$MODEL/config.json" ]; then
  echo "== building a tiny random checkpoint in $MODEL (no downloads)"
  .venv/bin/python scripts/make_tiny_checkpoint.py --arch qwen2_vl --out "$MODEL"
fi

ENDPOINT="ipc://${TMPDIR:-/tmp}/evlm-quickstart-$$.sock"
echo "== starting evlm-server on $ENDPOINT"
.venv/bin/evlm-server serve --model "$MODEL" --bind "$ENDPOINT" --max-reasoning-tokens 64 &
SERVER=$!
trap 'kill -TERM $SERVER 2>/dev/null; wait $SERVER 2>/dev/null || true' EXIT
for _ in $(seq 1 120); do
  .venv/bin/evlm-server ping --endpoint "$ENDPOINT" --timeout 1 >/dev/null 2>&1 && break
  kill -0 $SERVER 2>/dev/null || { echo "evlm-server exited"; exit 1; }
done

INSTRUCTION=${1:-"make the corner feel cozier for an evening shot"}
echo "== evlm suggest: \"$INSTRUCTION\" on examples/sample_scene (6 views)"
.venv/bin/evlm suggest --endpoint "$ENDPOINT" --scene examples/sample_scene/scene.json \
  --views examples/sample_scene/views --instruction "$INSTRUCTION"

#!/usr/bin/env bash
# The quick start, the main job end to end on the built-in model (EVLM-tiny) and sample scene:
# set up, serve, open examples/sample_scene/scene.blend in headless Blender, render its views,
# ask an ambiguous instruction, print the reasoning and the suggestions, apply the best one,
# save the edited copy and before/after images in out/quickstart/. Nothing is downloaded from a
# model hub. Usage: bash scripts/quickstart.sh ["another instruction"]
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/setup.sh
[ -x .venv-blender/bin/python ] || bash scripts/setup_blender.sh  # real Blender, about 1 GB, first time only

OUT=out/quickstart
mkdir -p "$OUT"
ENDPOINT="ipc://${TMPDIR:-/tmp}/evlm-quickstart-$$.sock"
MODEL_ARGS=()
[ -n "${EVLM_MODEL:-}" ] && MODEL_ARGS=(--model "$EVLM_MODEL")
echo "== starting evlm-server (${EVLM_MODEL:-built-in EVLM-tiny}) on $ENDPOINT"
.venv/bin/evlm-server serve "${MODEL_ARGS[@]}" --bind "$ENDPOINT" --max-reasoning-tokens 384 &
SERVER=$!
trap 'kill -TERM $SERVER 2>/dev/null; wait $SERVER 2>/dev/null || true' EXIT
for _ in $(seq 1 120); do
  .venv/bin/evlm-server ping --endpoint "$ENDPOINT" --timeout 1 >/dev/null 2>&1 && break
  kill -0 $SERVER 2>/dev/null || { echo "evlm-server exited"; exit 1; }
done

INSTRUCTION=${1:-"make the ball a bit bigger"}
echo "== headless Blender: \"$INSTRUCTION\" on examples/sample_scene/scene.blend"
rm -f "$OUT"/before_*.png "$OUT"/after_*.png "$OUT/before_after.png"
status=0
.venv-blender/bin/python blender_addon/headless.py --blend examples/sample_scene/scene.blend \
  --endpoint "$ENDPOINT" --instruction "$INSTRUCTION" --apply-best --save-as "$OUT/scene_edited.blend" \
  --images "$OUT" --json "$OUT/result.json" || status=$?
if [ -f "$OUT/after_0.png" ]; then
  .venv/bin/python scripts/contact_sheet.py "$OUT" "$OUT/before_after.png" >/dev/null
  echo "== before/after views: $OUT/before_after.png; edited copy: $OUT/scene_edited.blend; all of it: $OUT/result.json"
elif [ "$status" -eq 2 ] && [ -f "$OUT/result.json" ]; then
  echo "== no suggestion could be applied to the scene (see above); the views are in $OUT/before_*.png"
else
  exit "$status"
fi

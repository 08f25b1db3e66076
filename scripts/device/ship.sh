#!/usr/bin/env bash
# Here, after the one GPU call: turn what it brought back into a built-in model.
#   bash scripts/device/ship.sh FILES_AT SIZE [DEST]   (SIZE: which trained size; DEST: the model folder
#                                                        to replace, default evlm_server/models/evlm-tiny)
# EVLM_SHIP_WORK: where the run is unpacked (default out/gpu_run); EVLM_SHIP_BENCH=0: no latency run;
# EVLM_SHIP_BLENDER=0: no Blender-built evaluation.
# FILES_AT holds SIZE/*.safetensors per trained size, run.tgz and run.log (scripts/device/train_small.py).
# 1. unpacks everything into out/gpu_run/ (logs, loss curves, evals, the eval records with their images);
# 2. assembles the model there and checks it answers a 6-view request through the engine on this CPU;
# 3. if the GPU run's eval or card is missing, evaluates here on the records it brought back and
#    writes the card;
# 4. runs the Blender-built evaluation set here (evlm-eval --blender: pass rate in $W/blender_eval) and
#    measures the 6-view suggest latency (scripts/bench_suggest.py), both printed for the README;
# 5. replaces DEST with it (a copy of the previous one stays in out/gpu_run/previous/).
set -euo pipefail
[ $# -ge 2 ] && [ -d "$1" ] || { echo "usage: bash scripts/device/ship.sh FILES_AT SIZE [DEST]" >&2; exit 2; }
SRC=$(realpath "$1") SIZE=$2 DST=$(realpath -m "${3:-$(dirname "$0")/../../evlm_server/models/evlm-tiny}")
R=$(realpath -m "${EVLM_SHIP_WORK:-$(dirname "$0")/../../out/gpu_run}")
cd "$(dirname "$0")/../.."
[ -f "$SRC/run.tgz" ] || { echo "ship.sh: no run.tgz in $SRC" >&2; exit 2; }
compgen -G "$SRC/$SIZE/*.safetensors" >/dev/null \
  || { echo "ship.sh: no weight files in $SRC/$SIZE (sizes there: $(ls -d "$SRC"/*/ 2>/dev/null | xargs -n1 basename | tr '\n' ' '))" >&2; exit 2; }
PY=.venv/bin/python
export PYTHONPATH=$PWD
W=$R/$SIZE
rm -rf "$R" && mkdir -p "$R"
tar xzf "$SRC/run.tgz" -C "$R"
cp "$SRC/$SIZE"/*.safetensors "$W/model/"
cp "$SRC/run.log" "$R/" 2>/dev/null || true
echo "== the model answers here"
$PY - "$W/model" <<'EOF'
import sys
from PIL import Image
from evlm.client import load_views
from evlm.edits import validate_plan
from evlm.scene import SceneGraph
from evlm_server.engine import load_engine
from evlm_server.engine.base import EngineRequest
sample = "examples/sample_scene"
scene = SceneGraph.model_validate_json(open(f"{sample}/scene.json").read())
views = load_views(f"{sample}/views")
import io
request = EngineRequest(id="ship", instruction="make the ball a bit bigger", scene=scene,
                        views=[v for v, _ in views], images=[Image.open(io.BytesIO(b)).convert("RGB") for _, b in views])
(result,) = load_engine(sys.argv[1], kind="hf", device="cpu").run([request])
if isinstance(result, Exception):
    raise SystemExit(f"ship.sh: the model failed on the sample scene: {result}")
validate_plan(result.plan.model_dump_json(), scene)
print("answered:", [s.title for s in result.plan.suggestions])
EOF
if [ ! -f "$W/eval/metrics.json" ]; then
  echo "== no eval from the GPU run: evaluating here on its records"
  $PY -m training.eval.cli --model "$W/model" --data "$R/eval_data" --splits test,gen --device cpu \
    --max-reasoning-tokens 384 --out "$W/eval"
fi
if [ ! -f "$W/model/README.md" ]; then
  runs=(--run "SFT=$W/sft=0")
  [ -f "$W/rkto/log.jsonl" ] && runs+=(--run "RKTO=$W/rkto=0")
  before=(); [ -f "$R/eval_before/metrics.json" ] && before=(--before "$R/eval_before")
  $PY -m training.evlm_tiny card "$W/model" --eval "$W/eval" "${runs[@]}" "${before[@]}" --hardware "see out/gpu_run/run.log"
fi
cp "$W/eval/metrics.png" "$W/model/eval.png" 2>/dev/null || true
cp "$W/sft/loss.png" "$W/model/loss.png" 2>/dev/null || true
if [ "${EVLM_SHIP_BLENDER:-1}" != 0 ]; then  # the Blender-built set: needs Blender, which the GPU machine lacks
  echo "== the Blender-built evaluation set, here on the CPU (evlm-eval --blender)"
  $PY -m training.eval.cli --blender --model "$W/model" --device cpu --out "$W/blender_eval" \
    || [ $? = 1 ] || { echo "ship.sh: evlm-eval --blender failed" >&2; exit 1; }  # 1: some cases ended in an error
  head -20 "$W/blender_eval/report.md"
fi
if [ "${EVLM_SHIP_BENCH:-1}" != 0 ]; then
  echo "== 6-view suggest latency on this CPU (load: $(cut -d' ' -f1-3 /proc/loadavg))"
  $PY scripts/bench_suggest.py --model "$W/model" --runs 3 | tail -4
fi
if [ -d "$DST" ]; then rm -rf "$R/previous"; cp -r "$DST" "$R/previous"; fi
mkdir -p "$(dirname "$DST")"
rm -rf "$DST.tmp"
cp -r "$W/model" "$DST.tmp"
rm -rf "$DST"
mv "$DST.tmp" "$DST"  # never a half-copied model under its name
echo "== shipped $SIZE to $DST (a copy of what was there before, if anything: $R/previous)"
echo "   then: run the tests, and update the README's figures from $W/eval and the latency above"

#!/usr/bin/env bash
# EVLM-tiny stage 4: continue the shipped model on generator 2.0 data (artists' scenes, every op),
# moved to prompt format 2, then judge it against the shipped one on the Blender-built set.
#   evlm-synth (24,000 examples) -> SFT (55 min, stop on time) -> RKTO (8 min) -> export to
#   out/evlm_tiny_v4/export -> evlm-eval --blender, shipped and new, same reasoning budget.
# It does not replace evlm_server/models/evlm-tiny: ship the export by hand only if its Blender
# pass rate beats the shipped model's in the same run (out/evlm_tiny_v4/blender_*/report.md).
# About 80 minutes on this 2-core machine when nothing else runs.
set -euo pipefail
cd "$(dirname "$0")/.."
W=out/evlm_tiny_v4
PY=.venv/bin/python
[ -x "$PY" ] || bash scripts/setup.sh
export PYOPENGL_PLATFORM=${PYOPENGL_PLATFORM:-osmesa}
mkdir -p "$W"

echo "== synthetic data (24,000 examples)"
.venv/bin/evlm-synth --n 24000 --seed 11 --workers "$(nproc)" --views 3 --size 64 --frames 3 --out "$W/data" --overwrite
echo "== SFT from the shipped weights (tokenizer kept: byte-level BPE covers the new names)"
rm -rf "$W/base" "$W/sft" && cp -r evlm_server/models/evlm-tiny "$W/base"
.venv/bin/evlm-train sft --config configs/evlm_tiny/sft4.toml
echo "== RKTO"
rm -rf "$W/align_data" "$W/rkto"
$PY -m training.evlm_tiny subset "$W/data" "$W/align_data" --groups 64
.venv/bin/evlm-train rkto --config configs/evlm_tiny/rkto4.toml
$PY -m training.evlm_tiny export "$W/rkto/model" "$W/export"
echo "== the Blender-built set: shipped, then new (same server defaults)"
.venv/bin/evlm-eval --blender --model evlm_server/models/evlm-tiny --out "$W/blender_shipped"
.venv/bin/evlm-eval --blender --model "$W/export" --out "$W/blender_new"

#!/usr/bin/env bash
# Rebuild EVLM-tiny, the built-in model, from nothing with the project's own pipeline:
#   evlm-synth -> untrained checkpoint (own tokenizer) -> SFT (3 cycles) -> RKTO -> export -> evlm-eval.
# Work files go to out/evlm_tiny (the configs in configs/evlm_tiny name it); the result replaces
# evlm_server/models/evlm-tiny. Runs on CPU (about 4 h on 2 cores) or a GPU (device = "auto").
# EVLM_TINY_EVAL_LIMIT: records per eval split (default 100).
set -euo pipefail
cd "$(dirname "$0")/.."
W=out/evlm_tiny
PY=.venv/bin/python
[ -x "$PY" ] || bash scripts/setup.sh
export PYOPENGL_PLATFORM=${PYOPENGL_PLATFORM:-osmesa}
mkdir -p "$W"
stage() {  # stage NAME COMMAND...: run it, remember its wall time in minutes
  local t0=$SECONDS; echo "== $1"; shift; "$@"
  echo "$(( SECONDS - t0 ))" > "$W/.minutes_$STAGE"
}
minutes() { awk '{printf "%.1f", $1 / 60}' "$W/.minutes_$1"; }

STAGE=synth stage "synthetic data (8,000 scenes)" .venv/bin/evlm-synth --n 8000 --out "$W/data" --seed 1 \
  --workers "$(nproc)" --views 3 --size 64 --frames 3 --overwrite
STAGE=init stage "tokenizer + untrained checkpoint" bash -c "rm -rf $W/init && $PY -m training.evlm_tiny init $W/data $W/init"
STAGE=sft stage "SFT" bash -c "rm -rf $W/sft && .venv/bin/evlm-train sft --config configs/evlm_tiny/sft.toml"
STAGE=sft2 stage "more SFT" bash -c "rm -rf $W/sft2 && .venv/bin/evlm-train sft --config configs/evlm_tiny/sft2.toml"
STAGE=sft3 stage "more SFT again" bash -c "rm -rf $W/sft3 && .venv/bin/evlm-train sft --config configs/evlm_tiny/sft3.toml"
STAGE=subset stage "alignment subset" $PY -m training.evlm_tiny subset "$W/data" "$W/align_data" --groups 32
STAGE=rkto stage "RKTO" bash -c "rm -rf $W/rkto && .venv/bin/evlm-train rkto --config configs/evlm_tiny/rkto.toml"
$PY -m training.evlm_tiny export "$W/rkto/model" evlm_server/models/evlm-tiny
STAGE=eval stage "eval of the exported model (test + gen)" .venv/bin/evlm-eval --model evlm_server/models/evlm-tiny \
  --data "$W/data" --splits test,gen --limit "${EVLM_TINY_EVAL_LIMIT:-100}" --max-reasoning-tokens 384 --out "$W/eval"
HW="$(nproc) CPU cores ($(lscpu | sed -n 's/^Model name: *//p' | head -1))"
command -v nvidia-smi >/dev/null && HW="$(nvidia-smi --query-gpu=name --format=csv,noheader | head -1)"
$PY -m training.evlm_tiny card evlm_server/models/evlm-tiny --eval "$W/eval" \
  --run "SFT=$W/sft=$(minutes sft)" --run "SFT2=$W/sft2=$(minutes sft2)" \
  --run "SFT3=$W/sft3=$(minutes sft3)" --run "RKTO=$W/rkto=$(minutes rkto)" --hardware "$HW"
cp "$W/eval/metrics.png" evlm_server/models/evlm-tiny/eval.png
echo "== EVLM-tiny written to evlm_server/models/evlm-tiny (model card: README.md)"

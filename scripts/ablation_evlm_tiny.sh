#!/usr/bin/env bash
# The alignment ablation on EVLM-tiny (after scripts/build_evlm_tiny.sh): from the same SFT model,
# on the same alignment subset with the same steps and learning rate (configs/evlm_tiny/rkto.toml),
# KTO (scores binarized at 0.5) and DPO (the subset's pairs) next to RKTO, then every model through
# evlm-eval on the same test and gen records. Prints the README's table.
# LIMIT: records per eval split (default 50).
set -euo pipefail
cd "$(dirname "$0")/.."
W=out/evlm_tiny
LIMIT=${LIMIT:-50}
for mode in kto dpo; do  # rkto is the recipe's own run, $W/rkto
  [ -f "$W/$mode/model/config.json" ] || .venv/bin/evlm-train "$mode" --config configs/evlm_tiny/rkto.toml --set "out=$W/$mode"
done
# The SFT baseline is the model the alignment runs start from: rkto.toml's `model`.
SFT_MODEL=$(sed -n 's/^model = "\(.*\)"$/\1/p' configs/evlm_tiny/rkto.toml)
for m in sft rkto kto dpo; do
  model="$W/$m/model"; [ "$m" = sft ] && model="$SFT_MODEL"
  [ -f "$W/eval_$m/metrics.json" ] || .venv/bin/evlm-eval --model "$model" --data "$W/data" --splits test,gen \
    --limit "$LIMIT" --max-reasoning-tokens 384 --out "$W/eval_$m" --no-progress
done
.venv/bin/python scripts/ablation_table.py "SFT=$W/eval_sft" "SFT+KTO=$W/eval_kto" "SFT+RKTO=$W/eval_rkto" \
  "SFT+DPO=$W/eval_dpo"

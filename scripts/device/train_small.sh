#!/usr/bin/env bash
# One call on a lent GPU (scripts/device/prepare.sh prints the exact `run` call): set up the carried
# wheels and GL packages, then scripts/device/train_small.py (synth -> init -> SFT -> RKTO -> export
# -> eval -> pack into OUT). Here on a CPU: EVLM_PYTHON=.venv/bin/python and `--plan cpu-test`.
#   bash scripts/device/train_small.sh [--plan gpu|cpu-test] [--size NAME] [--budget-s S]   (OUT: $OUT)
set -uo pipefail
cd "$(dirname "$0")/../.."
PY=${EVLM_PYTHON:-python3}
: "${OUT:?set OUT to the output folder}"
mkdir -p "$OUT"
log() { echo "$(date +%H:%M:%S) setup: $*" | tee -a "$OUT/run.log"; }
t0=$SECONDS
# The set-up writes into / and installs packages: only on the GPU machine (or when asked), never here.
if command -v nvidia-smi >/dev/null || [ "${EVLM_DEVICE_SETUP:-0}" = 1 ]; then SETUP=1; else SETUP=0; fi
if [ $SETUP = 1 ] && compgen -G ".gl/*.deb" >/dev/null; then  # EGL for pyrender on the GPU (the device README's packages)
  for f in .gl/*.deb; do dpkg -x "$f" /; done
  ldconfig
  log "unpacked $(ls .gl/*.deb | wc -l) GL packages"
fi
if [ $SETUP = 1 ] && compgen -G ".whl/*.whl" >/dev/null; then  # what the machine's Python lacks, as wheels
  "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl \
    || { log "wheel install FAILED"; exit 1; }
  export PYTHONPATH=/tmp/site
  log "installed $(ls .whl/*.whl | wc -l) wheels"
fi
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1 TOKENIZERS_PARALLELISM=false
if [ -z "${PYOPENGL_PLATFORM:-}" ]; then
  if command -v nvidia-smi >/dev/null; then export PYOPENGL_PLATFORM=egl; else export PYOPENGL_PLATFORM=osmesa; fi
fi
if [ "$PYOPENGL_PLATFORM" = egl ] && [ ! -e /usr/share/glvnd/egl_vendor.d/10_nvidia.json ] \
  && [ -e /usr/local/nvidia/share/glvnd/egl_vendor.d/10_nvidia.json ]; then
  export __EGL_VENDOR_LIBRARY_FILENAMES=/usr/local/nvidia/share/glvnd/egl_vendor.d/10_nvidia.json
fi
log "ready in $(( SECONDS - t0 )) s (PYOPENGL_PLATFORM=$PYOPENGL_PLATFORM)"
exec "$PY" scripts/device/train_small.py --out "$OUT" "$@"

#!/usr/bin/env bash
# Here, before the one GPU call: fetch what the device machine lacks into folders of this checkout
# that git ignores, check that everything that travels fits, and print the exact `run` call.
#   .whl/   wheels for its Python 3.12 (what its image lacks: scripts/device/wheels.txt)
#   .gl/    Debian's GL/EGL packages, so pyrender renders on the GPU through EGL
#   .synth/ data.tgz: a small pre-rendered dataset, used only if EGL rendering fails there
# Usage: bash scripts/device/prepare.sh [SIZE...]   (architectures to train; default evlm_tiny.GPU_SIZES)
# EVLM_FALLBACK_N: examples in the fallback data (default 3000, about 16 MB; 0: none).
set -euo pipefail
cd "$(dirname "$0")/../.."
PY=.venv/bin/python
SIZES=""
for s in "$@"; do SIZES+=" --size $s"; done
N=${EVLM_FALLBACK_N:-3000}
exclude=$(git rev-parse --git-path info/exclude)
mkdir -p "$(dirname "$exclude")"
for d in .whl .gl .synth; do grep -qx "/$d/" "$exclude" 2>/dev/null || echo "/$d/" >> "$exclude"; done

echo "== wheels for CPython 3.12, manylinux x86-64 (scripts/device/wheels.txt)"
rm -rf .whl && mkdir .whl
plats=(--platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 --platform manylinux_2_17_x86_64
       --platform manylinux2014_x86_64 --platform manylinux1_x86_64 --platform manylinux_2_24_x86_64
       --platform manylinux_2_31_x86_64 --platform manylinux_2_34_x86_64 --platform manylinux_2_35_x86_64)
grep -v '^#' scripts/device/wheels.txt | xargs $PY -m pip download -q --no-deps --only-binary=:all: \
  --python-version 3.12 --implementation cp "${plats[@]}" -d .whl
$PY scripts/device/check_wheels.py .whl scripts/device/device_packages.txt

echo "== GL/EGL packages (Debian, amd64)"
rm -rf .gl && mkdir -p .gl /tmp/amd64/partial
o=(-oAPT::Architecture=amd64 -oAPT::Architectures=amd64 -oDir::State::Lists=/tmp/amd64)
apt-get "${o[@]}" update -qq
(cd .gl && apt-get "${o[@]}" download -qq libvulkan1 libegl1 libglvnd0 libopengl0 libgl1 libglx0 libgles2)

rm -rf .synth && mkdir .synth
if [ "$N" -gt 0 ]; then
  echo "== fallback data: $N examples rendered here (OSMesa), as on the GPU (3 views of 64 px, 3 frames)"
  tmp=$(mktemp -d)
  PYOPENGL_PLATFORM=osmesa nice .venv/bin/evlm-synth --n "$N" --out "$tmp/data" --seed 1 --workers "$(nproc)" \
    --views 3 --size 64 --frames 3 --quiet
  tar czf .synth/data.tgz -C "$tmp/data" .
  rm -rf "$tmp"
fi

echo "== what travels"
tree=$(git ls-files -co --exclude-standard -z | du -cb --files0-from=- | tail -1 | cut -f1)
carried=$(du -cb .whl .gl .synth | tail -1 | cut -f1)
du -sh .whl .gl .synth
echo "working tree $((tree / 1048576)) MiB + carried $((carried / 1048576)) MiB (limit 64 MiB)"
if [ $((tree + carried)) -gt $((62 * 1048576)) ]; then
  echo "too large: lower EVLM_FALLBACK_N" >&2
  exit 1
fi
cat <<EOF

== the one device call (about 9 minutes of the call, 10-11 minutes of device time with the start):
run(command="bash scripts/device/train_small.sh$SIZES", carry=[".whl", ".gl", ".synth"], timeout_s=600)
Then, here: bash scripts/device/ship.sh FILES_AT SIZE [MODEL_NAME]   (the size to ship: see the run's evals)
EOF

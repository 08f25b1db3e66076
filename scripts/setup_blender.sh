#!/usr/bin/env bash
# Make .venv-blender: real headless Blender (bpy 5.0.1 from PyPI, about 1 GB) with the project's
# pure contract (no torch), as inside Blender. Apart from .venv because bpy needs numpy<2 and
# bundles native libraries best kept out of the torch process. The bpy download shows pip's
# progress (a live bar on a terminal, the file and its size in a log).
set -euo pipefail
cd "$(dirname "$0")/.."
[ -x .venv-blender/bin/python ] || python3 -m venv .venv-blender
.venv-blender/bin/pip install -q --upgrade pip
if ! .venv-blender/bin/python -c "import bpy" 2>/dev/null; then
  echo "== Blender as a Python module: bpy 5.0.1, about 1 GB to download (first time only)"
  t0=$SECONDS
  if [ -t 1 ]; then
    .venv-blender/bin/pip install --progress-bar on bpy==5.0.1
  else  # in a log: without the warnings a local file index writes for every package it does not hold
    .venv-blender/bin/pip install --progress-bar on bpy==5.0.1 2>&1 \
      | { grep -v "^WARNING: Location '.*' is ignored: it is neither a file nor a directory" || true; }
  fi
  echo "   ($((SECONDS - t0)) s)"
fi
.venv-blender/bin/pip install -q -e . pytest pillow

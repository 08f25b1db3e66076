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
  .venv-blender/bin/pip install --progress-bar on bpy==5.0.1
  echo "   ($((SECONDS - t0)) s)"
fi
.venv-blender/bin/pip install -q -e . pytest pillow

#!/usr/bin/env bash
# Make .venv-blender: real headless Blender (bpy 5.0.1 from PyPI, about 1 GB) with the project's
# pure contract (no torch), as inside Blender. Apart from .venv because bpy needs numpy<2 and
# bundles native libraries best kept out of the torch process.
set -euo pipefail
cd "$(dirname "$0")/.."
[ -x .venv-blender/bin/python ] || python3 -m venv .venv-blender
.venv-blender/bin/pip install -q --upgrade pip
.venv-blender/bin/python -c "import bpy" 2>/dev/null || .venv-blender/bin/pip install -q bpy==5.0.1
.venv-blender/bin/pip install -q -e . pytest pillow

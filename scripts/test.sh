#!/usr/bin/env bash
# Every test: the main suite in .venv, then the Blender suite in .venv-blender (real bpy 5.0.1).
set -euo pipefail
cd "$(dirname "$0")/.."
.venv/bin/python -m pytest -q --ignore=tests/blender -m "not long" "$@"  # a later -m in "$@" wins
[ -x .venv-blender/bin/python ] || bash scripts/setup_blender.sh  # real Blender, about 1 GB, first time only
.venv-blender/bin/python -m pytest -q tests/blender "$@"

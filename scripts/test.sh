#!/usr/bin/env bash
# Every test: the main suite in .venv, then the Blender suite in real bpy: 5.0.1 (.venv-blender),
# then 4.2.0 (.venv-blender42, 4.2 LTS: the oldest Blender the add-on supports).
set -euo pipefail
cd "$(dirname "$0")/.."
.venv/bin/python -m pytest -q --ignore=tests/blender -m "not long" "$@"  # a later -m in "$@" wins
[ -x .venv-blender/bin/python ] || bash scripts/setup_blender.sh  # real Blender, about 1 GB, first time only
.venv-blender/bin/python -m pytest -q tests/blender "$@"
[ -x .venv-blender42/bin/python ] || bash scripts/setup_blender.sh 4.2.0  # about 1 GB more, first time only
.venv-blender42/bin/python -m pytest -q tests/blender "$@"

#!/usr/bin/env bash
# Make a venv with real headless Blender (bpy from PyPI, about 1 GB) and the project's pure core
# (no torch), as inside Blender. Apart from .venv because bpy needs numpy<2 and bundles native
# libraries best kept out of the torch process. The bpy download shows pip's progress (a live bar
# on a terminal, the file and its size in a log).
#   bash scripts/setup_blender.sh          # bpy 5.0.1 in .venv-blender (the main Blender suite)
#   bash scripts/setup_blender.sh 4.2.0    # bpy 4.2.0 in .venv-blender42 (the oldest supported: 4.2 LTS)
set -euo pipefail
cd "$(dirname "$0")/.."
version="${1:-5.0.1}"
case "$version" in
  5.0.1) venv=.venv-blender ;;
  4.2.0) venv=.venv-blender42 ;;
  *) echo "setup_blender.sh: unsupported Blender version '$version' (5.0.1 or 4.2.0)" >&2; exit 2 ;;
esac
[ -x "$venv/bin/python" ] || python3 -m venv "$venv"
"$venv/bin/pip" install -q --upgrade pip
if ! "$venv/bin/python" -c "import bpy" 2>/dev/null; then
  echo "== Blender $version as a Python module (bpy) in $venv: about 1 GB to download, first time only"
  t0=$SECONDS
  # numpy<2: the numpy these bpy builds were made against (bpy 4.2's own metadata does not pin it)
  install=("$venv/bin/pip" install --progress-bar on "bpy==$version" "numpy>=1.26,<2")
  if [ -t 1 ]; then
    "${install[@]}"
  else  # in a log: without the warnings a local file index writes for every package it does not hold
    "${install[@]}" 2>&1 | { grep -v "^WARNING: Location '.*' is ignored: it is neither a file nor a directory" || true; }
  fi
  echo "   ($((SECONDS - t0)) s)"
fi
"$venv/bin/pip" install -q -e . pytest pillow "numpy>=1.26,<2"

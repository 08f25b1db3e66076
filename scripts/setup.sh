#!/usr/bin/env bash
# Make .venv with the project, the server and training dependencies and the test tools.
# - torch goes in first, pinned to the CPU build that lies on this kind of machine's disk: a bare
#   `torch` requirement in a fresh venv would pull a multi-GB CUDA build.
# - pyrender pins PyOpenGL 3.1.0, which fails on OSMesa: the newer one goes in after it.
# - headless rendering on a CPU needs Debian's OSMesa.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! dpkg -s libosmesa6 libgl1 >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ]; then
    (apt-get update -qq && apt-get install -y -qq libosmesa6 libgl1) >/dev/null
  else
    echo "warning: Debian's libosmesa6 is missing (sudo apt-get install libosmesa6): synthetic rendering will fail" >&2
  fi
fi
[ -x .venv/bin/python ] || python3 -m venv .venv
.venv/bin/pip install -q --upgrade pip
.venv/bin/python -c "import torch" 2>/dev/null || .venv/bin/pip install -q torch==2.13.0
.venv/bin/pip install -q -e ".[server,train,dev,ray]"
.venv/bin/pip install -q "PyOpenGL>=3.1.7" 2>&1 | grep -v "dependency conflicts\|pyrender .* requires PyOpenGL\|resolver does not currently" || true

#!/usr/bin/env bash
# Make .venv with the project, the server's dependencies and the test tools.
# torch goes in first, pinned to the CPU build that lies on this kind of machine's disk: a bare
# `torch` requirement in a fresh venv would pull a multi-GB CUDA build.
set -euo pipefail
cd "$(dirname "$0")/.."
[ -x .venv/bin/python ] || python3 -m venv .venv
.venv/bin/pip install -q --upgrade pip
.venv/bin/python -c "import torch" 2>/dev/null || .venv/bin/pip install -q torch==2.13.0
.venv/bin/pip install -q -e ".[server,dev]"

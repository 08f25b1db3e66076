#!/usr/bin/env bash
# Make .venv with the project, the server and training dependencies and the test tools.
# Usage: bash scripts/setup.sh [--torch-index URL|pypi]        (or EVLM_TORCH_INDEX=URL|pypi)
# - torch goes in first, and its build is chosen, not left to pip (scripts/pick_torch.py): an
#   explicit index if given; on a machine with an NVIDIA GPU, pip's own indexes (PyPI's CUDA
#   build); else a local CPU wheel if pip's find-links offer one (this project's CI machines);
#   else PyTorch's CPU index. A bare `torch` requirement in a fresh venv would pull a multi-GB
#   CUDA build onto a machine without a GPU.
# - pyrender pins PyOpenGL 3.1.0, which fails on OSMesa: the newer one goes in after it.
# - headless rendering on a CPU needs Debian's OSMesa.
# Downloads show pip's progress; each step says what it fetches and how long it took.
set -euo pipefail
cd "$(dirname "$0")/.."

TORCH_INDEX=${EVLM_TORCH_INDEX:-}
while [ $# -gt 0 ]; do
  case "$1" in
    --torch-index) [ $# -ge 2 ] || { echo "error: --torch-index needs a URL (or pypi)" >&2; exit 2; }
                   TORCH_INDEX=$2; shift 2 ;;
    --torch-index=*) TORCH_INDEX=${1#*=}; shift ;;
    -h|--help) sed -n '2,11p' "$0"; exit 0 ;;
    *) echo "error: unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
done

step() { echo "== $*"; STEP_T0=$SECONDS; }
done_step() { echo "   ($((SECONDS - STEP_T0)) s)"; }
# pip with its output and progress: live on a terminal; in a log without the warnings a local
# file index writes for every package it does not hold (pip's own status is kept).
shown() {
  if [ -t 1 ]; then "$@"; else "$@" 2>&1 | { grep -v "^WARNING: Location '.*' is ignored: it is neither a file nor a directory" || true; }; fi
}

if ! dpkg -s libosmesa6 libgl1 >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ]; then
    step "Debian's OSMesa and libGL (headless rendering)"
    (apt-get update -qq && apt-get install -y -qq libosmesa6 libgl1) >/dev/null
    done_step
  else
    echo "warning: Debian's libosmesa6 is missing (sudo apt-get install libosmesa6): synthetic rendering will fail" >&2
  fi
fi
[ -x .venv/bin/python ] || python3 -m venv .venv
.venv/bin/pip install -q --upgrade pip

if .venv/bin/python -c "import torch" 2>/dev/null; then
  echo "== torch $(.venv/bin/python -c 'import torch; print(torch.__version__)') is in .venv already"
else
  args=$(.venv/bin/python scripts/pick_torch.py ${TORCH_INDEX:+--torch-index "$TORCH_INDEX"})
  step "PyTorch: pip install $args"
  # shellcheck disable=SC2086  # pick_torch.py prints plain words: the spec and an optional --index-url URL
  shown .venv/bin/pip install --progress-bar on $args
  done_step
fi
.venv/bin/python -W ignore -c "import torch; print('   torch', torch.__version__, '(CUDA ' + torch.version.cuda + ')' if torch.version.cuda else '(CPU build)')"

# A first install fetches a few hundred MB (transformers, ray, datasets, ...): show it; a re-run
# only refreshes the editable install, quietly.
quiet=-q
[ -x .venv/bin/evlm-server ] || quiet=
step "the project and its server, training, dev and ray dependencies${quiet:+ (already there: refreshing)}"
shown .venv/bin/pip install $quiet --progress-bar on -e ".[server,train,dev,ray]"
.venv/bin/pip install -q "PyOpenGL>=3.1.7" 2>&1 | grep -v "dependency conflicts\|pyrender .* requires PyOpenGL\|resolver does not currently" || true
done_step

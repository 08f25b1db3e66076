"""Which PyTorch build setup.sh installs, and from where: prints pip's arguments on stdout and why
on stderr. Standard library only (it runs before anything else is installed).

    python scripts/pick_torch.py [--torch-index URL|pypi]        (or EVLM_TORCH_INDEX=URL|pypi)

In this order:
1. --torch-index / $EVLM_TORCH_INDEX: that index (`--index-url URL`); `pypi` means pip's own
   configuration (on Linux, PyPI's torch is the CUDA build).
2. An NVIDIA GPU (`nvidia-smi -L` lists one): pip's own configuration, so PyPI's CUDA build
   (about 2.5 GB with the nvidia-* packages it pulls).
3. A CPU wheel of this version for this Python in one of pip's find-links folders (pip's
   configuration files or $PIP_FIND_LINKS; a machine with a local wheel cache, such as this
   project's CI): `torch==VERSION+cpu`, taken from there.
4. Otherwise PyTorch's CPU index, https://download.pytorch.org/whl/cpu (about 200 MB). A bare
   `pip install torch` on Linux would pull the CUDA build and its NVIDIA packages (over 2 GB)
   onto a machine that cannot use them.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
from pathlib import Path

TORCH_VERSION = "2.13.0"  # what the project is tested with (the CPU build, Python 3.11)
CPU_INDEX = "https://download.pytorch.org/whl/cpu"
ENV = "EVLM_TORCH_INDEX"
PIP_DEFAULT = "pypi"  # the value that means: pip's own configuration


def has_nvidia_gpu() -> bool:
    smi = shutil.which("nvidia-smi")
    if smi is None:
        return False
    try:
        out = subprocess.run([smi, "-L"], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return out.returncode == 0 and "GPU" in out.stdout


def find_links(python: str) -> list[Path]:
    """The local folders pip searches for wheels (find-links), from its configuration and environment."""
    try:
        out = subprocess.run([python, "-m", "pip", "config", "list"], capture_output=True, text=True, timeout=60)
        lines = out.stdout.splitlines() if out.returncode == 0 else []
    except (OSError, subprocess.TimeoutExpired):
        lines = []
    values = [line.split("=", 1)[1].strip("'\"") for line in lines if line.split("=", 1)[0].endswith(".find-links")]
    values.append(os.environ.get("PIP_FIND_LINKS", ""))
    folders = []
    for value in values:
        for item in value.split():
            path = Path(item.removeprefix("file://"))
            if path.is_dir() and path not in folders:
                folders.append(path)
    return folders


def local_cpu_wheel(folders: list[Path], version: str = TORCH_VERSION) -> Path | None:
    tag = f"cp{sys.version_info.major}{sys.version_info.minor}"
    arch = os.uname().machine
    for folder in folders:
        for wheel in sorted(folder.glob(f"torch-{version}+cpu-{tag}-{tag}-*.whl")):
            if wheel.name.endswith(f"_{arch}.whl"):
                return wheel
    return None


def choose(index: str | None, python: str = sys.executable) -> tuple[list[str], str]:
    """(pip install arguments, why)."""
    spec = f"torch=={TORCH_VERSION}"
    if index:
        if index == PIP_DEFAULT:
            return [spec], f"as asked ({index}): pip's own indexes (on Linux PyPI's torch is the CUDA build)"
        return [spec, "--index-url", index], f"as asked: from {index}"
    if has_nvidia_gpu():
        return [spec], (
            "an NVIDIA GPU is here: the CUDA build from pip's indexes (PyPI: about 2.5 GB with its nvidia-* "
            f"packages); set {ENV}=URL for another CUDA version's index"
        )
    wheel = local_cpu_wheel(find_links(python))
    if wheel is not None:
        return [f"{spec}+cpu"], f"no NVIDIA GPU; the CPU build from this machine's wheel folder ({wheel.parent})"
    return [spec, "--index-url", CPU_INDEX], (
        f"no NVIDIA GPU: the CPU build from {CPU_INDEX} (about 200 MB; {ENV}=pypi takes pip's own indexes instead)"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--torch-index",
        default=os.environ.get(ENV) or None,
        help=f"an index URL, or {PIP_DEFAULT!r} for pip's own configuration (default ${ENV}, else chosen)",
    )
    args = parser.parse_args(argv)
    if args.torch_index is not None and args.torch_index != PIP_DEFAULT and "://" not in args.torch_index:
        print(
            f"error: --torch-index must be an index URL or {PIP_DEFAULT!r}, got {args.torch_index!r}", file=sys.stderr
        )
        return 2
    pip_args, why = choose(args.torch_index)
    print(f"torch: {why}", file=sys.stderr)
    print(" ".join(pip_args))
    return 0


if __name__ == "__main__":
    sys.exit(main())

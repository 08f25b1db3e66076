"""Set-up's choice of PyTorch build (scripts/pick_torch.py), in made-up environments: a clean pip
configuration, a machine with a local CPU wheel, a GPU box, an explicit index."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PICK = ROOT / "scripts" / "pick_torch.py"
CPU_INDEX = "https://download.pytorch.org/whl/cpu"


def pick(tmp_path: Path, *args: str, gpu: bool = False, find_links: Path | None = None, **env: str):
    """Run pick_torch.py with pip's configuration files switched off (PIP_CONFIG_FILE=/dev/null) and a
    PATH holding only python (and a fake nvidia-smi listing a GPU when `gpu`)."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    if gpu:
        smi = bin_dir / "nvidia-smi"
        smi.write_text("#!/bin/sh\necho 'GPU 0: NVIDIA H100 (UUID: GPU-0)'\n")
        smi.chmod(0o755)
    base = {k: v for k, v in os.environ.items() if not k.startswith(("PIP_", "EVLM_TORCH"))}
    base |= {"PATH": f"{bin_dir}:{Path(sys.executable).parent}:/usr/bin:/bin", "PIP_CONFIG_FILE": os.devnull}
    if find_links is not None:
        base["PIP_FIND_LINKS"] = str(find_links)
    proc = subprocess.run(
        [sys.executable, str(PICK), *args], capture_output=True, text=True, env=base | env, timeout=120
    )
    return proc.returncode, proc.stdout.split(), proc.stderr


def test_a_clean_pip_configuration_without_a_gpu_takes_the_cpu_index(tmp_path: Path) -> None:
    rc, args, why = pick(tmp_path)
    assert rc == 0 and args == ["torch==2.13.0", "--index-url", CPU_INDEX]
    assert "no NVIDIA GPU" in why and "EVLM_TORCH_INDEX=pypi" in why


def test_a_local_cpu_wheel_is_taken_from_pips_find_links(tmp_path: Path) -> None:
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    tag = f"cp{sys.version_info.major}{sys.version_info.minor}"
    (wheels / f"torch-2.13.0+cpu-{tag}-{tag}-manylinux_2_28_{os.uname().machine}.whl").write_bytes(b"")
    rc, args, why = pick(tmp_path, find_links=wheels)
    assert rc == 0 and args == ["torch==2.13.0+cpu"] and str(wheels) in why
    # A wheel for another Python or version does not count.
    other = tmp_path / "other"
    other.mkdir()
    (other / f"torch-2.12.0+cpu-{tag}-{tag}-manylinux_2_28_{os.uname().machine}.whl").write_bytes(b"")
    (other / f"torch-2.13.0+cpu-cp39-cp39-manylinux_2_28_{os.uname().machine}.whl").write_bytes(b"")
    assert pick(tmp_path, find_links=other)[1] == ["torch==2.13.0", "--index-url", CPU_INDEX]


def test_a_gpu_box_takes_pips_own_indexes_the_cuda_build(tmp_path: Path) -> None:
    rc, args, why = pick(tmp_path, gpu=True)
    assert rc == 0 and args == ["torch==2.13.0"] and "CUDA build" in why


def test_an_explicit_index_wins(tmp_path: Path) -> None:
    cu = "https://download.pytorch.org/whl/cu126"
    assert pick(tmp_path, gpu=True, EVLM_TORCH_INDEX=cu)[1] == ["torch==2.13.0", "--index-url", cu]
    assert pick(tmp_path, EVLM_TORCH_INDEX="pypi")[1] == ["torch==2.13.0"]
    assert pick(tmp_path, "--torch-index", CPU_INDEX, gpu=True, EVLM_TORCH_INDEX=cu)[1][-1] == CPU_INDEX  # flag > env
    rc, args, why = pick(tmp_path, "--torch-index", "cpu")
    assert rc == 2 and args == [] and "must be an index URL or 'pypi'" in why

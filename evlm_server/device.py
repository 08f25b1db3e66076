"""Which torch device a command line may name, checked before a model is loaded.

`check_device` reads the name alone (no torch import, so a typo fails at once); `resolve_device`
asks torch whether that device is there (`auto`: CUDA when there is one, else the CPU).
"""

from __future__ import annotations

import re

from evlm.cliargs import arg_type

DEVICES = "auto, cpu, cuda or cuda:N"
_DEVICE = re.compile(r"auto|cpu|cuda(:\d+)?")


def check_device(name: str) -> str:
    if not isinstance(name, str) or not _DEVICE.fullmatch(name):
        raise ValueError(f"unknown device {name!r}: use {DEVICES}")
    return name


device_arg = arg_type(check_device)  # for --device


def resolve_device(name: str) -> str:
    """`cpu` or `cuda[:N]`, present on this machine. ValueError says why not."""
    import torch

    check_device(name)
    if name == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if name == "cpu":
        return name
    if torch.version.cuda is None:
        raise ValueError(f"device {name!r}: this PyTorch ({torch.__version__}) is built without CUDA; use --device cpu")
    count = torch.cuda.device_count() if torch.cuda.is_available() else 0
    index = int(name.partition(":")[2] or 0)
    if index >= count:
        raise ValueError(f"device {name!r}: this machine has {count} CUDA device(s) that PyTorch can use")
    return name

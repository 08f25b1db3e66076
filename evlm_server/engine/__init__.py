"""Engines: what turns a batch of requests into validated edit plans.

Importing this package imports no torch: `load_engine` imports the Hugging Face backend only
when it is called.
"""

from __future__ import annotations

from pathlib import Path

from evlm_server.engine.base import Cancelled, Engine, EngineRequest, EngineResult

__all__ = ["Cancelled", "Engine", "EngineRequest", "EngineResult", "load_engine"]


def load_engine(model_path: str | Path, kind: str = "auto", **kw) -> Engine:
    """An engine for a local checkpoint folder (see hf.HFEngine for `kw`).

    kind "auto": the fast engine (static KV cache, CUDA graphs, continuous batching) on CUDA for
    the architectures it supports, the plain transformers engine otherwise; "hf" or "fast" force
    one. FileNotFoundError if the folder is missing, ValueError if it is not a checkpoint of a
    supported architecture or the device is not there.
    """
    from evlm_server.device import resolve_device
    from evlm_server.engine.checkpoint import check_checkpoint
    from evlm_server.engine.fast import FastEngine
    from evlm_server.engine.hf import HFEngine

    if kind not in ("auto", "hf", "fast"):
        raise ValueError(f"unknown engine {kind!r}: auto, hf or fast")
    path = Path(model_path).expanduser()
    check_checkpoint(path)
    kw["device"] = device = resolve_device(kw.get("device", "auto"))
    on_cuda = device.startswith("cuda")
    if kind == "fast" or (
        kind == "auto" and on_cuda and (path / "config.json").is_file() and FastEngine.supports(path)
    ):
        return FastEngine(path, **kw)
    return HFEngine(path, **kw)

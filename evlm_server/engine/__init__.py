"""Engines: what turns requests into validated edit plans.

Importing this package imports no torch: `load_engine` imports the backends only when it is called.

Layers, bottom up: `checkpoint` (which architectures load, from config.json alone), `spec` (the
decode spec: budgets, sampling), `grammar` (the plan's grammar and finisher), `prompt` (the chat
messages) and `inputs` (their token ids, user text as plain text), `stages` (the stage
machine), `loaded` (a loaded checkpoint and its token facts), then the two engines side by
side, each composing those: `hf` (transformers' `generate`) and `fast` (its own static-cache
decode loop, fed continuously; `fast_decode`). `threads` decides how many CPU threads they
compute with.
"""

from __future__ import annotations

from pathlib import Path

from evlm_server.engine.base import Cancelled, Engine, EngineRequest, EngineResult, PromptTooLong

__all__ = ["Cancelled", "Engine", "EngineRequest", "EngineResult", "PromptTooLong", "load_engine"]


def load_engine(model_path: str | Path, kind: str = "auto", threads: int | None = None, **kw) -> Engine:
    """An engine for a local checkpoint folder.

    kind "auto": the fast engine (static KV cache, lean decode, continuous batching; CUDA graphs
    on CUDA) for the architectures it supports, the plain transformers engine otherwise; "hf" or
    "fast" force one. `threads`: torch's CPU threads, fixed; None picks them from the free cores
    (threads.py). `kw`: the DecodeSpec's fields (max_reasoning_tokens, max_answer_tokens,
    temperature, top_p, seed) and the engine's own (device, dtype, max_batch; hf:
    cache_implementation; fast: max_len, cuda_graphs). FileNotFoundError if the folder is
    missing, ValueError if it is not a checkpoint of a supported architecture, the device is not
    there or an argument is bad.
    """
    from evlm_server.device import resolve_device
    from evlm_server.engine.checkpoint import check_checkpoint
    from evlm_server.engine.fast import FastEngine
    from evlm_server.engine.hf import HFEngine
    from evlm_server.engine.spec import DecodeSpec
    from evlm_server.engine.threads import ThreadPolicy

    if kind not in ("auto", "hf", "fast"):
        raise ValueError(f"unknown engine {kind!r}: auto, hf or fast")
    path = Path(model_path).expanduser()
    check_checkpoint(path)
    kw["device"] = resolve_device(kw.get("device", "auto"))
    spec = DecodeSpec.take(kw)
    policy = ThreadPolicy(threads)
    if kind == "fast" or (kind == "auto" and (path / "config.json").is_file() and FastEngine.supports(path)):
        return FastEngine(path, spec, threads=policy, **kw)
    return HFEngine(path, spec, threads=policy, **kw)

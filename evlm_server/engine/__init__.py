"""Engines: what turns a batch of requests into validated edit plans.

Importing this package imports no torch: `load_engine` imports the Hugging Face backend only
when it is called.
"""

from __future__ import annotations

from pathlib import Path

from evlm_server.engine.base import Cancelled, Engine, EngineRequest, EngineResult

__all__ = ["Cancelled", "Engine", "EngineRequest", "EngineResult", "load_engine"]


def load_engine(model_path: str | Path, **kw) -> Engine:
    """The Hugging Face engine for a local checkpoint folder (see hf.HFEngine for `kw`).

    FileNotFoundError if the folder is missing, ValueError if it is not a loadable checkpoint.
    """
    from evlm_server.engine.hf import HFEngine

    return HFEngine(model_path, **kw)

"""Which checkpoints the engine serves, told from config.json alone.

No torch here: a wrong folder, a text-only model or an architecture the engine does not know is
refused in milliseconds with the list of what works, before torch and transformers are imported.
"""

from __future__ import annotations

import json
from pathlib import Path

# model_type -> name. Every one loads with AutoModelForImageTextToText and a Qwen chat template,
# and is tested with a tiny checkpoint (training/tiny.py).
ARCHITECTURES = {"qwen2_vl": "Qwen2-VL", "qwen2_5_vl": "Qwen2.5-VL", "qwen3_vl": "Qwen3-VL"}


def supported() -> str:
    return ", ".join(f"{name} ({model_type})" for model_type, name in ARCHITECTURES.items())


def check_checkpoint(path: str | Path) -> str:
    """The checkpoint's model_type, if the engine can serve it. FileNotFoundError for a missing
    folder, ValueError for anything else, each saying what is wrong."""
    path = Path(path).expanduser()
    if not path.exists():
        raise FileNotFoundError(f"model checkpoint not found: {path}")
    config = path / "config.json"
    if not config.is_file():
        raise ValueError(f"not a Hugging Face checkpoint folder (no config.json): {path}")
    try:
        data = json.loads(config.read_text())
    except (OSError, UnicodeDecodeError, ValueError) as e:
        raise ValueError(f"{config}: unreadable ({type(e).__name__}: {e})") from None
    model_type = data.get("model_type") if isinstance(data, dict) else None
    if model_type in ARCHITECTURES:
        return model_type
    if isinstance(data, dict) and "vision_config" not in data:
        raise ValueError(
            f"{path} is a text-only model (model_type {model_type!r}); EVLM needs a vision-language "
            f"checkpoint: {supported()}"
        )
    raise ValueError(f"{path}: architecture {model_type!r} is not supported; supported: {supported()}")

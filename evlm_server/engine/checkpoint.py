"""A local Hugging Face checkpoint, loaded: the model, its processor, and the token facts that both
engines decode with (stop and pad ids, the reasoning ban, the grammar, the context length).

Any Qwen2-VL-class image-text-to-text checkpoint: `AutoModelForImageTextToText` +
`AutoProcessor`, `local_files_only` (never a hub). bf16 on CUDA, float32 on CPU.
"""

from __future__ import annotations

import inspect
import json
from pathlib import Path

import torch
from transformers import AutoModelForImageTextToText, AutoProcessor

from evlm.edits import plan_json_schema
from evlm.scene import SceneGraph
from evlm_server.engine.grammar import CompiledPlan, JsonConstraint, PlanGrammar
from evlm_server.engine.prompt import ANSWER_PREFIX, THINK_END
from evlm_server.engine.stages import StageTokens

_QWEN_VL = ("qwen2_vl", "qwen2_5_vl")


def load_processor(path: str | Path):
    """`AutoProcessor` for the checkpoint, or, for Qwen2-VL models where torchvision is missing,
    the same processor without its video half.

    transformers 5 builds Qwen2-VL's processor with a video processor that needs torchvision,
    even for image-only use. The image half (PIL backend), tokenizer and chat template are
    all this engine needs, so without torchvision it builds just those.
    """
    try:
        return AutoProcessor.from_pretrained(path, local_files_only=True)
    except ImportError:
        model_type = json.loads((Path(path) / "config.json").read_text()).get("model_type")
        if model_type not in _QWEN_VL:
            raise
        return _image_only_processor_class().from_pretrained(path, local_files_only=True)


def _image_only_processor_class():
    from transformers import Qwen2VLProcessor
    from transformers.processing_utils import ProcessorMixin

    class Qwen2VLImageOnlyProcessor(Qwen2VLProcessor):
        """Qwen2-VL's processor for images only (no video processor, so no torchvision)."""

        def __init__(self, image_processor=None, tokenizer=None, chat_template=None, **kwargs):
            self.image_token = getattr(tokenizer, "image_token", None) or "<|image_pad|>"
            self.video_token = getattr(tokenizer, "video_token", None) or "<|video_pad|>"
            self.image_token_id = tokenizer.convert_tokens_to_ids(self.image_token)
            self.video_token_id = tokenizer.convert_tokens_to_ids(self.video_token)
            ProcessorMixin.__init__(self, image_processor, tokenizer, chat_template=chat_template)

    return Qwen2VLImageOnlyProcessor


class Checkpoint:
    """A loaded checkpoint folder. FileNotFoundError if it is missing, ValueError if it is not a
    loadable checkpoint."""

    def __init__(self, model_path: str | Path, device: str = "auto", dtype: str | torch.dtype | None = None) -> None:
        path = Path(model_path).expanduser()
        if not path.exists():
            raise FileNotFoundError(f"model checkpoint not found: {path}")
        if not (path / "config.json").is_file():
            raise ValueError(f"not a Hugging Face checkpoint (no config.json): {path}")
        if device == "auto":
            device = "cuda" if torch.cuda.is_available() else "cpu"
        if dtype is None:
            dtype = torch.bfloat16 if device.startswith("cuda") else torch.float32
        elif isinstance(dtype, str):
            dtype = getattr(torch, dtype)
        try:
            self.processor = load_processor(path)
            model = AutoModelForImageTextToText.from_pretrained(path, local_files_only=True, dtype=dtype)
        except (OSError, ValueError, KeyError, RuntimeError, json.JSONDecodeError) as e:
            raise ValueError(f"cannot load checkpoint {path}: {type(e).__name__}: {e}") from e
        self.model = model.to(device).eval()
        self.path, self.device, self.dtype = path, torch.device(device), dtype
        config = self.model.config
        text_config = getattr(config, "text_config", None) or config
        # Prompt + new tokens must fit here (positions past it are untrained, attention grows).
        self.context_tokens: int | None = getattr(text_config, "max_position_embeddings", None)
        self.takes_mm_token_types = "mm_token_type_ids" in inspect.signature(self.model.forward).parameters

        tok = self.processor.tokenizer
        tok.padding_side = "left"
        self.tokenizer = tok
        self.vocab_size = self.model.get_output_embeddings().weight.shape[0]
        im_end = tok.convert_tokens_to_ids("<|im_end|>")
        known = isinstance(im_end, int) and im_end != tok.unk_token_id
        self.stop_id = im_end if known else tok.eos_token_id  # a Qwen turn ends with <|im_end|>
        self.pad_id = tok.pad_token_id if tok.pad_token_id is not None else self.stop_id
        self.grammar = PlanGrammar.for_tokenizer(tok, self.vocab_size, [self.stop_id])
        self.grammar.compile(plan_json_schema(None))  # warms xgrammar's caches shared by scenes
        self._compiled: dict[tuple[str | None, int], CompiledPlan] = {}  # see `constraint`

        # `</think>` is a special token in some tokenizers (the tiny one), text in Qwen2-VL's.
        think_end = tok.convert_tokens_to_ids(THINK_END)
        special = set(tok.all_special_ids) | {i for i, t in tok.added_tokens_decoder.items() if t.special}
        think_end_id = think_end if think_end in special else None
        # Reasoning is plain text: no control or vision tokens, nor ids past the tokenizer.
        ban = torch.zeros(self.vocab_size, dtype=torch.bool)
        ban[[i for i in special if i < self.vocab_size and i != think_end_id]] = True
        ban[len(tok) :] = True
        self.tokens = StageTokens(
            think_end_id=think_end_id,
            newline_ids=tuple(tok.encode("\n", add_special_tokens=False)),
            close_ids=tuple(tok.encode("\n" + ANSWER_PREFIX, add_special_tokens=False)),
            reasoning_ban=ban.to(self.device),
            token_bytes=self.grammar.vocab.decoded,
            decode=lambda ids: tok.decode(ids, skip_special_tokens=False),
        )

    def constraint(self, scene: SceneGraph | None, max_suggestions: int, budget: int) -> JsonConstraint:
        """A fresh grammar constraint for a plan about `scene`, of at most `budget` tokens.

        The plan's schema and grammar are kept for the last scenes seen (an artist asks again
        about the same scene): building the schema alone costs ~45 ms of pydantic work."""
        key = (scene.model_dump_json() if scene is not None else None, max_suggestions)
        compiled = self._compiled.get(key)
        if compiled is None:
            compiled = self.grammar.compile(plan_json_schema(scene, max_suggestions))
            if len(self._compiled) >= 64:
                self._compiled.pop(next(iter(self._compiled)))
            self._compiled[key] = compiled
        return self.grammar.constraint(compiled, budget)

    def info(self) -> dict:
        return {
            "model_type": self.model.config.model_type,
            "path": str(self.path),
            "device": str(self.device),
            "dtype": str(self.dtype).removeprefix("torch."),
            "parameters": sum(p.numel() for p in self.model.parameters()),
            "context_tokens": self.context_tokens,
        }

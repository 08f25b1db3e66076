"""A local Hugging Face checkpoint, loaded: the model, its processor, the prompt format it was
trained on, and the token facts that both engines decode with (stop and pad ids, the reasoning
ban, the grammar, the context length).

An architecture checkpoint.py accepts: `AutoModelForImageTextToText` + `AutoProcessor`,
`local_files_only` (never a hub). bf16 on CUDA, float32 on CPU.
"""

from __future__ import annotations

import inspect
import json
from pathlib import Path

import torch
from transformers import AutoModelForImageTextToText, AutoProcessor

from evlm.edits import plan_json_schema
from evlm.scene import SceneGraph
from evlm_server.device import resolve_device
from evlm_server.engine.checkpoint import check_checkpoint
from evlm_server.engine.grammar import CompiledPlan, JsonConstraint, PlanGrammar
from evlm_server.engine.prompt import ANSWER_PREFIX, THINK_END, read_prompt_format
from evlm_server.engine.stages import StageTokens


def load_processor(path: str | Path):
    """`AutoProcessor` for the checkpoint or, where torchvision is missing, the same processor
    without its video half.

    transformers 5 builds the Qwen-VL processors with a video processor that needs torchvision,
    even for image-only use. The image half (PIL backend), tokenizer and chat template are all
    this engine needs, so without torchvision it builds just those.
    """
    model_type = check_checkpoint(path)
    try:
        return AutoProcessor.from_pretrained(path, local_files_only=True)
    except ImportError:
        return _image_only_processor_class(model_type).from_pretrained(path, local_files_only=True)


def _image_only_processor_class(model_type: str):
    from transformers import Qwen2VLProcessor, Qwen3VLProcessor
    from transformers.processing_utils import ProcessorMixin

    base = Qwen3VLProcessor if model_type == "qwen3_vl" else Qwen2VLProcessor  # Qwen2.5-VL's differs in video only

    class ImageOnlyProcessor(base):
        """The Qwen-VL processor for images only (no video processor, so no torchvision)."""

        def __init__(self, image_processor=None, tokenizer=None, chat_template=None, **kwargs):
            for name, default in (("image", "<|image_pad|>"), ("video", "<|video_pad|>"),
                                  ("vision_start", "<|vision_start|>"), ("vision_end", "<|vision_end|>")):  # fmt: skip
                token = getattr(tokenizer, f"{name}_token", None) or default
                setattr(self, f"{name}_token", token)
                setattr(self, f"{name}_token_id", tokenizer.convert_tokens_to_ids(token))
            ProcessorMixin.__init__(self, image_processor, tokenizer, chat_template=chat_template)

    ImageOnlyProcessor.__name__ = f"{base.__name__}ImageOnly"
    return ImageOnlyProcessor


class Checkpoint:
    """A loaded checkpoint folder. FileNotFoundError if it is missing, ValueError if it is not a
    loadable checkpoint."""

    def __init__(self, model_path: str | Path, device: str = "auto", dtype: str | torch.dtype | None = None) -> None:
        path = Path(model_path).expanduser()
        check_checkpoint(path)  # FileNotFoundError / ValueError naming what works
        device = resolve_device(device)
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
        self.prompt_format = read_prompt_format(path)  # serve the prompt it was trained on
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
            "prompt_format": self.prompt_format,
        }

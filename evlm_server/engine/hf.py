"""The Hugging Face backend: any Qwen2-VL-class checkpoint through `transformers`.

One `generate` call per batch runs both stages. The stages are switched per row by
`StageDecoder`, which is both a logits processor and a stopping criterion:
- reasoning: free text after `<think>`, without special tokens, until the model writes
  `</think>` or reaches `max_reasoning_tokens`;
- close: `</think>\\n` is forced token by token (or only the `\\n`, if the model closed the
  block itself);
- answer: the JSON plan under the row's own grammar (grammar.py), at most `max_answer_tokens`,
  closed by the finisher if the budget runs out;
- done or cancelled: the row stops (generate pads it) while the others go on.
One call means one prefill and a KV cache shared by both stages. Rows switch stage on their own
schedule, with no padding holes in the middle of a sequence.

torch and transformers are imported here only; `evlm_server.engine` loads this module lazily.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import torch
from transformers import (
    AutoModelForImageTextToText,
    AutoProcessor,
    GenerationConfig,
    StoppingCriteria,
)

from evlm.edits import plan_json_schema, validate_plan
from evlm_server.engine.base import Cancelled, EngineRequest, EngineResult
from evlm_server.engine.checkpoint import check_checkpoint
from evlm_server.engine.grammar import PlanGrammar
from evlm_server.engine.prompt import (
    ANSWER_PREFIX,
    ASSISTANT_PREFIX,
    THINK_END,
    build_messages,
    read_prompt_format,
    request_images,
)
from evlm_server.engine.stages import Row, StageDecoder


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


class HFEngine:
    """Engine over a local Hugging Face image-text-to-text checkpoint (see base.Engine)."""

    name = "hf"
    needs_pixels = True

    def __init__(
        self,
        model_path: str | Path,
        device: str = "auto",
        dtype: str | torch.dtype | None = None,
        max_reasoning_tokens: int = 256,
        max_answer_tokens: int = 768,
        max_batch: int = 4,
        temperature: float = 0.0,
        top_p: float = 1.0,
        seed: int | None = None,
        cache_implementation: str | None = None,
    ) -> None:
        path = Path(model_path).expanduser()
        check_checkpoint(path)  # FileNotFoundError / ValueError naming what works
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
        self.prompt_format = read_prompt_format(path)  # serve the prompt it was trained on
        self.max_reasoning_tokens = max_reasoning_tokens
        self.max_answer_tokens = max_answer_tokens
        self.max_batch = max_batch
        self.temperature, self.top_p, self.seed = temperature, top_p, seed
        self.cache_implementation = cache_implementation

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

        # `</think>` is a special token in some tokenizers (the tiny one), text in Qwen2-VL's.
        think_end = tok.convert_tokens_to_ids(THINK_END)
        special = set(tok.all_special_ids) | {i for i, t in tok.added_tokens_decoder.items() if t.special}
        self.think_end_id = think_end if think_end in special else None
        # Reasoning is plain text: no control or vision tokens, nor ids past the tokenizer.
        ban = torch.zeros(self.vocab_size, dtype=torch.bool)
        ban[[i for i in special if i < self.vocab_size and i != self.think_end_id]] = True
        ban[len(tok) :] = True
        self.reasoning_ban = ban.to(self.device)
        self.close_ids = tok.encode("\n" + ANSWER_PREFIX, add_special_tokens=False)
        self.newline_ids = tok.encode("\n", add_special_tokens=False)

    def info(self) -> dict:
        return {
            "name": self.name,
            "model_type": self.model.config.model_type,
            "path": str(self.path),
            "device": str(self.device),
            "dtype": str(self.dtype).removeprefix("torch."),
            "parameters": sum(p.numel() for p in self.model.parameters()),
            "max_batch": self.max_batch,
            "max_reasoning_tokens": self.max_reasoning_tokens,
            "max_answer_tokens": self.max_answer_tokens,
        }

    def run(self, batch: list[EngineRequest]) -> list[EngineResult | Exception]:
        results: list[EngineResult | Exception] = []
        for start in range(0, len(batch), self.max_batch):
            results += self._run_chunk(batch[start : start + self.max_batch])
        return results

    # ------------------------------------------------------------------ one batch
    def _run_chunk(self, requests: list[EngineRequest]) -> list[EngineResult | Exception]:
        t0 = time.perf_counter()
        results: list[EngineResult | Exception | None] = [None] * len(requests)
        rows: list[Row] = []
        for i, req in enumerate(requests):
            try:
                if req.is_cancelled():
                    raise Cancelled(req.id)
                schema = plan_json_schema(req.scene, req.max_suggestions)
                constraint = self.grammar.constraint(self.grammar.compile(schema), self.max_answer_tokens)
                rows.append(Row(i, req, constraint))
            except Exception as e:  # a bad request fails alone
                results[i] = e
        if rows:
            try:
                self._generate(rows)
            except Exception as e:  # the batch as a whole failed (e.g. out of memory)
                for row in rows:
                    results[row.index] = e
                return results  # type: ignore[return-value]
            for row in rows:
                try:
                    results[row.index] = self._result(row, t0)
                except Exception as e:  # e.g. a PlanError: fails this request only
                    results[row.index] = e
        return results  # type: ignore[return-value]

    def _generate(self, rows: list[Row]) -> None:
        texts, images = [], []
        for row in rows:
            template = self.processor.apply_chat_template(
                build_messages(row.req, self.prompt_format), tokenize=False, add_generation_prompt=True
            )
            texts.append(template + ASSISTANT_PREFIX)
            images += request_images(row.req)
        inputs = self.processor(text=texts, images=images or None, padding=True, return_tensors="pt").to(self.device)
        prompt_lens = inputs["attention_mask"].sum(dim=1).tolist()
        for row, n in zip(rows, prompt_lens, strict=True):
            row.prompt_tokens = int(n)

        decoder = StageDecoder(self, rows)
        t_generate = time.perf_counter()
        for row in rows:
            row.t_start = t_generate
        sample = self.temperature > 0
        config = GenerationConfig(
            max_new_tokens=self.max_reasoning_tokens + len(self.close_ids) + self.max_answer_tokens,
            do_sample=sample,
            temperature=self.temperature if sample else None,
            top_p=self.top_p if sample else None,
            top_k=None,
            eos_token_id=[self.stop_id],
            pad_token_id=self.pad_id,
            cache_implementation=self.cache_implementation,
        )
        if self.seed is not None:
            torch.manual_seed(self.seed)
        with torch.inference_mode():
            self.model.generate(
                **inputs,
                generation_config=config,
                logits_processor=[decoder],
                stopping_criteria=[_Stop(decoder)],
            )

    def _result(self, row: Row, t0: float) -> EngineResult:
        if row.phase == "cancelled":
            raise Cancelled(row.req.id)
        c = row.constraint
        if not c.done:  # generate ended early (it should not): close the JSON anyway
            c.finish()
        row.stream_answer(self.tokenizer, final=True)
        plan = validate_plan(c.text(), row.req.scene)
        t_end = time.perf_counter()
        timings = {
            "prefill": row.t_first - row.t_start,
            "reason": (row.t_answer or t_end) - row.t_first,
            "answer": (row.t_done or t_end) - (row.t_answer or t_end),
            "total": t_end - t0,
        }
        tokens = {
            "prompt": row.prompt_tokens,
            "reasoning": len(row.reasoning_ids),
            "answer": len(c.all_ids),
            "forced": len(c.forced_ids),
        }
        return EngineResult(
            reasoning=row.reasoning_text(self.tokenizer),
            plan=plan,
            timings={k: round(v, 4) for k, v in timings.items()},
            tokens=tokens,
        )


class _Stop(StoppingCriteria):
    """Feeds every sampled token to the decoder; a row stops when the decoder says so."""

    def __init__(self, decoder: StageDecoder) -> None:
        self.decoder = decoder

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor, **kw) -> torch.Tensor:
        return self.decoder.step(input_ids)

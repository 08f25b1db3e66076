"""Batches for training: a collator that feeds a Hugging Face vision-language processor.

Per example, three parts are tokenized apart and concatenated, as the engine sees them:
- prompt: the processor on the engine's prompt text (format.prompt_text) and the record's images
  (views, then the reference): input ids with the image tokens expanded, pixel values, grid;
- reasoning: format.reasoning_text (the chain of thought, then `\\n</think>\\n`);
- answer: format.answer_text (the plan JSON the grammar would write), then the stop token
  (`<|im_end|>` where the tokenizer has it, as the engine's stop).

Output, padded on the right to the longest example:
- `input_ids`, `attention_mask`, and every other per-token tensor the processor returns (such as
  Qwen2-VL's `mm_token_type_ids`), zero for target and padding positions;
- the vision tensors (`pixel_values`, `image_grid_thw`), concatenated over the batch in order,
  as Qwen2-VL-class models take them (one row per patch / per image);
- `labels`: the token ids of the reasoning and answer parts, IGNORE_INDEX (-100) on the prompt,
  its image tokens and the padding. Aligned with `input_ids` (the model shifts them);
- `segment_ids`: 0 prompt (and padding: no label), 1 reasoning, 2 answer; aligned with `labels`,
  so RKTO sums per-token log-ratios over `segment_ids[:, 1:] == k` after the usual shift;
- `scores` ([B, 2]: the record's reasoning and answer scores) and `ids` (record ids).
`model_inputs(batch)` keeps only what the model's forward takes.

Tokenizing and image processing cost a CPU far more than a small model's step costs a GPU, and
every epoch would redo them: `preencode` encodes a training set once, in several processes, and
`encode` answers from that cache afterwards (the same dicts, so the same batches).
"""

from __future__ import annotations

import multiprocessing
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from training.data.format import answer_text, prompt_messages, prompt_text, reasoning_text
from training.data.loader import Example, example_from_row

IGNORE_INDEX = -100
SEG_PROMPT, SEG_REASONING, SEG_ANSWER = 0, 1, 2
NON_MODEL_KEYS = ("segment_ids", "scores", "ids")


class Collator:
    """`collator(examples) -> batch` (module docstring). `examples`: loader.Example objects or
    `as_hf_dataset` rows. `max_length`: ValueError for a longer example (truncating would cut an
    image or the plan's JSON)."""

    def __init__(
        self, processor: Any, max_length: int | None = None, add_stop: bool = True, prompt_format: int = 1
    ) -> None:
        self.processor = processor
        self.prompt_format = prompt_format  # the engine's (evlm_server.engine.prompt): train on what is served
        self.tokenizer = getattr(processor, "tokenizer", processor)
        self.max_length = max_length
        self.stop_ids: list[int] = []
        if add_stop:
            tok = self.tokenizer
            im_end = tok.convert_tokens_to_ids("<|im_end|>")
            known = isinstance(im_end, int) and im_end != tok.unk_token_id
            self.stop_ids = [im_end if known else tok.eos_token_id]
        self.pad_id = self.tokenizer.pad_token_id if self.tokenizer.pad_token_id is not None else self.stop_ids[0]
        self.settings = (max_length, add_stop, prompt_format)  # what a worker process needs to rebuild it
        self.cache: dict[tuple, dict] = {}  # (record id, reasoning, answer) -> encode()'s dict (preencode)

    def preencode(self, items: Sequence, model: str | Path, workers: int) -> None:
        """Encode `items` (examples, or `(example, reasoning, answer)` tuples) in `workers`
        processes, each with its own processor loaded from the checkpoint `model`, and keep the
        results for `encode`. workers = 1: here, in this process; 0: nothing (every batch is encoded
        when it is made)."""
        if workers < 1 or not items:
            return
        items = [i if isinstance(i, tuple) else (i, None, None) for i in items]
        if workers == 1:  # here, once (a process of its own would only add its start-up)
            for ex, reasoning, answer in items:
                self.cache[(ex.record.id, reasoning, answer)] = self.encode(ex, reasoning=reasoning, answer=answer)
            return
        chunks = [items[k : k + 64] for k in range(0, len(items), 64)]
        # spawn: a fresh interpreter, safe after CUDA started here; each loads its own processor
        ctx = multiprocessing.get_context("spawn")
        with ctx.Pool(min(workers, len(chunks)), _worker_init, (str(model), self.settings)) as pool:
            for chunk, encoded in zip(chunks, pool.imap(_encode_chunk, chunks), strict=True):
                for (ex, reasoning, answer), enc in zip(chunk, encoded, strict=True):
                    self.cache[(ex.record.id, reasoning, answer)] = enc

    def encode(self, example: Example | dict, reasoning: str | None = None, answer: str | None = None) -> dict:
        """One example, unpadded. `reasoning`/`answer` replace the record's own target texts
        (e.g. for KTO's mismatched pairs); by default they come from the record."""
        ex = example_from_row(example) if isinstance(example, dict) else example
        record = ex.record
        cached = self.cache.get((record.id, reasoning, answer))
        if cached is not None:
            return cached
        images = ex.images() + ex.references()
        text = prompt_text(self.processor, prompt_messages(record, prompt_format=self.prompt_format))
        enc = self.processor(text=[text], images=images or None, return_tensors="pt")
        prompt_ids = enc["input_ids"][0].tolist()
        reasoning_ids = self.tokenizer.encode(
            reasoning if reasoning is not None else reasoning_text(record.reasoning), add_special_tokens=False
        )
        answer_ids = self.tokenizer.encode(
            answer if answer is not None else answer_text(record.plan), add_special_tokens=False
        )
        answer_ids += self.stop_ids
        ids = prompt_ids + reasoning_ids + answer_ids
        if self.max_length is not None and len(ids) > self.max_length:
            raise ValueError(
                f"record {record.id!r}: {len(ids)} tokens (prompt {len(prompt_ids)}, reasoning {len(reasoning_ids)}, "
                f"answer {len(answer_ids)}) is over max_length {self.max_length}"
            )
        n_target = len(reasoning_ids) + len(answer_ids)
        per_token, other = {}, {}
        for key, value in enc.items():
            if key in ("input_ids", "attention_mask"):
                continue
            if isinstance(value, torch.Tensor) and value.dim() == 2 and value.shape == enc["input_ids"].shape:
                per_token[key] = value[0].tolist() + [0] * n_target  # the target is text: type 0
            else:
                other[key] = value
        segments = (
            [SEG_PROMPT] * len(prompt_ids) + [SEG_REASONING] * len(reasoning_ids) + [SEG_ANSWER] * len(answer_ids)
        )
        return {
            "id": record.id,
            "input_ids": ids,
            "segment_ids": segments,
            "per_token": per_token,
            "other": other,
            "scores": [record.scores.reasoning, record.scores.answer],
        }

    def __call__(self, examples: Sequence[Example | dict]) -> dict[str, Any]:
        if not examples:
            raise ValueError("cannot collate an empty batch")
        encoded = [self.encode(e) for e in examples]
        width = max(len(e["input_ids"]) for e in encoded)
        n = len(encoded)
        input_ids = torch.full((n, width), self.pad_id, dtype=torch.long)
        attention = torch.zeros((n, width), dtype=torch.long)
        segments = torch.zeros((n, width), dtype=torch.long)
        per_token = {k: torch.zeros((n, width), dtype=torch.long) for k in encoded[0]["per_token"]}
        for i, e in enumerate(encoded):
            length = len(e["input_ids"])
            input_ids[i, :length] = torch.tensor(e["input_ids"])
            attention[i, :length] = 1
            segments[i, :length] = torch.tensor(e["segment_ids"])
            for k, v in e["per_token"].items():
                per_token[k][i, :length] = torch.tensor(v)
        labels = torch.where(segments > SEG_PROMPT, input_ids, torch.full_like(input_ids, IGNORE_INDEX))
        batch: dict[str, Any] = {"input_ids": input_ids, "attention_mask": attention, **per_token}
        for key in encoded[0]["other"]:
            parts = [e["other"][key] for e in encoded if key in e["other"]]
            batch[key] = torch.cat(parts, dim=0) if all(isinstance(p, torch.Tensor) for p in parts) else parts
        batch["labels"] = labels
        batch["segment_ids"] = segments
        batch["scores"] = torch.tensor([e["scores"] for e in encoded], dtype=torch.float32)
        batch["ids"] = [e["id"] for e in encoded]
        return batch


_WORKER: Collator | None = None


def _worker_init(model: str, settings: tuple) -> None:
    global _WORKER
    from evlm_server.engine.hf import load_processor

    max_length, add_stop, prompt_format = settings
    _WORKER = Collator(load_processor(model), max_length, add_stop, prompt_format)


def _encode_chunk(items: list[tuple]) -> list[dict]:
    assert _WORKER is not None
    return [_WORKER.encode(ex, reasoning=r, answer=a) for ex, r, a in items]


def model_inputs(batch: dict[str, Any]) -> dict[str, Any]:
    """The batch without the keys the model's forward does not take (segment_ids, scores, ids)."""
    return {k: v for k, v in batch.items() if k not in NON_MODEL_KEYS}

"""One request's model inputs: the prompt's token ids, with user text as plain text, and its images.

Why the engine does not call `processor(text=prompt, images=...)` on the rendered chat: that
tokenizes the prompt as one string, so a `<|im_end|>\\n<|im_start|>assistant` typed in an
instruction becomes control tokens (the user rewrites the prompt), and an `<|image_pad|>` in an
object name, a view label or a mark claims an image that is not there (the processor fails).

So the text parts of the user message (everything in it that is not an image: view labels and
marks, the scene graph, the instruction) are wrapped in one-off markers before the chat template
renders. The special tokens of the rendered text are matched outside the markers only; the text
between two of them is tokenized with special tokens split into plain characters. For a prompt
without special-token text inside user text, the ids are exactly what the tokenizer gives the
whole string (it also splits the text at special tokens first, then tokenizes each piece), so
what a model reads does not change; a test holds the two equal.

Images are processed here too, one request at a time, so an image the processor refuses (an
aspect ratio of 200 or more) fails its own request only; each image's placeholder token is
expanded to its number of merged patches, as the Qwen2-VL processor does.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from functools import lru_cache

import torch

from evlm_server.engine.base import EngineRequest, PromptTooLong
from evlm_server.engine.prompt import ASSISTANT_PREFIX, build_messages, request_images


@dataclass
class PromptInputs:
    """A request's prompt, ready for the model (a batch of one)."""

    ids: list[int]
    pixel_values: torch.Tensor | None  # [patches, dim] of every image, in prompt order
    image_grid_thw: torch.Tensor | None  # [images, 3]
    image_token_id: int

    def __len__(self) -> int:
        return len(self.ids)

    def model_inputs(self, device: torch.device, mm_token_types: bool) -> dict:
        return batch_inputs([self], pad_id=0, device=device, mm_token_types=mm_token_types)


def encode_request(
    processor,
    request: EngineRequest,
    prompt_format: int = 1,
    max_tokens: int | None = None,
    what_limits: str = "context",
) -> PromptInputs:
    """The request's prompt in `prompt_format` (chat template, then `<think>\\n`) and images.
    Raises PromptTooLong when the prompt has more than `max_tokens` tokens, ValueError when the
    processor refuses an image."""
    tokenizer = processor.tokenizer
    images = request_images(request)
    ids = plain_user_text_ids(processor, build_messages(request, prompt_format), ASSISTANT_PREFIX)
    image_token = getattr(processor, "image_token", "<|image_pad|>")
    image_token_id = tokenizer.convert_tokens_to_ids(image_token)
    placeholders = sum(i == image_token_id for i in ids)
    if placeholders != len(images):
        raise ValueError(f"the prompt has {placeholders} image placeholders for {len(images)} images")
    pixel_values = grid = None
    if images:
        out = processor.image_processor(images=images, return_tensors="pt")
        pixel_values, grid = out["pixel_values"], out["image_grid_thw"]
        merge = processor.image_processor.merge_size**2
        counts = iter((grid.prod(dim=-1) // merge).tolist())
        ids = [t for i in ids for t in ([i] * next(counts) if i == image_token_id else [i])]
    if max_tokens is not None and len(ids) > max_tokens:
        raise PromptTooLong(f"the prompt has {len(ids)} tokens; the {what_limits} leaves room for {max_tokens}")
    return PromptInputs(ids, pixel_values, grid, image_token_id)


def plain_user_text_ids(processor, messages: list[dict], suffix: str = "") -> list[int]:
    """Token ids of the chat template over `messages` (with the generation prompt), then `suffix`;
    the text parts of user messages are plain text (see the module docstring)."""
    tokenizer = processor.tokenizer
    texts = [p["text"] for m in messages if m["role"] == "user" for p in _text_parts(m)]
    mark = _marker(texts)
    marked = [_mark_user_text(m, mark) for m in messages]
    rendered = processor.apply_chat_template(marked, tokenize=False, add_generation_prompt=True) + suffix
    special = _special_tokens(tokenizer)
    pieces: list[str | int] = []  # text, or the id of a special token the template wrote
    for k, part in enumerate(rendered.split(mark)):
        if k % 2:  # inside a marker pair: user text
            pieces.append(part)
            continue
        start = 0
        for m in special.finditer(part):
            pieces += [part[start : m.start()], tokenizer.convert_tokens_to_ids(m.group())]
            start = m.end()
        pieces.append(part[start:])
    ids: list[int] = []
    text = ""
    for piece in pieces + [-1]:
        if isinstance(piece, str):
            text += piece
            continue
        if text:
            ids += tokenizer.encode(text, add_special_tokens=False, split_special_tokens=True)
            text = ""
        if piece >= 0:
            ids.append(piece)
    return ids


def batch_inputs(prompts: list[PromptInputs], pad_id: int, device: torch.device, mm_token_types: bool) -> dict:
    """Model inputs for prompts side by side, left-padded to the longest."""
    width = max(len(p) for p in prompts)
    ids = torch.full((len(prompts), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(prompts), width), dtype=torch.long)
    for row, p in enumerate(prompts):
        ids[row, width - len(p) :] = torch.tensor(p.ids, dtype=torch.long)
        mask[row, width - len(p) :] = 1
    out = {"input_ids": ids, "attention_mask": mask}
    if mm_token_types:
        image = torch.tensor([p.image_token_id for p in prompts])[:, None]
        out["mm_token_type_ids"] = ((ids == image) & (mask == 1)).long()
    with_images = [p for p in prompts if p.pixel_values is not None]
    if with_images:
        out["pixel_values"] = torch.cat([p.pixel_values for p in with_images])
        out["image_grid_thw"] = torch.cat([p.image_grid_thw for p in with_images])
    return {k: v.to(device) for k, v in out.items()}


def _text_parts(message: dict) -> list[dict]:
    content = message["content"]
    if isinstance(content, str):
        return [{"type": "text", "text": content}]
    return [p for p in content if p.get("type") == "text"]


def _mark_user_text(message: dict, mark: str) -> dict:
    if message["role"] != "user":
        return message
    content = message["content"]
    if isinstance(content, str):
        return {**message, "content": mark + content + mark}
    parts = [{**p, "text": mark + p["text"] + mark} if p.get("type") == "text" else p for p in content]
    return {**message, "content": parts}


def _marker(texts: list[str]) -> str:
    """A string found in none of `texts` (nor in the template): one-off, unguessable."""
    while True:
        mark = f"\ue000{secrets.token_hex(8)}\ue001"
        if not any(mark in t for t in texts):
            return mark


@lru_cache(maxsize=8)
def _special_tokens_cached(tokens: tuple[str, ...]) -> re.Pattern:
    # Longest first: where two special tokens start at one place, the tokenizer takes the longer.
    ordered = sorted(tokens, key=len, reverse=True)
    return re.compile("|".join(re.escape(t) for t in ordered) if ordered else "(?!)")


def _special_tokens(tokenizer) -> re.Pattern:
    """A pattern of the tokenizer's special tokens (the added tokens that plain text never is)."""
    tokens = tuple(t.content for t in tokenizer.added_tokens_decoder.values() if t.special)
    return _special_tokens_cached(tokens)

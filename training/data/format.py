"""How a record becomes model text: the prompt the engine builds, and the target it should write.

The prompt is the engine's own (`evlm_server.engine.prompt.build_messages`, then the chat
template and `<think>\\n`, as `HFEngine` does), so training sees exactly what serving sees.

The target is two segments, each tokenized on its own, because at inference the answer starts
from a fresh grammar right after the reasoning:
- reasoning: the chain of thought, stripped, then `\\n</think>\\n` (the same close the engine
  forces when the reasoning budget runs out);
- answer: the plan JSON exactly as the engine's grammar makes the model write it: xgrammar's
  JSON with `any_whitespace=False` (separators `", "` and `": "`, no newlines), every property
  present in the schema's order (the pydantic field order, defaults included), strings without
  escapes (the grammar allows none: see `unwritable_strings`), and numbers with at most 6
  decimals and no exponent (xgrammar's bounded-number rule), so floats are rounded to 6
  decimals. `check_answer` feeds a text through the real grammar matcher, token by token.

Pure Python at import time (no torch): `check_answer`/`plan_grammar` import the grammar lazily.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel

from evlm.edits import MAX_SUGGESTIONS, EditPlan, plan_json_schema
from evlm.record import Record
from evlm.scene import SceneGraph
from evlm_server.engine.base import EngineRequest
from evlm_server.engine.prompt import ANSWER_PREFIX, ASSISTANT_PREFIX, build_messages

if TYPE_CHECKING:
    from PIL import Image

    from evlm_server.engine.grammar import PlanGrammar

DEFAULT_MAX_SUGGESTIONS = 3  # what the protocol and EngineRequest default to
DECIMALS = 6  # xgrammar writes bounded numbers with at most this many decimals


# ---------------------------------------------------------------- the prompt
def max_suggestions_for(record: Record) -> int:
    """The "at most N suggestions" of the record's prompt: the serving default, raised to the
    gold plan's length (the grammar would not let the model write more suggestions than N)."""
    return min(MAX_SUGGESTIONS, max(DEFAULT_MAX_SUGGESTIONS, len(record.plan.suggestions)))


def engine_request(
    record: Record,
    images: Sequence[Image.Image | None],
    references: Sequence[Image.Image | None] = (),
    max_suggestions: int | None = None,
) -> EngineRequest:
    """The request the engine would get for this record; `images` in the order of `record.views`."""
    if len(images) != len(record.views):
        raise ValueError(f"record {record.id!r}: {len(record.views)} views but {len(images)} images")
    n_refs = 1 if record.reference else 0
    if len(references) != n_refs:
        raise ValueError(f"record {record.id!r}: {n_refs} reference images expected, got {len(references)}")
    return EngineRequest(
        id=record.id,
        instruction=record.instruction,
        scene=record.scene,
        views=[v.view for v in record.views],
        images=list(images),
        references=list(references),
        max_suggestions=max_suggestions or max_suggestions_for(record),
    )


def prompt_messages(record: Record, max_suggestions: int | None = None, prompt_format: int = 1) -> list[dict]:
    """The engine's chat messages (system + user) for this record, in the prompt format the model
    is trained on. They carry no pixels (image parts are placeholders), so no image is opened."""
    placeholders = [None] * len(record.views)
    refs = [None] if record.reference else []
    return build_messages(engine_request(record, placeholders, refs, max_suggestions), prompt_format)


def prompt_text(processor: Any, messages: list[dict]) -> str:
    """The text the engine tokenizes: the chat template with the generation prompt, then
    `<think>\\n` (as `HFEngine._generate` builds it). `processor`: an HF processor or tokenizer."""
    return processor.apply_chat_template(messages, tokenize=False, add_generation_prompt=True) + ASSISTANT_PREFIX


# ---------------------------------------------------------------- the target
def reasoning_text(reasoning: str) -> str:
    """The reasoning segment: the chain of thought, then the close of the think block."""
    return reasoning.strip() + "\n" + ANSWER_PREFIX


def answer_text(plan: EditPlan) -> str:
    """The plan JSON exactly as the grammar-constrained engine writes it (module docstring).

    ValueError if the plan holds a string the grammar cannot write.
    """
    bad = unwritable_strings(plan)
    if bad:
        path, why = bad[0]
        raise ValueError(f"{path}: {why}")
    return _dump(plan.model_dump(mode="python"))


def target_text(record: Record) -> str:
    """Everything the model writes after `<think>\\n`: reasoning segment + answer segment."""
    return reasoning_text(record.reasoning) + answer_text(record.plan)


def _dump(value: Any) -> str:
    if isinstance(value, dict):
        return "{" + ", ".join(f"{json.dumps(k)}: {_dump(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ", ".join(_dump(v) for v in value) + "]"
    if isinstance(value, BaseModel):
        return _dump(value.model_dump(mode="python"))
    if value is None or isinstance(value, (bool, str)):
        return json.dumps(value, ensure_ascii=False)  # strings: no escapes (checked before)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return format_number(value)
    raise TypeError(f"cannot write {type(value).__name__} as plan JSON")


def format_number(x: float) -> str:
    """A float as the grammar writes it: at most 6 decimals, no exponent, no negative zero."""
    if not math.isfinite(x):
        raise ValueError(f"not a finite number: {x}")
    x = round(x, DECIMALS) + 0.0  # + 0.0 turns -0.0 into 0.0
    text = repr(x)
    if "e" in text or "E" in text:  # repr switches to exponents below 1e-4 and above 1e16
        text = f"{x:.{DECIMALS}f}".rstrip("0")
        text += "0" if text.endswith(".") else ""
    return text


def unwritable_strings(plan: EditPlan) -> list[tuple[str, str]]:
    """(field path, why) for every string in the plan that the engine's grammar cannot write:
    it allows no escapes, so no `"` or backslash, no control characters and no surrogates."""
    out: list[tuple[str, str]] = []

    def walk(node: Any, path: str) -> None:
        if isinstance(node, dict):
            for k, v in node.items():
                walk(v, f"{path}.{k}" if path else k)
        elif isinstance(node, list):
            for i, v in enumerate(node):
                walk(v, f"{path}.{i}")
        elif isinstance(node, str):
            for ch in node:
                if ch in '"\\' or ord(ch) < 0x20 or 0xD800 <= ord(ch) <= 0xDFFF:
                    out.append((path, f"contains {ch!r}, which the engine's grammar cannot write (no escapes)"))
                    break

    walk(plan.model_dump(mode="python"), "")
    return out


# ---------------------------------------------------------------- the grammar check
def plan_grammar(tokenizer: Any) -> PlanGrammar:
    """The engine's PlanGrammar for this tokenizer (stop token `<|im_end|>` when it has one,
    like HFEngine); cached per tokenizer."""
    from evlm_server.engine.grammar import PlanGrammar

    tok = getattr(tokenizer, "tokenizer", tokenizer)  # a processor carries its tokenizer
    im_end = tok.convert_tokens_to_ids("<|im_end|>")
    stop = im_end if isinstance(im_end, int) and im_end != tok.unk_token_id else tok.eos_token_id
    return PlanGrammar.for_tokenizer(tok, len(tok), [stop])


def check_answer(answer: str, scene: SceneGraph | None, max_suggestions: int, grammar: PlanGrammar) -> int:
    """Feed `answer`, tokenized, through the engine's grammar for this scene, token by token,
    as the engine's decoder does. Returns the number of answer tokens; ValueError if the grammar
    rejects a token or is not complete at the end."""
    compiled = grammar.compile(plan_json_schema(scene, max_suggestions))
    ids = grammar.tokenizer.encode(answer, add_special_tokens=False)
    constraint = grammar.constraint(compiled, budget=len(ids) + 10_000)  # no finisher: the text must stand alone
    text = b""
    for i, tid in enumerate(ids):
        try:
            constraint.accept(tid)
        except RuntimeError:
            raise ValueError(f"grammar rejects token {i} ({grammar.vocab.decoded[tid]!r}) after {text!r}") from None
        text += grammar.vocab.decoded[tid]
        if constraint.done and i < len(ids) - 1:
            raise ValueError(f"grammar complete after {text!r}, but {len(ids) - 1 - i} tokens remain")
    if not constraint.matcher.is_completed():
        raise ValueError(f"grammar not complete at the end of the answer: {text[-80:]!r}")
    return len(ids)

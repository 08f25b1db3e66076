"""The reasoning -> `</think>` -> JSON stages of a batch of rows: the stage machine both engines drive.

A `Row` is one request's decoding state. `StageMachine.mask(scores)` masks each row's next-token
logits by the row's stage; `advance(tokens)` takes each row's sampled token and says which rows
are finished. The machine knows nothing of who drives it: hf.py adapts it to `generate` (a
logits processor and a stopping criterion), fast.py calls it from its own decode loop, where
rows join and leave between steps (it sets `rows` before each step).

Stages, per row and on its own schedule:
- reason: free text after `<think>`, without special tokens, until the model writes `</think>`
  (its own token, or spelled out as text) or reaches `max_reasoning_tokens`;
- close: `</think>\\n` forced token by token (only the `\\n` if the model closed the block itself);
- answer: the plan JSON under the row's own grammar (grammar.py), closed by the finisher within
  the answer budget;
- done or cancelled: the row is finished.

A row's work per token does not grow with what it has written: reasoning and answer text are
decoded incrementally from each token's bytes, and `</think>` is looked for only where the new
bytes can complete it.
"""

from __future__ import annotations

import codecs
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
from xgrammar import allocate_token_bitmask

from evlm.edits import validate_plan
from evlm_server.engine.base import Cancelled, EngineRequest, EngineResult
from evlm_server.engine.grammar import JsonConstraint, mask_rows
from evlm_server.engine.prompt import THINK_END


@dataclass(frozen=True)
class StageTokens:
    """What the stages need to know of a tokenizer."""

    think_end_id: int | None  # `</think>` as one special token, or None where it is plain text
    newline_ids: tuple[int, ...]  # "\n": forced after a `</think>` the model wrote
    close_ids: tuple[int, ...]  # "\n</think>\n": forced when the reasoning budget runs out
    reasoning_ban: torch.Tensor  # bool [vocab]: control and vision tokens, ids past the tokenizer
    token_bytes: Sequence[bytes]  # the bytes each id decodes to (special tokens: b"")
    decode: Callable[[list[int]], str]  # the tokenizer's own decode, for the final reasoning text


class _Utf8:
    """Text decoded from bytes as they come; an incomplete character waits for its next bytes,
    invalid bytes become U+FFFD (as `bytes.decode(errors="replace")`)."""

    def __init__(self) -> None:
        self._decoder = codecs.getincrementaldecoder("utf-8")("replace")

    def feed(self, data: bytes, final: bool = False) -> str:
        return self._decoder.decode(data, final)


class Row:
    """One request's decoding state inside a batch."""

    def __init__(self, req: EngineRequest, constraint: JsonConstraint, prompt_tokens: int = 0) -> None:
        self.req, self.constraint = req, constraint
        self.phase = "reason"  # reason -> close -> answer -> done | cancelled | failed
        self.error: Exception | None = None  # why it failed
        self.reasoning_ids: list[int] = []
        self.forced: list[int] = []  # tokens still to force in the close phase
        self.prompt_tokens = prompt_tokens
        self.t_submit = self.t_start = self.t_first = time.perf_counter()
        self.t_answer: float | None = None
        self.t_done: float | None = None
        self._reasoning = _Utf8()
        self._held = ""  # reasoning text not streamed yet: it may be the start of `</think>`
        self._answer = _Utf8()
        self._answer_fed = 0  # bytes of the answer fed to `_answer`
        self.sent = {"reasoning": 0, "answer": 0}  # characters streamed

    @property
    def finished(self) -> bool:
        return self.phase in ("done", "cancelled", "failed")

    def _stream(self, stage: str, text: str) -> None:
        if text:
            self.sent[stage] += len(text)
            try:
                self.req.on_progress(stage, text)
            except Exception:  # a broken progress callback must not break the batch
                pass


class StageMachine:
    """Masks and advances `rows` (row i is row i of the logits); see the module docstring."""

    def __init__(self, tokens: StageTokens, max_reasoning_tokens: int, rows: Sequence[Row] = ()) -> None:
        self.tokens = tokens
        self.max_reasoning_tokens = max_reasoning_tokens
        self.rows: list[Row] = list(rows)
        self._bitmask: torch.Tensor | None = None  # grown to the widest batch seen

    def mask(self, scores: torch.Tensor) -> torch.Tensor:
        """Mask each row's next-token scores [rows, vocab] in place by its stage; returns them."""
        rows = self.rows
        if self._bitmask is None or self._bitmask.shape[0] < len(rows):
            self._bitmask = allocate_token_bitmask(len(rows), scores.shape[-1])
        answer_rows = []
        for i, row in enumerate(rows):
            if row.phase == "reason":
                scores[i].masked_fill_(self.tokens.reasoning_ban, float("-inf"))
            elif row.phase == "close":
                keep = row.forced[0]
                scores[i].fill_(float("-inf"))
                scores[i, keep] = 0.0
            elif row.phase == "answer":
                answer_rows.append(i)
        if answer_rows:
            constraints = [row.constraint for row in rows]
            mask_rows(scores, constraints, answer_rows, self._bitmask[: len(rows)])
        return scores

    def advance(self, tokens: Sequence[int]) -> list[bool]:
        """Take each row's new token; True for the rows that are finished."""
        finished = []
        for row, token in zip(self.rows, tokens, strict=True):
            try:
                if not row.finished and row.req.is_cancelled():
                    row.phase = "cancelled"
                if row.phase == "reason":
                    self._reason(row, token)
                elif row.phase == "close":
                    row.forced.pop(0)
                    if not row.forced:
                        _start_answer(row)
                elif row.phase == "answer":
                    self._answer(row, token)
            except Exception as e:  # one row's failure (its grammar, its callbacks) ends that row only
                row.phase, row.error = "failed", e
            finished.append(row.finished)
        return finished

    def _reason(self, row: Row, token: int) -> None:
        tokens = self.tokens
        row.reasoning_ids.append(token)
        if token == tokens.think_end_id:
            text = row._held + row._reasoning.feed(b"", final=True)
            row.forced = list(tokens.newline_ids)
        else:
            text = row._held + row._reasoning.feed(tokens.token_bytes[token])
            end = text.find(THINK_END)
            if end >= 0:  # written as plain-text tokens
                row.forced = [] if text[end + len(THINK_END) :].startswith("\n") else list(tokens.newline_ids)
                text = text[:end]
            elif len(row.reasoning_ids) >= self.max_reasoning_tokens:
                text += row._reasoning.feed(b"", final=True)
                row.forced = list(tokens.close_ids)
            else:
                cut = len(text) - _think_end_prefix(text)  # hold back what may become `</think>`
                row._held = text[cut:]
                row._stream("reasoning", text[:cut])
                return
        row._held = ""
        row._stream("reasoning", text)
        row.phase = "close"
        if not row.forced:
            _start_answer(row)

    def _answer(self, row: Row, token: int) -> None:
        c = row.constraint
        c.accept(token)
        data = c.answer_bytes
        row._stream("answer", row._answer.feed(bytes(data[row._answer_fed :])))
        row._answer_fed = len(data)
        if c.done:
            row.phase, row.t_done = "done", time.perf_counter()

    def result(self, row: Row) -> EngineResult:
        """The row's validated plan, reasoning, timings and token counts. Raises Cancelled, the
        row's own error, or PlanError if the plan does not validate."""
        if row.phase == "cancelled":
            raise Cancelled(row.req.id)
        if row.error is not None:
            raise row.error
        c = row.constraint
        if not c.done:  # the decode loop ended early (it should not): close the JSON anyway
            c.finish()
        forced = b"".join(self.tokens.token_bytes[t] for t in c.forced_ids)
        row._stream("answer", row._answer.feed(bytes(c.answer_bytes[row._answer_fed :]) + forced, final=True))
        row._answer_fed = len(c.answer_bytes)
        plan = validate_plan(c.text(), row.req.scene)
        t_end = time.perf_counter()
        timings = {
            "prefill": row.t_first - row.t_start,
            "reason": (row.t_answer or t_end) - row.t_first,
            "answer": (row.t_done or t_end) - (row.t_answer or t_end),
            "total": t_end - row.t_submit,
        }
        tokens = {
            "prompt": row.prompt_tokens,
            "reasoning": len(row.reasoning_ids),
            "answer": len(c.all_ids),
            "forced": len(c.forced_ids),
        }
        reasoning = self.tokens.decode(row.reasoning_ids).split(THINK_END, 1)[0].strip()
        return EngineResult(
            reasoning=reasoning, plan=plan, timings={k: round(v, 4) for k, v in timings.items()}, tokens=tokens
        )


def _start_answer(row: Row) -> None:
    row.phase, row.t_answer = "answer", time.perf_counter()


def _think_end_prefix(text: str) -> int:
    """Length of the longest end of `text` that is a proper start of `</think>`."""
    for k in range(min(len(THINK_END) - 1, len(text)), 0, -1):
        if THINK_END.startswith(text[-k:]):
            return k
    return 0

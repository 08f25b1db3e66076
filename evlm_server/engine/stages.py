"""The reasoning -> `</think>` -> JSON stages of a batch of requests, shared by both engines.

`Row` is one request's decoding state; `StageDecoder` masks each row's next-token logits by its
stage and advances the rows as tokens arrive (hf.py's module docstring has the stages). HFEngine
drives it from one `generate` call; FastEngine from its own static-cache decode loop.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

import torch
from transformers import LogitsProcessor
from xgrammar import allocate_token_bitmask

from evlm_server.engine.base import EngineRequest
from evlm_server.engine.grammar import JsonConstraint, mask_rows
from evlm_server.engine.prompt import THINK_END

if TYPE_CHECKING:
    from evlm_server.engine.hf import HFEngine


class Row:
    """One request's decoding state inside a batch."""

    def __init__(self, index: int, req: EngineRequest, constraint: JsonConstraint) -> None:
        self.index, self.req, self.constraint = index, req, constraint
        self.phase = "reason"  # reason -> close -> answer -> done | cancelled
        self.reasoning_ids: list[int] = []
        self.forced: list[int] = []  # tokens still to force in the close phase
        self.prompt_tokens = 0
        self.t_start = self.t_first = time.perf_counter()
        self.t_answer: float | None = None
        self.t_done: float | None = None
        self._sent = {"reasoning": 0, "answer": 0}  # characters streamed so far

    def reasoning_text(self, tokenizer) -> str:
        text = tokenizer.decode(self.reasoning_ids, skip_special_tokens=False)
        return text.split(THINK_END, 1)[0].strip()

    def stream_reasoning(self, tokenizer, final: bool = False) -> None:
        text = tokenizer.decode(self.reasoning_ids, skip_special_tokens=False)
        text = text.split(THINK_END, 1)[0]
        if final:
            self._emit("reasoning", text)
            return
        # Hold back what may still change: a partial character, or the start of `</think>`.
        cut = len(text.rstrip("\ufffd"))
        for k in range(min(len(THINK_END) - 1, cut), 0, -1):
            if THINK_END.startswith(text[cut - k : cut]):
                cut -= k
                break
        self._emit("reasoning", text[:cut])

    def stream_answer(self, tokenizer, final: bool = False) -> None:
        ids = self.constraint.all_ids if final else self.constraint.token_ids
        text = tokenizer.decode(ids, skip_special_tokens=False)
        self._emit("answer", text if final else text.rstrip("\ufffd"))

    def _emit(self, stage: str, text: str) -> None:
        sent = self._sent[stage]
        if len(text) > sent:
            self._sent[stage] = len(text)
            try:
                self.req.on_progress(stage, text[sent:])
            except Exception:  # a broken progress callback must not break the batch
                pass


class StageDecoder(LogitsProcessor):
    """Per-row stage machine for one batched `generate` (see the module docstring).

    `__call__` masks the next token's logits by each row's stage; `step` (called by the
    stopping criterion, which sees every sampled token) advances the rows.
    """

    def __init__(self, engine: HFEngine, rows: list[Row]) -> None:
        self.engine, self.rows = engine, rows
        self.constraints = [row.constraint for row in rows]
        self.bitmask = None

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
        if self.bitmask is None:  # first call: the prefill is over
            now = time.perf_counter()
            for row in self.rows:
                row.t_first = now
            self.bitmask = allocate_token_bitmask(len(self.rows), scores.shape[-1])
        answer_rows = []
        for i, row in enumerate(self.rows):
            if row.phase == "reason":
                scores[i].masked_fill_(self.engine.reasoning_ban, float("-inf"))
            elif row.phase == "close":
                keep = row.forced[0]
                scores[i].fill_(float("-inf"))
                scores[i, keep] = 0.0
            elif row.phase == "answer":
                answer_rows.append(i)
        mask_rows(scores, self.constraints, answer_rows, self.bitmask)
        return scores

    def step(self, input_ids: torch.LongTensor) -> torch.BoolTensor:
        """Take each row's new token; True for rows that are finished."""
        engine = self.engine
        new = input_ids[:, -1].tolist()
        finished = []
        for row, token in zip(self.rows, new, strict=True):
            if row.phase in ("reason", "close", "answer") and row.req.is_cancelled():
                row.phase = "cancelled"
            if row.phase == "reason":
                self._reason(row, token)
            elif row.phase == "close":
                row.forced.pop(0)
                if not row.forced:
                    self._start_answer(row)
            elif row.phase == "answer":
                row.constraint.accept(token)
                row.stream_answer(engine.tokenizer)
                if row.constraint.done:
                    row.phase, row.t_done = "done", time.perf_counter()
            finished.append(row.phase in ("done", "cancelled"))
        return torch.tensor(finished, dtype=torch.bool, device=input_ids.device)

    def _reason(self, row: Row, token: int) -> None:
        engine = self.engine
        row.reasoning_ids.append(token)
        if token == engine.think_end_id:
            row.forced = list(engine.newline_ids)
        else:
            row.stream_reasoning(engine.tokenizer)
            text = engine.tokenizer.decode(row.reasoning_ids[-8:], skip_special_tokens=False)
            if THINK_END in text:  # written as plain-text tokens
                tail = engine.tokenizer.decode(row.reasoning_ids, skip_special_tokens=False)
                after = tail.split(THINK_END, 1)[1]
                row.forced = [] if after.startswith("\n") else list(engine.newline_ids)
            elif len(row.reasoning_ids) >= engine.max_reasoning_tokens:
                row.forced = list(engine.close_ids)
            else:
                return
        row.stream_reasoning(engine.tokenizer, final=True)
        row.phase = "close"
        if not row.forced:
            self._start_answer(row)

    @staticmethod
    def _start_answer(row: Row) -> None:
        row.phase, row.t_answer = "answer", time.perf_counter()

"""The Hugging Face backend: any Qwen2-VL-class checkpoint through `transformers.generate`.

One `generate` call per batch runs every stage (stages.py): the stage machine masks the logits
through a small `LogitsProcessor` adapter and takes each sampled token through a
`StoppingCriteria` adapter, so each row switches stage on its own schedule, with one prefill
and a KV cache shared by both stages. The reference implementation: fast.py's leaner decode
loop must give the same tokens.

Each request's prompt is encoded on its own (inputs.py: user text as plain text, its own
images), and a batch whose `generate` fails is run again one request at a time, so one
request's failure never fails another's.

torch and transformers are imported here only; `evlm_server.engine` loads this module lazily.
"""

from __future__ import annotations

import time
from dataclasses import replace
from pathlib import Path

import torch
from transformers import GenerationConfig, LogitsProcessor, StoppingCriteria

from evlm_server.engine.base import Cancelled, EngineRequest, EngineResult
from evlm_server.engine.inputs import PromptInputs, batch_inputs, encode_request
from evlm_server.engine.loaded import Checkpoint, load_processor
from evlm_server.engine.spec import DecodeSpec
from evlm_server.engine.stages import Row, StageMachine
from evlm_server.engine.threads import ThreadPolicy

__all__ = ["HFEngine", "load_processor"]  # load_processor: imported from here by training and scripts


class HFEngine:
    """Engine over a local Hugging Face image-text-to-text checkpoint (see base.Engine)."""

    name = "hf"
    needs_pixels = True

    def __init__(
        self,
        model_path: str | Path,
        spec: DecodeSpec | None = None,
        device: str = "auto",
        dtype: str | torch.dtype | None = None,
        max_batch: int = 4,
        threads: ThreadPolicy | None = None,
        cache_implementation: str | None = None,
    ) -> None:
        self.checkpoint = ckpt = Checkpoint(model_path, device, dtype)
        self.spec = spec or DecodeSpec()
        self.max_batch = max_batch
        self.threads = threads or ThreadPolicy()
        self.cache_implementation = cache_implementation
        self.max_new_tokens = self.spec.max_new_tokens(len(ckpt.tokens.close_ids))
        self.stages = StageMachine(ckpt.tokens, self.spec.max_reasoning_tokens)

    def info(self) -> dict:
        return {
            "name": self.name,
            **self.checkpoint.info(),
            "max_batch": self.max_batch,
            "max_reasoning_tokens": self.spec.max_reasoning_tokens,
            "max_answer_tokens": self.spec.max_answer_tokens,
            **self.threads.info(),
        }

    def run(self, batch: list[EngineRequest]) -> list[EngineResult | Exception]:
        results: list[EngineResult | Exception] = []
        for start in range(0, len(batch), self.max_batch):
            results += self._run_chunk(batch[start : start + self.max_batch])
        return results

    # ------------------------------------------------------------------ one batch
    def _run_chunk(self, requests: list[EngineRequest]) -> list[EngineResult | Exception]:
        results: list[EngineResult | Exception | None] = [None] * len(requests)
        ready: list[tuple[int, Row, PromptInputs]] = []
        for i, req in enumerate(requests):
            try:
                ready.append((i, *self._prepare(req)))
            except Exception as e:  # a bad request fails alone
                results[i] = e
        try:
            self._generate([row for _, row, _ in ready], [p for _, _, p in ready])
        except Exception as e:
            if len(ready) == 1:
                results[ready[0][0]] = e
            else:  # run each alone: only the request that breaks `generate` fails
                for i, row, _ in ready:
                    again = replace(row.req, on_progress=_unsent(row.req.on_progress, row.sent))
                    results[i] = self._run_chunk([again])[0]
            ready = []
        for i, row, _ in ready:
            try:
                results[i] = self.stages.result(row)
            except Exception as e:  # e.g. a PlanError: fails this request only
                results[i] = e
        return results  # type: ignore[return-value]

    def _prepare(self, req: EngineRequest) -> tuple[Row, PromptInputs]:
        """The request's prompt (bounded by the context) and its row (its grammar)."""
        if req.is_cancelled():
            raise Cancelled(req.id)
        ckpt = self.checkpoint
        room = ckpt.context_tokens - self.max_new_tokens if ckpt.context_tokens else None
        prompt = encode_request(
            ckpt.processor, req, ckpt.prompt_format, room, f"model's context of {ckpt.context_tokens} tokens"
        )
        constraint = ckpt.constraint(req.scene, req.max_suggestions, self.spec.max_answer_tokens)
        return Row(req, constraint, prompt_tokens=len(prompt)), prompt

    def _generate(self, rows: list[Row], prompts: list[PromptInputs]) -> None:
        if not rows:
            return
        ckpt, spec = self.checkpoint, self.spec
        inputs = batch_inputs(prompts, ckpt.pad_id, ckpt.device, ckpt.takes_mm_token_types)
        machine = self.stages
        machine.rows = rows
        t_generate = time.perf_counter()
        for row in rows:
            row.t_start = t_generate
        config = GenerationConfig(
            max_new_tokens=self.max_new_tokens,
            do_sample=spec.sampling,
            temperature=spec.temperature if spec.sampling else None,
            top_p=spec.top_p if spec.sampling else None,
            top_k=None,
            eos_token_id=[ckpt.stop_id],
            pad_token_id=ckpt.pad_id,
            cache_implementation=self.cache_implementation,
        )
        if spec.seed is not None:
            torch.manual_seed(spec.seed)
        with torch.inference_mode():
            ckpt.model.generate(
                **inputs,
                generation_config=config,
                logits_processor=[_MaskByStage(machine, self.threads)],
                stopping_criteria=[_AdvanceStages(machine)],
            )


def _unsent(on_progress, sent: dict[str, int]):  # noqa: ANN001, ANN202
    """A progress callback that skips the text a failed attempt already streamed."""
    skip = dict(sent)

    def forward(stage: str, text: str) -> None:
        drop = min(skip.get(stage, 0), len(text))
        skip[stage] = skip.get(stage, 0) - drop
        if text[drop:]:
            on_progress(stage, text[drop:])

    return forward


class _MaskByStage(LogitsProcessor):
    """`generate`'s logits processor: the stage machine's `mask`. Its first call ends the prefill."""

    def __init__(self, machine: StageMachine, threads: ThreadPolicy) -> None:
        self.machine, self.threads = machine, threads
        self.started = False
        threads.apply()

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
        if not self.started:
            now = time.perf_counter()
            for row in self.machine.rows:
                row.t_first = now
            self.started = True
        self.threads.apply()  # between two forwards: the load may have changed
        return self.machine.mask(scores)


class _AdvanceStages(StoppingCriteria):
    """`generate`'s stopping criterion: feeds every sampled token to the stage machine; a row stops
    when the machine says it is finished."""

    def __init__(self, machine: StageMachine) -> None:
        self.machine = machine

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor, **kw) -> torch.Tensor:
        finished = self.machine.advance(input_ids[:, -1].tolist())
        return torch.tensor(finished, dtype=torch.bool, device=input_ids.device)

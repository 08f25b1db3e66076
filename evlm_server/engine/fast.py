"""The fast engine: static KV cache, CUDA-graph decode and continuous batching.

`FastEngine` is `HFEngine` (same checkpoint loading, prompt, stage machine, grammar and result
validation: stages.py's `Row` and `StageDecoder` drive the reasoning -> `</think>` -> JSON stages)
with the decode loop replaced by a `Scheduler` over a `StaticDecoder` (fast_decode.py):

- every request has a slot of the static KV cache while it decodes; a newcomer is prefilled
  (vision tower + prompt through the Hugging Face model) between two decode steps, one per step,
  and its KV copied into a free slot; a request leaves its slot when finished or cancelled;
- each step decodes one token for every busy slot in one batched call (a CUDA graph on CUDA),
  then masks the logits by each row's stage (xgrammar's bitmask applied on the logits' device)
  and samples.

`run(batch)` may be called from several threads at once: the requests of all callers share the
slots, one caller drives the steps, and each caller returns when its own requests are done.
"""

from __future__ import annotations

import time
from pathlib import Path

import torch
from xgrammar import allocate_token_bitmask

from evlm.edits import plan_json_schema
from evlm_server.engine.base import Cancelled, EngineRequest, EngineResult
from evlm_server.engine.fast_decode import Scheduler, Sequence, StaticDecoder, supports_config
from evlm_server.engine.hf import HFEngine
from evlm_server.engine.prompt import ASSISTANT_PREFIX, build_messages, request_images
from evlm_server.engine.stages import Row, StageDecoder


def sample(logits: torch.Tensor, temperature: float, top_p: float, generator: torch.Generator | None) -> list[int]:
    """Greedy at temperature 0, else nucleus sampling; rows are independent."""
    if temperature <= 0:
        return logits.argmax(dim=-1).tolist()
    probs = torch.softmax(logits / temperature, dim=-1)
    if top_p < 1.0:
        sorted_p, order = probs.sort(dim=-1, descending=True)
        drop = sorted_p.cumsum(dim=-1) - sorted_p > top_p  # keep the smallest head with mass >= top_p
        sorted_p = sorted_p.masked_fill(drop, 0.0)
        probs = torch.zeros_like(probs).scatter_(-1, order, sorted_p)
    return torch.multinomial(probs, 1, generator=generator)[:, 0].tolist()


class FastEngine(HFEngine):
    """HFEngine with a static-KV-cache, CUDA-graph, continuously batched decode loop."""

    name = "fast"

    def __init__(
        self,
        model_path: str | Path,
        device: str = "auto",
        dtype: str | torch.dtype | None = None,
        max_reasoning_tokens: int = 256,
        max_answer_tokens: int = 768,
        max_batch: int = 8,
        temperature: float = 0.0,
        top_p: float = 1.0,
        seed: int | None = None,
        max_len: int = 8192,
        cuda_graphs: bool | None = None,
    ) -> None:
        if not FastEngine.supports(Path(model_path).expanduser()):
            raise ValueError(f"the fast engine does not support this checkpoint: {model_path}")
        super().__init__(
            model_path,
            device=device,
            dtype=dtype,
            max_reasoning_tokens=max_reasoning_tokens,
            max_answer_tokens=max_answer_tokens,
            max_batch=max_batch,
            temperature=temperature,
            top_p=top_p,
            seed=seed,
        )
        self.decoder = StaticDecoder(self.model, max_batch=max_batch, max_len=max_len, cuda_graphs=cuda_graphs)
        self.scheduler = Scheduler(self.decoder, self._choose, self._advance)
        self._bitmask = allocate_token_bitmask(max_batch, self.vocab_size)
        self._stages: StageDecoder | None = None
        self._generator = None
        if seed is not None:
            self._generator = torch.Generator(device=self.device).manual_seed(seed)

    @staticmethod
    def supports(config: object) -> bool:
        """Whether a checkpoint can run here: a config, a config dict or a checkpoint folder."""
        return supports_config(config)

    def info(self) -> dict:
        return {
            **super().info(),
            "max_len": self.decoder.max_len,
            "cuda_graphs": self.decoder.cuda_graphs,
            "graphs_captured": len(self.decoder._graphs),
        }

    def run(self, batch: list[EngineRequest]) -> list[EngineResult | Exception]:
        t0 = time.perf_counter()
        seqs: list[Sequence | None] = []
        results: list[EngineResult | Exception | None] = [None] * len(batch)
        for i, req in enumerate(batch):
            try:
                seqs.append(self.scheduler.submit(self._sequence(req)))
            except Exception as e:  # a bad request fails alone
                seqs.append(None)
                results[i] = e
        self.scheduler.wait([s for s in seqs if s is not None])
        for i, seq in enumerate(seqs):
            if seq is None:
                continue
            try:
                if seq.error is not None:
                    raise seq.error
                results[i] = self._result(seq.state, t0)
            except Exception as e:  # e.g. a PlanError or Cancelled: fails this request only
                results[i] = e
        return results  # type: ignore[return-value]

    def _sequence(self, req: EngineRequest) -> Sequence:
        """Prompt and grammar of one request (in the caller's thread: overlaps with decoding)."""
        if req.is_cancelled():
            raise Cancelled(req.id)
        schema = plan_json_schema(req.scene, req.max_suggestions)
        constraint = self.grammar.constraint(self.grammar.compile(schema), self.max_answer_tokens)
        template = self.processor.apply_chat_template(
            build_messages(req, self.prompt_format), tokenize=False, add_generation_prompt=True
        )
        images = request_images(req)
        inputs = self.processor(text=[template + ASSISTANT_PREFIX], images=images or None, return_tensors="pt")
        row = Row(0, req, constraint)
        row.prompt_tokens = int(inputs["input_ids"].shape[1])
        budget = self.max_reasoning_tokens + len(self.close_ids) + self.max_answer_tokens
        return Sequence(dict(inputs.to(self.device)), row, max_new_tokens=budget)

    # -------------------------------------------------------- the scheduler's two hooks
    def _choose(self, seqs: list[Sequence], logits: torch.Tensor) -> list[int]:
        rows: list[Row] = [s.state for s in seqs]  # type: ignore[misc]
        for s, row in zip(seqs, rows, strict=True):
            if not s.tokens:  # first token: the prefill just ended
                row.t_start, row.t_first = s.t_admit, time.perf_counter()
        stages = StageDecoder(self, rows)
        stages.bitmask = self._bitmask[: len(rows)]  # set: the decoder allocates it lazily
        self._stages = stages
        return sample(stages(None, logits), self.temperature, self.top_p, self._generator)

    def _advance(self, seqs: list[Sequence], tokens: list[int]) -> list[bool]:
        stages = self._stages
        assert stages is not None and stages.rows == [s.state for s in seqs]
        return stages.step(torch.tensor(tokens)[:, None]).tolist()

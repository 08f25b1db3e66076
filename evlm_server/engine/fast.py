"""The fast engine: a static KV cache, a lean decode step (a CUDA graph on CUDA) and continuous
batching, fed request by request.

`FastEngine` composes what hf.py's engine composes (the loaded checkpoint, the prompt encoding,
the stage machine, the grammar) with its own decode loop: a `Scheduler` over a `StaticDecoder`
(fast_decode.py):

- every request has a slot of the static KV cache while it decodes; a newcomer is prefilled
  (vision tower + prompt through the Hugging Face model) between two decode steps, one per step,
  and its KV copied into a free slot; a request leaves its slot when it is finished, cancelled
  or past its deadline (the server cancels it), at the next step;
- each step decodes one token for every busy slot in one batched call, then the stage machine
  masks the logits by each row's stage and takes the sampled tokens.

It is fed continuously (base.Stepped: `submit`, `step`), which the server does; `run(batch)`
runs a batch the same way. Greedy tokens equal those of hf.py's `generate` (tests).
"""

from __future__ import annotations

import time
from pathlib import Path

import torch

from evlm_server.engine.base import Cancelled, EngineRequest, EngineResult, Outcome, run_stepped
from evlm_server.engine.fast_decode import Scheduler, Sequence, StaticDecoder, supports_config
from evlm_server.engine.inputs import encode_request
from evlm_server.engine.loaded import Checkpoint
from evlm_server.engine.spec import DecodeSpec
from evlm_server.engine.stages import Row, StageMachine
from evlm_server.engine.threads import ThreadPolicy


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


class FastEngine:
    """Static KV cache, lean (CUDA-graph on CUDA) decode, continuous batching (see the module docstring)."""

    name = "fast"
    needs_pixels = True

    def __init__(
        self,
        model_path: str | Path,
        spec: DecodeSpec | None = None,
        device: str = "auto",
        dtype: str | torch.dtype | None = None,
        max_batch: int = 4,
        threads: ThreadPolicy | None = None,
        max_len: int | None = None,
        cuda_graphs: bool | None = None,
    ) -> None:
        if not FastEngine.supports(Path(model_path).expanduser()):
            raise ValueError(f"the fast engine does not support this checkpoint: {model_path}")
        self.checkpoint = ckpt = Checkpoint(model_path, device, dtype)
        self.spec = spec or DecodeSpec()
        self.max_batch = max_batch
        self.threads = threads or ThreadPolicy()
        self.max_new_tokens = self.spec.max_new_tokens(len(ckpt.tokens.close_ids))
        if max_len is None:  # the model's context, within a cache of reasonable size
            max_len = min(ckpt.context_tokens or 8192, 8192)
        self.decoder = StaticDecoder(ckpt.model, max_batch=max_batch, max_len=max_len, cuda_graphs=cuda_graphs)
        self.scheduler = Scheduler(self.decoder, self._choose, self._advance, self._dropped)
        self.stages = StageMachine(ckpt.tokens, self.spec.max_reasoning_tokens)
        self._failed: list[Outcome] = []  # requests refused at submit, returned by the next step
        self._generator = None
        if self.spec.seed is not None:
            self._generator = torch.Generator(device=ckpt.device).manual_seed(self.spec.seed)

    @staticmethod
    def supports(config: object) -> bool:
        """Whether a checkpoint can run here: a config, a config dict or a checkpoint folder."""
        return supports_config(config)

    def info(self) -> dict:
        return {
            "name": self.name,
            **self.checkpoint.info(),
            "max_batch": self.max_batch,
            "max_reasoning_tokens": self.spec.max_reasoning_tokens,
            "max_answer_tokens": self.spec.max_answer_tokens,
            "max_len": self.decoder.max_len,
            "cuda_graphs": self.decoder.cuda_graphs,
            "graphs_captured": len(self.decoder._graphs),
            **self.threads.info(),
            "decode_steps": self.scheduler.steps,
            "peak_rows": self.scheduler.peak_rows,
        }

    # ------------------------------------------------------------------ fed continuously
    def submit(self, request: EngineRequest) -> None:
        try:
            self.scheduler.submit(self._sequence(request))
        except Exception as e:  # a bad request fails alone, at the next step
            self._failed.append((request, e))

    def step(self) -> list[Outcome]:
        out, self._failed = self._failed, []
        if self.scheduler.busy():
            self.threads.apply()
            out += [(seq.state.req, self._outcome(seq)) for seq in self.scheduler.step()]
        return out

    def pending(self) -> int:
        return len(self._failed) + self.scheduler.held()

    def clear(self) -> list[EngineRequest]:
        dropped = [req for req, _ in self._failed] + [seq.state.req for seq in self.scheduler.clear()]
        self._failed = []
        return dropped

    def run(self, batch: list[EngineRequest]) -> list[EngineResult | Exception]:
        return run_stepped(self, batch)

    # ------------------------------------------------------------------ one request
    def _sequence(self, req: EngineRequest) -> Sequence:
        """The request's prompt (bounded by the context and the cache) and grammar."""
        if req.is_cancelled():
            raise Cancelled(req.id)
        ckpt = self.checkpoint
        limit, what = self.decoder.max_len, f"engine's KV cache of {self.decoder.max_len} tokens"
        if ckpt.context_tokens is not None and ckpt.context_tokens < limit:
            limit, what = ckpt.context_tokens, f"model's context of {ckpt.context_tokens} tokens"
        prompt = encode_request(ckpt.processor, req, ckpt.prompt_format, limit - self.max_new_tokens, what)
        constraint = ckpt.constraint(req.scene, req.max_suggestions, self.spec.max_answer_tokens)
        row = Row(req, constraint, prompt_tokens=len(prompt))
        return Sequence(prompt.model_inputs(ckpt.device, ckpt.takes_mm_token_types), row, self.max_new_tokens)

    def _outcome(self, seq: Sequence) -> EngineResult | Exception:
        if seq.error is not None:
            return seq.error
        try:
            return self.stages.result(seq.state)
        except Exception as e:  # e.g. a PlanError or Cancelled: fails this request only
            return e

    # -------------------------------------------------------- the scheduler's hooks
    def _dropped(self, seq: Sequence) -> Exception | None:
        row: Row = seq.state
        if row.req.is_cancelled():
            row.phase = "cancelled"
            return Cancelled(row.req.id)
        return None

    def _choose(self, seqs: list[Sequence], logits: torch.Tensor) -> list[int]:
        rows: list[Row] = [s.state for s in seqs]  # type: ignore[misc]
        for s, row in zip(seqs, rows, strict=True):
            if not s.tokens:  # first token: the prefill just ended
                row.t_start, row.t_first = s.t_admit, time.perf_counter()
        self.stages.rows = rows
        return sample(self.stages.mask(logits), self.spec.temperature, self.spec.top_p, self._generator)

    def _advance(self, seqs: list[Sequence], tokens: list[int]) -> list[bool]:
        assert self.stages.rows == [s.state for s in seqs]
        return self.stages.advance(tokens)

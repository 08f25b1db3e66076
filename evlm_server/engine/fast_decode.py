"""Static-KV-cache decoding for the Qwen2-VL / Qwen2.5-VL text decoder: lean on a CPU, a CUDA
graph on CUDA.

The split, and why:
- Prefill runs the Hugging Face model itself (vision tower, embedding merge, the multimodal
  rotary positions from its own `get_rope_index`, all decoder layers), so the prompt is encoded
  exactly as the reference encodes it. Its KV cache is then copied into a slot of our cache.
- Decode runs the text decoder layers here, one new token per slot, over a preallocated cache
  (per layer [max_batch, kv_heads, max_len, head_dim]), with as few calls per layer as the math
  allows: q, k and v are one matmul (their weights are one tensor, which the model's own
  projections view), gate and up are one, the rotary embedding is two table lookups for the
  whole step (`cos`, and `sin` signed so that `rotate_half(x) * sin == x.roll(half) * sin_signed`),
  and the new keys and values go into the cache with one `index_copy_` each. For a small model
  on a CPU a decode step is all per-call overhead, not arithmetic: this is what makes it lean.
- On a CPU each step attends over exactly the tokens cached (no padding, no mask for one row).
  On CUDA every shape is fixed for a (rows, kv length) bucket, so each bucket is captured once
  as a CUDA graph and replayed: no Python or kernel-launch overhead per layer.

Decode positions continue the reference's: after the prompt, Qwen's three rotary axes
(time, height, width) are equal, `position = tokens so far + rope_delta`, where `rope_delta` is
what the model's `get_rope_index` returned for the prompt (the vision tokens use fewer
positions than they have tokens). With equal axes the multimodal rope is the plain 1-D rope,
so decode needs only `inv_freq`.

`Scheduler` keeps the slots busy (continuous batching): a newcomer is prefilled between two decode
steps and takes a free slot; a sequence leaves its slot when finished or dropped (cancelled).
What each row may emit and when it is done are the caller's (`choose`, `advance`): the engine's
stages, or plain greedy.

Only stable module names are used: `model.model.language_model.{embed_tokens,layers,norm,
rotary_emb}`, each layer's `input_layernorm`, `self_attn.{q,k,v,o}_proj`,
`post_attention_layernorm`, `mlp.{gate,up,down}_proj`, `mlp.act_fn`, and `model.lm_head`
(transformers 5.x). This module needs torch only (scripts/bench_engine.py loads it by path).
"""

from __future__ import annotations

import inspect
import json
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F

SUPPORTED_TYPES = ("qwen2_vl", "qwen2_5_vl")


def supports_config(config: object) -> bool:
    """Whether this decoder can run a checkpoint: a config object, a config dict, or a checkpoint
    folder. Qwen2-VL-family models with full attention and a plain (or mrope) rotary embedding."""
    if isinstance(config, (str, Path)):
        try:
            config = json.loads((Path(config) / "config.json").read_text())
        except (OSError, ValueError):  # missing or unreadable: not a checkpoint this decoder can run
            return False
        if not isinstance(config, dict):
            return False
    get = config.get if isinstance(config, dict) else lambda k, d=None: getattr(config, k, d)
    if get("model_type") not in SUPPORTED_TYPES:
        return False
    text = get("text_config") or config
    tget = text.get if isinstance(text, dict) else lambda k, d=None: getattr(text, k, d)
    if tget("use_sliding_window", False):
        return False
    rope = tget("rope_parameters") or tget("rope_scaling") or {}
    rope_type = rope.get("rope_type", rope.get("type", "default")) if isinstance(rope, dict) else "default"
    return rope_type in ("default", "mrope")  # scaled ropes (yarn, dynamic) change with the position


@dataclass
class Prefilled:
    """One prompt after the Hugging Face forward: what a slot needs to start decoding."""

    logits: torch.Tensor  # [vocab], float32: the first new token's scores
    keys: list[torch.Tensor]  # per layer [kv_heads, length, head_dim]
    values: list[torch.Tensor]
    length: int  # prompt tokens
    rope_delta: int  # decode position = tokens so far + rope_delta


class _Layer:
    """One decoder layer's weights, as the lean step reads them."""

    def __init__(self, layer: torch.nn.Module) -> None:
        attn, mlp = layer.self_attn, layer.mlp
        self.norm1, self.eps1 = layer.input_layernorm.weight, layer.input_layernorm.variance_epsilon
        self.norm2, self.eps2 = layer.post_attention_layernorm.weight, layer.post_attention_layernorm.variance_epsilon
        self.qkv_w = _fuse([attn.q_proj, attn.k_proj, attn.v_proj], "weight")
        self.qkv_b = _fuse([attn.q_proj, attn.k_proj, attn.v_proj], "bias")
        self.gate_up_w = _fuse([mlp.gate_proj, mlp.up_proj], "weight")
        self.o_w, self.down_w, self.act = attn.o_proj.weight, mlp.down_proj.weight, mlp.act_fn
        self.intermediate = mlp.gate_proj.weight.shape[0]


def _fuse(linears: list[torch.nn.Linear], name: str) -> torch.Tensor | None:
    """One tensor of the linears' `name` parameters stacked by output row; each linear's own
    parameter becomes a view of it (no copy of the weights is kept)."""
    parts = [getattr(m, name) for m in linears]
    if any(p is None for p in parts):
        return None
    fused = torch.cat([p.detach() for p in parts])
    start = 0
    for m, p in zip(linears, parts, strict=True):
        setattr(m, name, torch.nn.Parameter(fused[start : start + p.shape[0]], requires_grad=False))
        start += p.shape[0]
    return fused


def _rms_norm(x: torch.Tensor, weight: torch.Tensor, eps: float) -> torch.Tensor:
    if x.dtype == torch.float32:
        return F.rms_norm(x, (x.shape[-1],), weight, eps)
    # The reference's own order for half types: normalise in float32, round, then scale.
    x32 = x.float()
    return weight * (x32 * torch.rsqrt(x32.pow(2).mean(-1, keepdim=True) + eps)).to(x.dtype)


class StaticDecoder:
    """The static KV cache and the batched one-token decode step over its slots.

    Not thread-safe: one thread drives it (the scheduler's).
    """

    def __init__(
        self,
        model: torch.nn.Module,
        max_batch: int = 8,
        max_len: int = 4096,
        cuda_graphs: bool | None = None,
        kv_bucket: int = 512,
    ) -> None:
        if not supports_config(model.config):
            raise ValueError(f"unsupported model for the fast decoder: {model.config.model_type}")
        if max_batch < 1 or max_len < 2:
            raise ValueError(f"max_batch must be >= 1 and max_len >= 2, got {max_batch}, {max_len}")
        self.model = model
        lm = model.model.language_model
        self.embed, self.layers, self.norm, self.lm_head = lm.embed_tokens, lm.layers, lm.norm, model.lm_head
        attn = self.layers[0].self_attn
        self.head_dim = attn.head_dim
        self.kv_heads = attn.k_proj.weight.shape[0] // self.head_dim
        self.heads = attn.q_proj.weight.shape[0] // self.head_dim
        self.scaling = attn.scaling
        self._layers = [_Layer(layer) for layer in self.layers]
        p = self.embed.weight
        self.device, self.dtype = p.device, p.dtype
        self.max_batch, self.max_len, self.kv_bucket = max_batch, max_len, kv_bucket
        self.vocab_size = self.lm_head.weight.shape[0]
        shape = (max_batch, self.kv_heads, max_len, self.head_dim)
        self.k_cache = [torch.zeros(shape, dtype=self.dtype, device=self.device) for _ in self.layers]
        self.v_cache = [torch.zeros(shape, dtype=self.dtype, device=self.device) for _ in self.layers]
        # The rotary tables, one row per position (positions stay below max_len: the vision
        # tokens of a prompt take fewer positions than tokens), computed as the reference does.
        freqs = torch.arange(max_len, device=self.device).float()[:, None] * lm.rotary_emb.inv_freq.float()
        emb = torch.cat((freqs, freqs), dim=-1)
        scale = float(lm.rotary_emb.attention_scaling)
        half = self.head_dim // 2
        self.cos = (emb.cos() * scale).to(self.dtype)
        sin = (emb.sin() * scale).to(self.dtype)
        self.sin_signed = torch.cat((-sin[:, :half], sin[:, half:]), dim=-1)
        # Static inputs of the decode step, per slot: the token to feed, where its KV goes (the
        # tokens already cached), and its rotary position.
        self.tokens = torch.zeros(max_batch, dtype=torch.long, device=self.device)
        self.lengths = torch.zeros(max_batch, dtype=torch.long, device=self.device)
        self.positions = torch.zeros(max_batch, dtype=torch.long, device=self.device)
        self.rows = torch.arange(max_batch, device=self.device)
        self.columns = torch.arange(max_len, device=self.device)
        self._head_rows = torch.arange(self.kv_heads, device=self.device) * max_len  # per slot, per KV head
        if cuda_graphs is None:
            cuda_graphs = self.device.type == "cuda"
        if cuda_graphs and self.device.type != "cuda":
            raise ValueError("CUDA graphs need a CUDA device")
        self.cuda_graphs = cuda_graphs
        self._graphs: dict[tuple[int, int], tuple[torch.cuda.CUDAGraph, torch.Tensor]] = {}
        self._pool = torch.cuda.graph_pool_handle() if cuda_graphs else None
        forward = inspect.signature(model.forward).parameters
        self._takes_mm_types = "mm_token_type_ids" in forward
        self._image_token_id = getattr(model.config, "image_token_id", None)
        self._video_token_id = getattr(model.config, "video_token_id", None)

    # ------------------------------------------------------------------ prefill
    @torch.inference_mode()
    def prefill(self, inputs: dict) -> Prefilled:
        """Run one prompt (batch of 1: the processor's output for one request) through the
        Hugging Face model, keeping its KV cache and rotary offset."""
        input_ids = inputs["input_ids"]
        if input_ids.shape[0] != 1:
            raise ValueError(f"prefill takes one prompt at a time, got a batch of {input_ids.shape[0]}")
        length = input_ids.shape[1]
        if length >= self.max_len:
            raise ValueError(f"prompt of {length} tokens does not fit the KV cache ({self.max_len})")
        inputs = dict(inputs)
        if self._takes_mm_types and "mm_token_type_ids" not in inputs:
            # transformers >= 5.2x computes vision positions only from these types
            types = torch.zeros_like(input_ids, dtype=torch.int32)
            types[input_ids == self._image_token_id] = 1
            types[input_ids == self._video_token_id] = 2
            inputs["mm_token_type_ids"] = types
        self.model.model.rope_deltas = None  # else a text-only prompt would reuse the last one's
        out = self.model(**inputs, use_cache=True, logits_to_keep=1)
        delta = self.model.model.rope_deltas
        rope_delta = int(delta.reshape(-1)[0]) if delta is not None else 0
        cache = out.get("cache") if out.get("cache") is not None else out.get("past_key_values")
        keys, values = [], []
        for i in range(len(self.layers)):
            k, v = _layer_kv(cache, i)
            keys.append(k[0])
            values.append(v[0])
        return Prefilled(out.logits[0, -1].float(), keys, values, length, rope_delta)

    def insert(self, slot: int, pre: Prefilled) -> None:
        """Copy a prefilled prompt's KV into `slot` (whatever was there is dropped)."""
        n = pre.length
        for i in range(len(self.layers)):
            self.k_cache[i][slot, :, :n].copy_(pre.keys[i])
            self.v_cache[i][slot, :, :n].copy_(pre.values[i])

    # ------------------------------------------------------------------ decode
    @torch.inference_mode()
    def decode(self, tokens: list[int], lengths: list[int], positions: list[int]) -> torch.Tensor:
        """One decode step for slots 0..n-1 (n = len(tokens)): feed `tokens[s]`, whose KV goes to
        index `lengths[s]` of slot s, at rotary position `positions[s]`. Returns float32 logits
        [n, vocab]. Free slots in the range may be fed anything (their rows are ignored)."""
        n = len(tokens)
        if not 0 < n <= self.max_batch:
            raise ValueError(f"decode needs 1..{self.max_batch} slots, got {n}")
        need = max(lengths) + 1
        if need > self.max_len:
            raise ValueError(f"a slot is full: {need} > max_len {self.max_len}")
        if max(positions) >= self.max_len or min(positions) < 0:
            raise ValueError(f"rotary position out of the table: {min(positions)}..{max(positions)}")
        if self.cuda_graphs:
            rows = _bucket_rows(n, self.max_batch)
            kv_len = min(self.max_len, -(-need // self.kv_bucket) * self.kv_bucket)
        else:  # exactly the rows and the cached tokens: no padding to compute
            rows, kv_len = n, need
        pad = [0] * (rows - n)
        # One host-to-device copy for the three inputs.
        host = torch.tensor([tokens + pad, lengths + pad, positions + pad], dtype=torch.long)
        self.tokens[:rows].copy_(host[0], non_blocking=True)
        self.lengths[:rows].copy_(host[1], non_blocking=True)
        self.positions[:rows].copy_(host[2], non_blocking=True)
        if self.cuda_graphs:
            logits = self._replay(rows, kv_len)
        else:
            logits = self._step(rows, kv_len, masked=rows > 1)
        return logits[:n]

    @torch.inference_mode()
    def capture(self, max_tokens: int | None = None) -> int:
        """Capture every (rows, kv length) graph up to `max_tokens` cached tokens now, rather than
        on first use; returns how many graphs exist. Call only while no slot is in use: the
        warm-up steps write into the cache."""
        if not self.cuda_graphs:
            return 0
        limit = min(max_tokens or self.max_len, self.max_len)
        rows = sorted({_bucket_rows(n, self.max_batch) for n in range(1, self.max_batch + 1)})
        kv_lens = sorted({min(self.max_len, k) for k in range(self.kv_bucket, limit + self.kv_bucket, self.kv_bucket)})
        self.lengths.zero_()
        for r in rows:
            for k in kv_lens:
                self._replay(r, k)
        torch.cuda.synchronize()
        return len(self._graphs)

    def _replay(self, rows: int, kv_len: int) -> torch.Tensor:
        key = (rows, kv_len)
        if key not in self._graphs:
            stream = torch.cuda.Stream()
            stream.wait_stream(torch.cuda.current_stream())
            with torch.cuda.stream(stream):  # warm up outside the graph (allocator, kernels)
                self._step(rows, kv_len)
            torch.cuda.current_stream().wait_stream(stream)
            graph = torch.cuda.CUDAGraph()
            with torch.cuda.graph(graph, pool=self._pool):
                out = self._step(rows, kv_len)
            self._graphs[key] = (graph, out)
        graph, out = self._graphs[key]
        graph.replay()
        return out

    def _step(self, rows: int, kv_len: int, masked: bool = True) -> torch.Tensor:
        """The decode step on static buffers: what a CUDA graph captures. `masked`: whether some
        row has fewer than `kv_len` tokens (a row may see only its own)."""
        idx = self.lengths[:rows]
        d, heads, kv_heads = self.head_dim, self.heads, self.kv_heads
        x = self.embed(self.tokens[:rows])  # [rows, hidden]
        cos = self.cos.index_select(0, self.positions[:rows])[:, None]  # [rows, 1, head_dim]
        sin = self.sin_signed.index_select(0, self.positions[:rows])[:, None]
        # Where each row's new key and value go, as rows of a cache layer seen as [-1, head_dim].
        at = ((self.rows[:rows, None] * kv_heads * self.max_len + self._head_rows) + idx[:, None]).reshape(-1)
        visible = (self.columns[:kv_len] <= idx[:, None])[:, None, None] if masked else None  # [rows, 1, 1, kv]
        qk_width, half = (heads + kv_heads) * d, d // 2
        for w, kc, vc in zip(self._layers, self.k_cache, self.v_cache, strict=True):
            qkv = F.linear(_rms_norm(x, w.norm1, w.eps1), w.qkv_w, w.qkv_b)
            qk = qkv[:, :qk_width].view(rows, heads + kv_heads, d)
            qk = qk * cos + qk.roll(half, dims=-1) * sin  # rotary: q and k at once
            kc.view(-1, d).index_copy_(0, at, qk[:, heads:].reshape(-1, d))
            vc.view(-1, d).index_copy_(0, at, qkv[:, qk_width:].reshape(-1, d))
            # Grouped-query attention without repeating the cache: the query heads that share a
            # KV head are one matrix. Softmax in float32, as the reference's eager attention.
            q = qk[:, :heads].reshape(rows, kv_heads, heads // kv_heads, d)
            scores = torch.matmul(q, kc[:rows, :, :kv_len].transpose(-1, -2)) * self.scaling
            if visible is not None:
                scores = scores.masked_fill(~visible, float("-inf"))
            probs = torch.softmax(scores, dim=-1, dtype=torch.float32).to(self.dtype)
            o = torch.matmul(probs, vc[:rows, :, :kv_len]).reshape(rows, heads * d)
            x = x + F.linear(o, w.o_w)
            gate_up = F.linear(_rms_norm(x, w.norm2, w.eps2), w.gate_up_w)
            n = w.intermediate
            x = x + F.linear(w.act(gate_up[:, :n]) * gate_up[:, n:], w.down_w)
        return self.lm_head(_rms_norm(x, self.norm.weight, self.norm.variance_epsilon)).float()

    def weight_bytes(self) -> int:
        """Bytes of the weights one decode step reads (text decoder and LM head)."""
        params = {id(p): p for m in (self.embed, self.layers, self.norm, self.lm_head) for p in m.parameters()}
        # The embedding is only gathered (one row per token), unless the head shares it.
        embed = self.embed.weight
        tied = embed.data_ptr() == self.lm_head.weight.data_ptr()
        return sum(p.numel() * p.element_size() for p in params.values() if tied or p is not embed)


def _bucket_rows(n: int, max_batch: int) -> int:
    """Rows the step runs: the next power of two, so few graphs cover every batch size."""
    rows = 1
    while rows < n:
        rows *= 2
    return min(rows, max_batch)


def _layer_kv(cache: object, i: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Layer i's (keys, values), [batch, kv_heads, length, head_dim], from a Hugging Face cache."""
    layers = getattr(cache, "layers", None)
    if layers is not None:  # transformers >= 4.56
        return layers[i].keys, layers[i].values
    return cache.key_cache[i], cache.value_cache[i]


# choose(seqs, logits [n, vocab]) -> next token per seq; advance(seqs, tokens) -> finished per seq;
# dropped(seq) -> the error that ends it now (e.g. it was cancelled), or None.
Choose = Callable[[list["Sequence"], torch.Tensor], list[int]]
Advance = Callable[[list["Sequence"], list[int]], list[bool]]
Dropped = Callable[["Sequence"], "Exception | None"]


class Sequence:
    """One prompt being decoded: its inputs, its slot, and how it ended."""

    def __init__(self, inputs: dict, state: object = None, max_new_tokens: int = 1 << 30) -> None:
        self.inputs = inputs  # the processor's output for this prompt alone (batch of 1)
        self.state = state  # the chooser's per-sequence data (an engine row)
        self.max_new_tokens = max_new_tokens
        self.tokens: list[int] = []  # generated so far
        self.slot = -1
        self.length = 0  # tokens in the KV cache
        self.rope_delta = 0
        self.t_admit = 0.0  # when its prefill began
        self.error: Exception | None = None
        self.done = threading.Event()

    @property
    def next_token(self) -> int:
        return self.tokens[-1]


class Scheduler:
    """Slots of a StaticDecoder, a queue of waiting sequences, and the step that moves both.

    One thread drives it: `submit`, then `step` until the sequences are done.
    """

    def __init__(
        self, decoder: StaticDecoder, choose: Choose, advance: Advance, dropped: Dropped = lambda seq: None
    ) -> None:
        self.decoder, self.choose, self.advance, self.dropped = decoder, choose, advance, dropped
        self.slots: list[Sequence | None] = [None] * decoder.max_batch
        self.waiting: deque[Sequence] = deque()
        self.steps = 0
        self.peak_rows = 0  # most sequences decoded in one step
        self._finished: list[Sequence] = []

    def submit(self, seq: Sequence) -> Sequence:
        self.waiting.append(seq)
        return seq

    def busy(self) -> bool:
        return any(self.slots) or bool(self.waiting)

    def held(self) -> int:
        """Sequences waiting or decoding."""
        return len(self.waiting) + sum(s is not None for s in self.slots)

    def wait(self, seqs: list[Sequence]) -> None:
        """Step until every one of `seqs` is done."""
        while not all(s.done.is_set() for s in seqs):
            self.step()

    def clear(self) -> list[Sequence]:
        """Drop every sequence (waiting or decoding), unfinished; returns them."""
        held = [s for s in self.slots if s is not None] + list(self.waiting)
        self.slots = [None] * self.decoder.max_batch
        self.waiting.clear()
        return held

    @torch.inference_mode()
    def step(self) -> list[Sequence]:
        """Drop what was cancelled, admit one waiting sequence (prefill into a free slot), then
        decode one token for every busy slot. Returns the sequences that finished in this step."""
        for s in [s for s in self.slots if s is not None] + list(self.waiting):
            error = self.dropped(s)
            if error is not None:
                if s in self.waiting:
                    self.waiting.remove(s)
                self._finish(s, error)
        self._admit()
        active = [s for s in self.slots if s is not None]
        if active:
            self.peak_rows = max(self.peak_rows, len(active))
            n = max(s.slot for s in active) + 1
            tokens, lengths, positions = [0] * n, [0] * n, [0] * n
            for s in active:
                tokens[s.slot], lengths[s.slot], positions[s.slot] = s.next_token, s.length, s.length + s.rope_delta
            try:
                logits = self.decoder.decode(tokens, lengths, positions)
                rows = logits[[s.slot for s in active]] if len(active) < n else logits
                for s in active:
                    s.length += 1
                self._take(active, self.choose(active, rows))
            except Exception as e:  # the step as a whole failed (e.g. out of memory): all its rows fail
                for s in active:
                    self._finish(s, e)
            self.steps += 1
        finished, self._finished = self._finished, []
        return finished

    def _admit(self) -> None:
        free = [i for i, s in enumerate(self.slots) if s is None]
        if not free or not self.waiting:
            return
        seq = self.waiting.popleft()
        seq.t_admit = time.perf_counter()
        try:
            pre = self.decoder.prefill(seq.inputs)
            if pre.length + seq.max_new_tokens > self.decoder.max_len:
                raise ValueError(
                    f"prompt of {pre.length} tokens + {seq.max_new_tokens} new ones exceed the KV cache "
                    f"({self.decoder.max_len} tokens): raise max_len"
                )
            seq.slot = free[0]  # the lowest free slot keeps the decoded rows few
            self.decoder.insert(seq.slot, pre)
            seq.length, seq.rope_delta = pre.length, pre.rope_delta
            self.slots[seq.slot] = seq
            self._take([seq], self.choose([seq], pre.logits[None]))
        except Exception as e:  # a bad prompt fails alone
            self._finish(seq, e)

    def _take(self, seqs: list[Sequence], tokens: list[int]) -> None:
        for s, t in zip(seqs, tokens, strict=True):
            s.tokens.append(t)
        for s, finished in zip(seqs, self.advance(seqs, tokens), strict=True):
            if finished or len(s.tokens) >= s.max_new_tokens:
                self._finish(s)

    def _finish(self, seq: Sequence, error: Exception | None = None) -> None:
        if seq.done.is_set():
            return
        seq.error = error
        if 0 <= seq.slot < len(self.slots) and self.slots[seq.slot] is seq:
            self.slots[seq.slot] = None
        seq.done.set()
        self._finished.append(seq)


def greedy_choose(seqs: list[Sequence], logits: torch.Tensor) -> list[int]:
    return logits.argmax(dim=-1).tolist()

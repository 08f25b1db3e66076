"""Benchmark the fast engine's decoder against plain `generate`, side by side in one run.

The setup of the shared baseline (../shared/bench/hf_generate_baseline.py), folded in so the script
runs on a machine that only has this checkout: a Qwen2.5-VL-7B-shaped model with random weights
(speed does not depend on the values), 6 views of 392x392 plus 340 text tokens (1,529 prompt
tokens), bf16 on CUDA. Prints one JSON object (and writes $OUT/bench_engine.json if OUT is set):

- prefill ms (vision tower + prompt), generate and engine;
- batch-1 decode ms/token, generate and engine, and the roofline: the bytes of weights one decode
  step reads (text decoder + LM head) over the measured device copy bandwidth;
- tokens/s with 8 requests arriving a few steps apart (prefills included), and the steady rate
  with all 8 slots busy;
- end-to-end latency of one request with 200 new tokens (submit to last token), both;
- warm-up: capturing every CUDA graph the run needs;
- grammar overhead per decode step: xgrammar masks for 8 rows in the answer stage, applied on
  the logits' device (with the tiny test tokenizer: the real 151k-token one costs more per mask);
- token agreement of the engine's greedy output with generate's over N tokens (bf16).

Usage: python scripts/bench_engine.py [--tiny]   (env: N new tokens, NV views, S view size, GAP
arrival spacing in steps; GRAPHS=0 decodes eagerly; TINY=1 is --tiny: a CPU smoke run with a 2-layer model).
"""

from __future__ import annotations

import argparse
import inspect
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402
import torch  # noqa: E402
import transformers  # noqa: E402
from PIL import Image  # noqa: E402
from transformers import Qwen2_5_VLConfig, Qwen2_5_VLForConditionalGeneration  # noqa: E402


def _load_fast_decode():
    """fast_decode.py needs only torch; loaded by path so that the core figures need nothing else
    (the `evlm_server` package imports pydantic, which a bare GPU machine may lack)."""
    import importlib.util

    path = Path(__file__).resolve().parents[1] / "evlm_server" / "engine" / "fast_decode.py"
    spec = importlib.util.spec_from_file_location("evlm_fast_decode", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


_fd = _load_fast_decode()
Scheduler, Sequence, StaticDecoder, greedy_choose = _fd.Scheduler, _fd.Sequence, _fd.StaticDecoder, _fd.greedy_choose


def config(tiny: bool) -> Qwen2_5_VLConfig:
    """The baseline's model shapes (Qwen2.5-VL-7B, or a 2-layer toy for --tiny)."""
    if tiny:
        text = dict(
            hidden_size=64,
            intermediate_size=128,
            num_hidden_layers=2,
            num_attention_heads=4,
            num_key_value_heads=2,
            vocab_size=152064,
            rope_scaling={"type": "mrope", "mrope_section": [2, 3, 3]},
        )
        vis = dict(
            depth=2,
            hidden_size=32,
            intermediate_size=64,
            num_heads=2,
            out_hidden_size=64,
            fullatt_block_indexes=[1],
            window_size=112,
            patch_size=14,
            spatial_merge_size=2,
            temporal_patch_size=2,
        )
    else:
        text = dict(
            hidden_size=3584,
            intermediate_size=18944,
            num_hidden_layers=28,
            num_attention_heads=28,
            num_key_value_heads=4,
            vocab_size=152064,
            rope_theta=1000000.0,
            max_position_embeddings=128000,
            rope_scaling={"type": "mrope", "mrope_section": [16, 24, 24]},
            tie_word_embeddings=False,
        )
        vis = dict(
            depth=32,
            hidden_size=1280,
            intermediate_size=3420,
            num_heads=16,
            out_hidden_size=3584,
            fullatt_block_indexes=[7, 15, 23, 31],
            window_size=112,
            patch_size=14,
            spatial_merge_size=2,
            temporal_patch_size=2,
        )
    c = Qwen2_5_VLConfig(
        text_config=text,
        vision_config=vis,
        image_token_id=151655,
        video_token_id=151656,
        vision_start_token_id=151652,
        vision_end_token_id=151653,
    )
    c.text_config.tie_word_embeddings = text.get("tie_word_embeddings", False)
    return c


def image_processor():
    try:
        from transformers import Qwen2VLImageProcessor

        return Qwen2VLImageProcessor(min_pixels=56 * 56, max_pixels=392 * 392)
    except ImportError:  # transformers 5 without torchvision: the PIL backend
        from transformers import Qwen2VLImageProcessorPil

        return Qwen2VLImageProcessorPil(min_pixels=56 * 56, max_pixels=392 * 392)


def build_inputs(model, dev: str, dtype: torch.dtype, n_views: int, size: int) -> dict:
    """The baseline's prompt: 300 text tokens, the views, 40 more text tokens."""
    rng = np.random.default_rng(0)
    imgs = [Image.fromarray(rng.integers(0, 255, (size, size, 3), dtype=np.uint8)) for _ in range(n_views)]
    pi = image_processor()(images=imgs, return_tensors="pt")
    ids = [151644] + list(rng.integers(1000, 100000, 300))
    for t, h, w in pi["image_grid_thw"].tolist():
        ids += [151652] + [151655] * (t * h * w // 4) + [151653]
    ids += list(rng.integers(1000, 100000, 40))
    input_ids = torch.tensor([ids], device=dev)
    inputs = dict(
        input_ids=input_ids,
        attention_mask=torch.ones_like(input_ids),
        pixel_values=pi["pixel_values"].to(dev, dtype),
        image_grid_thw=pi["image_grid_thw"].to(dev),
    )
    if "mm_token_type_ids" in inspect.signature(model.forward).parameters:
        # newer transformers place the vision positions from these (generate and engine alike)
        inputs["mm_token_type_ids"] = (input_ids == 151655).int()
    return inputs


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--tiny", action="store_true", default=os.environ.get("TINY") == "1", help="CPU smoke run")
    args = ap.parse_args()
    tiny = args.tiny
    dev = "cuda" if torch.cuda.is_available() else "cpu"
    dtype = torch.bfloat16 if dev == "cuda" else torch.float32
    n_new = int(os.environ.get("N", "32" if tiny else "128"))
    n_e2e = int(os.environ.get("E2E", "200"))
    gap = int(os.environ.get("GAP", "6"))
    res: dict = {"device": torch.cuda.get_device_name() if dev == "cuda" else "cpu", "dtype": str(dtype)[6:]}
    res["torch"], res["transformers"] = torch.__version__, transformers.__version__

    def sync() -> None:
        if dev == "cuda":
            torch.cuda.synchronize()

    torch.manual_seed(0)
    t = time.perf_counter()
    with torch.device(dev):
        model = Qwen2_5_VLForConditionalGeneration._from_config(config(tiny), dtype=dtype)
    model.eval()
    res["params"] = sum(p.numel() for p in model.parameters())
    res["init_s"] = round(time.perf_counter() - t, 1)
    inputs = build_inputs(model, dev, dtype, int(os.environ.get("NV", "6")), int(os.environ.get("S", "392")))
    prompt_len = inputs["input_ids"].shape[1]
    res["prompt_tokens"] = prompt_len

    # ---------------------------------------------------------------- plain generate
    def generate(n: int) -> tuple[float, list[int]]:
        sync()
        t = time.perf_counter()
        with torch.inference_mode():
            out = model.generate(
                **inputs, max_new_tokens=n, min_new_tokens=n, do_sample=False, pad_token_id=0, eos_token_id=None
            )
        sync()
        return time.perf_counter() - t, out[0, prompt_len:].tolist()

    generate(4)  # warm-up
    g_prefill = min(generate(1)[0] for _ in range(3))
    t_n, ref_tokens = generate(n_new)
    res["generate"] = {
        "prefill_ms": round(1000 * g_prefill, 1),
        "bs1_ms_per_token": round(1000 * (t_n - g_prefill) / (n_new - 1), 2),
        f"e2e_{n_e2e}_tokens_s": round(generate(n_e2e)[0], 3),
    }

    # ---------------------------------------------------------------- engine
    max_len = -(-(prompt_len + max(n_e2e, n_new) + 1) // 512) * 512
    graphs_on = dev == "cuda" and os.environ.get("GRAPHS", "1") == "1"
    decoder = StaticDecoder(model, max_batch=8, max_len=max_len, cuda_graphs=graphs_on)
    eng: dict = {"max_len": max_len}
    t = time.perf_counter()
    try:
        eng["graphs"] = decoder.capture()
    except Exception as e:  # report it and measure the eager step rather than lose the run
        eng["graph_error"] = repr(e)[:400]
        del decoder
        decoder = StaticDecoder(model, max_batch=8, max_len=max_len, cuda_graphs=False)
    sync()
    eng["warmup_s"] = round(time.perf_counter() - t, 2)
    sched = Scheduler(decoder, greedy_choose, lambda seqs, tokens: [False] * len(seqs))

    def solo(n: int) -> tuple[float, list[int]]:
        sync()
        t = time.perf_counter()
        seq = sched.submit(Sequence(inputs, max_new_tokens=n))
        sched.wait([seq])
        sync()
        if seq.error is not None:
            raise seq.error
        return time.perf_counter() - t, seq.tokens

    solo(4)  # warm-up of the prefill path
    e_prefill = min(solo(1)[0] for _ in range(3))
    t_n, tokens = solo(n_new)
    eng["prefill_ms"] = round(1000 * e_prefill, 1)
    eng["bs1_ms_per_token"] = round(1000 * (t_n - e_prefill) / (n_new - 1), 2)
    eng[f"e2e_{n_e2e}_tokens_s"] = round(solo(n_e2e)[0], 3)
    same = sum(a == b for a, b in zip(tokens, ref_tokens, strict=True))
    first_diff = next((i for i, (a, b) in enumerate(zip(tokens, ref_tokens, strict=True)) if a != b), None)
    eng["agreement"] = {"tokens": n_new, "equal": same, "first_difference": first_diff}

    # 8 requests, one arriving every `gap` decode steps, each n_new tokens.
    seqs: list[Sequence] = []
    full_steps: list[float] = []
    sync()
    t0 = time.perf_counter()
    step = 0
    while len(seqs) < 8 or not all(s.done.is_set() for s in seqs):
        if len(seqs) < 8 and step % gap == 0:
            seqs.append(sched.submit(Sequence(inputs, max_new_tokens=n_new)))
        steady = not sched.waiting and all(s is not None for s in sched.slots)
        ts = time.perf_counter()
        sched.step()
        if steady:
            sync()
            full_steps.append(time.perf_counter() - ts)
        step += 1
    sync()
    wall = time.perf_counter() - t0
    eng["concurrent8"] = {
        "arrival_gap_steps": gap,
        "tokens_per_s": round(8 * n_new / wall, 1),
        "wall_s": round(wall, 3),
        "all_busy_tokens_per_s": round(8 / statistics.median(full_steps), 1) if full_steps else None,
    }
    if any(s.error for s in seqs):
        eng["concurrent8"]["error"] = repr(next(s.error for s in seqs if s.error))[:300]

    # roofline: weights read per decode step over the measured copy bandwidth
    weight_bytes = decoder.weight_bytes()
    n_bytes = (2 << 30) if dev == "cuda" else (64 << 20)
    x = torch.empty(n_bytes, dtype=torch.uint8, device=dev)
    y = torch.empty_like(x)
    for _ in range(3):
        y.copy_(x)
    sync()
    t = time.perf_counter()
    for _ in range(10):
        y.copy_(x)
    sync()
    bw = 10 * 2 * n_bytes / (time.perf_counter() - t)
    del x, y
    res["roofline"] = {
        "decode_weight_GB": round(weight_bytes / 1e9, 2),
        "copy_GBps": round(bw / 1e9),
        "ms_per_token": round(1000 * weight_bytes / bw, 2),
    }
    eng["bs1_fraction_of_roofline"] = round(res["roofline"]["ms_per_token"] / eng["bs1_ms_per_token"], 3)
    step_ms = eng["bs1_ms_per_token"]
    eng["grammar"] = grammar_overhead(decoder.vocab_size, dev, step_ms)
    res["engine"] = eng
    res["speedup_bs1"] = round(res["generate"]["bs1_ms_per_token"] / eng["bs1_ms_per_token"], 1)
    if dev == "cuda":
        res["max_mem_GB"] = round(torch.cuda.max_memory_allocated() / 1e9, 1)
    print(json.dumps(res, indent=1))
    if os.environ.get("OUT"):
        Path(os.environ["OUT"], "bench_engine.json").write_text(json.dumps(res, indent=1) + "\n")
    return 0


def grammar_overhead(vocab_size: int, dev: str, step_ms: float, rows: int = 8, steps: int = 64) -> dict:
    """Per-step cost of the answer stage's masks for `rows` rows: xgrammar fills each row's
    bitmask on the CPU, the mask is applied to the logits on their device, the chosen tokens are
    accepted. The tokenizer is the tiny test one (2k tokens) padded to the model's vocabulary."""
    try:
        from xgrammar import allocate_token_bitmask

        from evlm.edits import plan_json_schema
        from evlm_server.engine.grammar import PlanGrammar, mask_rows
        from evlm_server.engine.hf import load_processor
        from training.tiny import make_tiny_checkpoint
    except ImportError as e:
        return {"skipped": f"{type(e).__name__}: {e}"}
    with tempfile.TemporaryDirectory() as tmp:
        tok = load_processor(make_tiny_checkpoint(tmp, arch="qwen2_5_vl")).tokenizer
    stop = tok.convert_tokens_to_ids("<|im_end|>")
    grammar = PlanGrammar.for_tokenizer(tok, vocab_size, [stop])
    compiled = grammar.compile(plan_json_schema(None, 3))
    constraints = [grammar.constraint(compiled, 768) for _ in range(rows)]
    bitmask = allocate_token_bitmask(rows, vocab_size)
    gen = torch.Generator(device=dev).manual_seed(0)
    times = []
    for _ in range(steps):
        logits = torch.randn(rows, vocab_size, device=dev, generator=gen)
        if dev == "cuda":
            torch.cuda.synchronize()
        t = time.perf_counter()
        mask_rows(logits, constraints, list(range(rows)), bitmask)
        for i, token in enumerate(logits.argmax(dim=-1).tolist()):
            constraints[i].accept(token)
        times.append(time.perf_counter() - t)
        for i, c in enumerate(constraints):
            if c.done:
                constraints[i] = grammar.constraint(compiled, 768)
    ms = 1000 * statistics.median(times)
    return {
        "rows": rows,
        "ms_per_step": round(ms, 3),
        "fraction_of_bs1_step": round(ms / step_ms, 3),
        "tokenizer_vocab": len(tok),
    }


if __name__ == "__main__":
    raise SystemExit(main())

"""Which built-in model size still serves a full 6-view suggest in 2 s on this CPU?

A suggest is the model's own compute (prefill of the prompt, then one forward per new token)
plus the engine's work per token (grammar masks, stages), which does not depend on the model's
size. So, in one run, in this process, on one torch thread:
- the shipped model through the engine (`load_engine(...).run`, the sample scene's 6 views and
  bench_suggest's instruction): E seconds, writing N new tokens;
- the same model's plain `generate` forced to write the same N tokens: G, so E - G is the
  engine's share;
- for each architecture in `training.evlm_tiny.SIZES` (random weights, the shipped tokenizer, the
  prompt format it would be trained with): plain `generate` of N tokens, G(size).
The estimate for a trained model of that size is E - G + G(size). Random weights are fine for the
model's share (the compute does not depend on the values), not for the engine's (a random model
under the grammar takes its slowest paths): hence the split.

Every figure is the median of `--runs` after a warm-up, in CPU seconds of this process
(`time.process_time`) on one thread: what one idle core takes, so the figures hold on a shared
machine (this project's 2-core host runs beside other jobs; wall seconds are printed beside them,
with the load average). The server runs torch on both cores, which only helps the larger sizes.
The wire adds a few milliseconds (bench_suggest.py measures the whole path end to end).
Prints a table, the pick (the largest size whose estimate is within `--target`) and one JSON line.
Re-run it whenever the engine changes: the pick follows the per-token cost.

    .venv/bin/python scripts/bench_model_size.py [--sizes tiny,small,...] [--runs 3] [--target 2.0]
"""

from __future__ import annotations

import argparse
import io
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from evlm.client import load_views  # noqa: E402
from evlm.scene import SceneGraph  # noqa: E402
from evlm_server.cli import BUILTIN_MODEL  # noqa: E402
from training import evlm_tiny  # noqa: E402

SAMPLE = ROOT / "examples" / "sample_scene"
INSTRUCTION = "the ball bounces a bit too fast, slow it down"  # bench_suggest.py's


def request():
    from PIL import Image

    from evlm_server.engine.base import EngineRequest

    scene = SceneGraph.model_validate_json((SAMPLE / "scene.json").read_text())
    views = load_views(SAMPLE / "views")
    images = [Image.open(io.BytesIO(png)).convert("RGB") for _, png in views]
    return EngineRequest(id="b", instruction=INSTRUCTION, scene=scene, views=[v for v, _ in views], images=images)


def timed(fn, runs: int) -> tuple[float, float, object]:
    """(median CPU s, median wall s, last result) of `runs` calls after a warm-up."""
    cpu, wall, out = [], [], None
    for i in range(runs + 1):
        c, w = time.process_time(), time.perf_counter()
        out = fn()
        if i:
            cpu.append(time.process_time() - c)
            wall.append(time.perf_counter() - w)
    return statistics.median(cpu), statistics.median(wall), out


def engine_s(model: Path, runs: int) -> tuple[float, float, dict]:
    from evlm_server.engine import load_engine

    engine = load_engine(model, kind="hf", device="cpu", max_reasoning_tokens=384)
    req = request()
    cpu, wall, results = timed(lambda: engine.run([req]), runs)
    return cpu, wall, results[0].tokens


def generate_s(model: Path, new_tokens: int, runs: int) -> tuple[float, float]:
    """Plain `generate` of exactly `new_tokens` tokens on the engine's prompt (bench_suggest's baseline)."""
    import torch
    from transformers import AutoModelForImageTextToText

    from evlm_server.engine.hf import load_processor
    from evlm_server.engine.prompt import ASSISTANT_PREFIX, build_messages, read_prompt_format, request_images

    processor = load_processor(model)
    net = AutoModelForImageTextToText.from_pretrained(model, dtype=torch.float32).eval()
    req = request()
    messages = build_messages(req, read_prompt_format(model))
    text = processor.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    inputs = processor(text=[text + ASSISTANT_PREFIX], images=request_images(req), return_tensors="pt")

    def run():
        with torch.inference_mode():
            net.generate(**inputs, max_new_tokens=new_tokens, min_new_tokens=new_tokens, do_sample=False)

    cpu, wall, _ = timed(run, runs)
    return cpu, wall


def build(size: str, out: Path) -> dict:
    """A random checkpoint of `size` with the shipped tokenizer; its parameter counts."""
    from transformers import AutoTokenizer

    evlm_tiny.random_checkpoint(out, AutoTokenizer.from_pretrained(BUILTIN_MODEL, local_files_only=True), size)
    return evlm_tiny.parameter_count(out)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sizes", default=",".join(evlm_tiny.SIZES), help="comma-separated names from evlm_tiny.SIZES")
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--target", type=float, default=2.0, help="seconds a suggest may take (default 2.0)")
    p.add_argument("--reference-s", type=float, default=None,
                   help="the shipped model's suggest measured end to end on an idle host (bench_suggest.py): "
                   "each estimate is then also given as its ratio to the shipped model times this, and the pick "
                   "uses that (on a busy host CPU seconds run long too; the ratio holds better)")  # fmt: skip
    args = p.parse_args()
    sizes = [s.strip() for s in args.sizes.split(",") if s.strip()]
    bad = [s for s in sizes if s not in evlm_tiny.SIZES]
    if bad or not sizes or args.runs < 1:
        p.error(f"--sizes: unknown {bad} (known: {', '.join(evlm_tiny.SIZES)}); --runs must be at least 1")

    import torch

    torch.set_num_threads(1)
    load_before = os.getloadavg()
    e_cpu, e_wall, tokens = engine_s(BUILTIN_MODEL, args.runs)
    new_tokens = tokens.get("reasoning", 0) + tokens.get("answer", 0)
    g_cpu, g_wall = generate_s(BUILTIN_MODEL, new_tokens, args.runs)
    share = e_cpu - g_cpu
    print(f"shipped model: engine {e_cpu:.3f} CPU s ({e_wall:.3f} wall) for {tokens}; plain generate of the same "
          f"{new_tokens} tokens {g_cpu:.3f} CPU s ({g_wall:.3f} wall); the engine's share {share:.3f} s",
          file=sys.stderr, flush=True)  # fmt: skip
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for size in sizes:
            params = build(size, Path(tmp, size))
            cpu, wall = generate_s(Path(tmp, size), new_tokens, args.runs)
            text = evlm_tiny.SIZES[size]
            rows.append({"size": size, "params_m": round(params["total"] / 1e6, 2),
                         "bf16_mb": round(params["total"] * 2 / 1e6, 1), "layers": text["num_hidden_layers"],
                         "hidden": text["hidden_size"], "generate_cpu_s": round(cpu, 3),
                         "generate_wall_s": round(wall, 3), "estimate_s": round(share + cpu, 3),
                         "vs_shipped": round((share + cpu) / e_cpu, 3)})  # fmt: skip
            if args.reference_s:
                rows[-1]["scaled_s"] = round(rows[-1]["vs_shipped"] * args.reference_s, 3)
            print(f"{size}: generate {cpu:.3f} CPU s ({wall:.3f} wall), estimate {share + cpu:.3f} s",
                  file=sys.stderr, flush=True)  # fmt: skip
    load_after = os.getloadavg()
    key = "scaled_s" if args.reference_s else "estimate_s"
    fits = [r for r in rows if r[key] <= args.target]
    pick = max(fits, key=lambda r: r["params_m"])["size"] if fits else None
    print(f"6-view suggest, sample scene, one torch thread, CPU seconds, median of {args.runs} after a warm-up; "
          f"load average {load_before[0]:.1f} before, {load_after[0]:.1f} after")  # fmt: skip
    print(f"shipped model through the engine: {e_cpu:.2f} s for {tokens}; its plain generate of the same "
          f"{new_tokens} tokens: {g_cpu:.2f} s; the engine's share: {share:.2f} s")  # fmt: skip
    scaled = f" x {args.reference_s} s (idle) |" if args.reference_s else ""
    print(f"| size | layers | hidden | parameters (M) | bf16 MB | generate {new_tokens} tokens s | suggest estimate s "
          f"| vs shipped |{scaled}")  # fmt: skip
    print("|---|---:|---:|---:|---:|---:|---:|---:|" + ("---:|" if args.reference_s else ""))
    for r in rows:
        tail = f" {r['scaled_s']:.2f} |" if args.reference_s else ""
        print(f"| {r['size']} | {r['layers']} | {r['hidden']} | {r['params_m']} | {r['bf16_mb']} | "
              f"{r['generate_cpu_s']:.2f} | {r['estimate_s']:.2f} | {r['vs_shipped']:.2f} |{tail}")  # fmt: skip
    print(f"pick (largest {key} within {args.target} s): {pick}")
    print(json.dumps({"engine_s": round(e_cpu, 3), "generate_s": round(g_cpu, 3), "tokens": tokens, "rows": rows,
                      "pick": pick, "target_s": args.target, "load": [load_before[0], load_after[0]]}))  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

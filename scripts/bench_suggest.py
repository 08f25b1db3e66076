"""A full suggest on this machine: the built-in model (or --model), the sample scene, 6 views.

End to end through a real `evlm-server` process and the client (the wire included), next to the
baseline from the same run: the same model's plain `generate` (no grammar, no stages) writing the
same number of new tokens, in the same process as the benchmark. Prints a table and one JSON line.

    .venv/bin/python scripts/bench_suggest.py [--model PATH] [--engine hf|fast] [--runs 5] [--instruction "..."]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from evlm.client import Client, load_views  # noqa: E402
from evlm.scene import SceneGraph  # noqa: E402
from evlm_server.cli import BUILTIN_MODEL  # noqa: E402
from tests.server_process import serving  # noqa: E402

SAMPLE = ROOT / "examples" / "sample_scene"


def plain_generate(model_path: Path, views, scene: SceneGraph, instruction: str, new_tokens: int, runs: int) -> float:
    """Median seconds of `generate` forced to write `new_tokens` tokens for the same prompt."""
    import io

    import torch
    from PIL import Image
    from transformers import AutoModelForImageTextToText

    from evlm_server.engine.base import EngineRequest
    from evlm_server.engine.hf import load_processor
    from evlm_server.engine.prompt import ASSISTANT_PREFIX, build_messages, read_prompt_format, request_images

    processor = load_processor(model_path)
    model = AutoModelForImageTextToText.from_pretrained(model_path, dtype=torch.float32).eval()
    images = [Image.open(io.BytesIO(png)).convert("RGB") for _, png in views]
    request = EngineRequest(id="b", instruction=instruction, scene=scene, views=[v for v, _ in views], images=images)
    text = processor.apply_chat_template(
        build_messages(request, read_prompt_format(model_path)), tokenize=False, add_generation_prompt=True
    )
    inputs = processor(text=[text + ASSISTANT_PREFIX], images=request_images(request), return_tensors="pt")
    times = []
    with torch.inference_mode():
        for _ in range(runs + 1):
            t0 = time.perf_counter()
            model.generate(**inputs, max_new_tokens=new_tokens, min_new_tokens=new_tokens, do_sample=False)
            times.append(time.perf_counter() - t0)
    return statistics.median(times[1:])


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", type=Path, default=BUILTIN_MODEL)
    p.add_argument("--runs", type=int, default=5)
    p.add_argument("--instruction", default="the ball bounces a bit too fast, slow it down")
    p.add_argument("--max-reasoning-tokens", type=int, default=384)
    p.add_argument("--engine", choices=("hf", "fast"), default="hf", help="the server's engine (default hf, as on CPU)")
    args = p.parse_args()

    scene = SceneGraph.model_validate_json((SAMPLE / "scene.json").read_text())
    views = load_views(SAMPLE / "views")
    walls, results = [], []
    with tempfile.TemporaryDirectory() as tmp:
        serve_args = (
            "--model",
            str(args.model),
            "--device",
            "cpu",
            "--engine",
            args.engine,
            "--max-reasoning-tokens",
            str(args.max_reasoning_tokens),
        )
        with serving(Path(tmp), *serve_args) as endpoint, Client(endpoint, timeout_s=120) as client:
            for i in range(args.runs + 1):  # the first run warms up
                t0 = time.perf_counter()
                result = client.suggest(args.instruction, views, scene)
                if i:
                    walls.append(time.perf_counter() - t0)
                    results.append(result)
    tokens = results[-1].tokens
    new_tokens = tokens.get("reasoning", 0) + tokens.get("answer", 0)
    baseline = plain_generate(args.model, views, scene, args.instruction, new_tokens, args.runs)
    wall = statistics.median(walls)
    timings = {k: round(statistics.median(r.timings.get(k, 0.0) for r in results), 3) for k in results[-1].timings}
    print(f"model {args.model}, engine {args.engine}, {len(views)} views, {args.runs} runs (median), CPU")
    print("| | seconds | tokens |\n|---|---:|---:|")
    print(f"| suggest, end to end (client -> server -> plan) | {wall:.3f} | {tokens} |")
    print(f"| baseline: plain generate, same prompt, {new_tokens} new tokens, no grammar | {baseline:.3f} | |")
    print(f"server timings (median): {timings}")
    print(json.dumps({"suggest_s": round(wall, 3), "generate_s": round(baseline, 3), "tokens": tokens,
                      "timings": timings, "engine": args.engine, "target_s": 2.0}))  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

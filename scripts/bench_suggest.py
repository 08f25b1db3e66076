"""A full suggest on this machine: the built-in model (or --model), the sample scene, 6 views.

End to end through real `evlm-server` processes and the client (the wire included), quiet and
beside what else runs on an artist's laptop: one core kept busy by a spinning process, or a
Blender capturing views (scripts/bench_capture.py in a loop). Each server is an engine and a
thread policy (`--servers ENGINE:THREADS,...`; THREADS `auto` or a count; the default compares
the auto policy with a fixed count of all cores, torch's own default).

The baseline is measured in the same run, interleaved with the suggests (one suggest per
server, then one baseline, and again), so a change of load hits both: the same model's plain
`generate` (no grammar, no stages) writing the same number of new tokens for the same prompt,
in this process, on `--baseline-threads` threads.

The goals it is held to (issue 19), printed with the figures and the load average:
- quiet: a suggest in at most 1.0 s;
- one other core busy: at most 1.5 times the quiet figure.

    .venv/bin/python scripts/bench_suggest.py [--model PATH] [--runs 5] [--beside quiet,busy,blender]
        [--servers auto:auto,auto:2,hf:auto] [--instruction "..."]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from contextlib import ExitStack, contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from evlm.client import Client, load_views  # noqa: E402
from evlm.scene import SceneGraph  # noqa: E402
from evlm_server.cli import BUILTIN_MODEL  # noqa: E402
from tests.server_process import serving  # noqa: E402

SAMPLE = ROOT / "examples" / "sample_scene"
BLENDER_PYTHON = ROOT / ".venv-blender" / "bin" / "python"
GOAL_QUIET_S, GOAL_BUSY_RATIO = 1.0, 1.5


def plain_generate(model_path: Path, views, scene: SceneGraph, instruction: str, threads: int):
    """A function timing `generate` forced to write n new tokens for the suggest's prompt."""
    import inspect
    import io

    import torch
    from PIL import Image
    from transformers import AutoModelForImageTextToText

    from evlm_server.engine.base import EngineRequest
    from evlm_server.engine.inputs import encode_request
    from evlm_server.engine.loaded import load_processor
    from evlm_server.engine.prompt import read_prompt_format

    processor = load_processor(model_path)
    model = AutoModelForImageTextToText.from_pretrained(model_path, dtype=torch.float32).eval()
    images = [Image.open(io.BytesIO(png)).convert("RGB") for _, png in views]
    request = EngineRequest(id="b", instruction=instruction, scene=scene, views=[v for v, _ in views], images=images)
    types = "mm_token_type_ids" in inspect.signature(model.forward).parameters
    prompt = encode_request(processor, request, read_prompt_format(model_path))
    inputs = prompt.model_inputs(torch.device("cpu"), mm_token_types=types)

    def run(new_tokens: int) -> float:
        torch.set_num_threads(threads)
        t0 = time.perf_counter()
        with torch.inference_mode():
            model.generate(**inputs, max_new_tokens=new_tokens, min_new_tokens=new_tokens, do_sample=False)
        return time.perf_counter() - t0

    return run


@contextmanager
def beside(condition: str):
    """Run the condition's load (nothing, a spinning process, a Blender capturing) meanwhile."""
    if condition == "quiet":
        yield
        return
    if condition == "busy":
        cmd = [sys.executable, "-c", "while True: pass"]
    elif condition == "blender":
        if not BLENDER_PYTHON.exists():
            raise SystemExit(f"error: --beside blender needs {BLENDER_PYTHON} (bash scripts/setup_blender.sh)")
        cmd = [str(BLENDER_PYTHON), str(ROOT / "scripts" / "bench_capture.py"), "--repeats", "100000"]
    else:
        raise SystemExit(f"error: unknown condition {condition!r}: quiet, busy or blender")
    load = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        time.sleep(3 if condition == "blender" else 0.5)  # let it get going (Blender loads the scene first)
        yield
    finally:
        load.kill()
        load.wait()


def parse_servers(text: str) -> list[tuple[str, str]]:
    out = []
    for item in text.split(","):
        engine, _, threads = item.partition(":")
        if engine not in ("auto", "hf", "fast") or not (threads == "auto" or threads.isdigit()):
            raise SystemExit(f"error: --servers {item!r}: want ENGINE:THREADS, ENGINE auto|hf|fast, THREADS auto|N")
        out.append((engine, threads))
    return out


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", type=Path, default=BUILTIN_MODEL)
    p.add_argument("--runs", type=int, default=5, help="timed suggests per server and condition (after a warm-up)")
    p.add_argument("--instruction", default="the ball bounces a bit too fast, slow it down")
    p.add_argument("--max-reasoning-tokens", type=int, default=384)
    p.add_argument("--beside", default="quiet,busy", help="conditions: quiet, busy (a core spinning), blender")
    cores = len(os.sched_getaffinity(0))
    p.add_argument("--servers", default=f"auto:auto,auto:{cores}", help="ENGINE:THREADS,... (default %(default)s)")
    p.add_argument("--baseline-threads", type=int, default=1, help="threads of the plain-generate baseline")
    args = p.parse_args()
    if args.runs < 1:
        p.error("--runs must be at least 1")
    servers = parse_servers(args.servers)
    conditions = args.beside.split(",")

    scene = SceneGraph.model_validate_json((SAMPLE / "scene.json").read_text())
    views = load_views(SAMPLE / "views")
    baseline = plain_generate(args.model, views, scene, args.instruction, args.baseline_threads)
    walls: dict[tuple[str, int], list[float]] = {}  # (condition, server index) -> seconds
    parts: dict[tuple[str, int], list[dict]] = {}  # the server's own timings of each suggest
    base: dict[str, list[float]] = {}
    loads: dict[str, tuple[float, float]] = {}
    tokens: dict = {}
    with tempfile.TemporaryDirectory() as tmp, ExitStack() as stack:
        clients = []
        for i, (engine, threads) in enumerate(servers):
            folder = Path(tmp) / str(i)
            folder.mkdir()
            serve_args = ("--model", str(args.model), "--device", "cpu", "--engine", engine, "--threads", threads,
                          "--max-reasoning-tokens", str(args.max_reasoning_tokens))  # fmt: skip
            endpoint = stack.enter_context(serving(folder, *serve_args))
            clients.append(stack.enter_context(Client(endpoint, timeout_s=300)))
        for condition in conditions:
            with beside(condition):
                before = os.getloadavg()[0]
                for run in range(args.runs + 1):  # the first round warms up
                    for i, client in enumerate(clients):
                        t0 = time.perf_counter()
                        result = client.suggest(args.instruction, views, scene)
                        if run:
                            walls.setdefault((condition, i), []).append(time.perf_counter() - t0)
                            parts.setdefault((condition, i), []).append(result.timings)
                        tokens = result.tokens
                    new = tokens.get("reasoning", 0) + tokens.get("answer", 0) - tokens.get("forced", 0)
                    seconds = baseline(new)
                    if run:
                        base.setdefault(condition, []).append(seconds)
                loads[condition] = (before, os.getloadavg()[0])

    def med(xs: list[float]) -> float:
        return statistics.median(xs)

    names = [f"{e}, threads {t}" for e, t in servers]
    print(f"model {args.model.name}, {len(views)} views, {args.runs} runs (median, s), {cores} cores, CPU; "
          f"baseline: plain generate of the same {new} new tokens, {args.baseline_threads} thread(s)")  # fmt: skip
    print("| beside | load avg (1 min, before/after) | " + " | ".join(names) + " | baseline generate |")
    print("|---|---|" + "---:|" * (len(names) + 1))
    for c in conditions:
        cells = [f"{med(walls[(c, i)]):.3f}" for i in range(len(servers))]
        print(f"| {c} | {loads[c][0]:.1f} / {loads[c][1]:.1f} | " + " | ".join(cells) + f" | {med(base[c]):.3f} |")
    for c in conditions:
        for i, name in enumerate(names):
            t = {k: round(med([p[k] for p in parts[(c, i)] if k in p]), 3) for k in parts[(c, i)][0]}
            print(f"server timings (median), {c}, {name}: {t}")
    figures = {"tokens": tokens, "conditions": {}}
    for i, name in enumerate(names):
        quiet = med(walls[("quiet", i)]) if "quiet" in conditions else None
        if quiet is not None:
            verdict = "met" if quiet <= GOAL_QUIET_S else "NOT met"
            print(f"goal: {name}, quiet: {quiet:.3f} s <= {GOAL_QUIET_S} s: {verdict}")
        for c in conditions:
            if c != "quiet" and quiet is not None:
                ratio = med(walls[(c, i)]) / quiet
                verdict = "met" if ratio <= GOAL_BUSY_RATIO else "NOT met"
                print(f"goal: {name}, beside {c}: {ratio:.2f}x the quiet figure <= {GOAL_BUSY_RATIO}x: {verdict}")
    for c in conditions:
        figures["conditions"][c] = {
            "load": loads[c],
            "baseline_s": round(med(base[c]), 3),
            **{name: round(med(walls[(c, i)]), 3) for i, name in enumerate(names)},
        }
    print(json.dumps({**figures, "goal_quiet_s": GOAL_QUIET_S, "goal_busy_ratio": GOAL_BUSY_RATIO}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

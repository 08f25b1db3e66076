"""Throughput of evlm-synth at the built-in model's recipe settings, with the machine's load.

    .venv/bin/python scripts/bench_synth.py [--n 300] [--workers N] [--against REV] [--views 3 --size 64 --frames 3]

Writes N examples (4 records each) to a temporary folder with one worker and with --workers
(default: every CPU), the same seed, each run `evlm-synth` in a fresh process, and prints
examples/s, the projected time for 30,000 examples, and the load average before and after each
run (this machine is shared: the load says how far a figure can be trusted). `--against REV` is
the same-run baseline: the generator of git revision REV (its `evlm/` and `training/`, checked
out into a temporary folder) runs the same settings right after each of ours. Then the stages of one worker on the same examples are
timed (scene building, rendering, the rest: tasks, scoring, checks, PNG writing), which says
where the time goes. The target (issue 14): 30,000 examples in under 30 minutes on the project's
2-core machine, about 17 examples/s.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

TARGET = 30_000
TARGET_MINUTES = 30.0


def _load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def _run(source: Path, n: int, workers: int, views: int, size: int, frames: int, seed: int) -> float:
    """Seconds for the evlm-synth of `source` (a folder holding evlm/ and training/) to write the
    examples, in a fresh process, as `evlm-synth` runs (a process without a GL context forks its
    workers; one that has rendered must spawn them)."""
    out = Path(tempfile.mkdtemp(prefix="bench_synth_"))
    try:
        env = {**os.environ, "PYTHONPATH": str(source)}
        cmd = [sys.executable, "-m", "training.synth.cli", "--n", str(n), "--out", str(out / "d"), "--seed", str(seed),
               "--workers", str(workers), "--views", str(views), "--size", str(size), "--frames", str(frames), "--quiet"]  # fmt: skip
        start = time.perf_counter()
        subprocess.run(cmd, check=True, cwd=source, env=env, capture_output=True)
        return time.perf_counter() - start
    finally:
        shutil.rmtree(out, ignore_errors=True)


def _checkout(rev: str) -> Path:
    """Revision `rev`'s evlm/ and training/ in a temporary folder."""
    tmp = Path(tempfile.mkdtemp(prefix="bench_synth_rev_"))
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", rev, "evlm", "training"], check=True,
                             capture_output=True).stdout  # fmt: skip
    subprocess.run(["tar", "-x", "-C", str(tmp)], input=archive, check=True)
    return tmp


def _stages(n: int, views: int, size: int, frames: int, seed: int) -> dict[str, float]:
    """Seconds per stage over n examples in this process (one worker)."""
    from training.synth import render, scenes
    from training.synth.generate import Config, _init_worker, _work

    spent = {"scene": 0.0, "render": 0.0}
    build, views_fn = scenes.build_scene, render.render_views

    def timed(key, fn):  # noqa: ANN001, ANN202
        def wrapper(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
            t0 = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                spent[key] += time.perf_counter() - t0

        return wrapper

    import training.synth.generate as generate

    out = Path(tempfile.mkdtemp(prefix="bench_synth_"))
    generate.build_scene, generate.render.render_views = timed("scene", build), timed("render", views_fn)
    try:
        _init_worker(Config(n=n, out=out, seed=seed, views=views, size=size, frames=frames))
        start = time.perf_counter()
        for i in range(n):
            _work(i)
        total = time.perf_counter() - start
    finally:
        generate.build_scene, generate.render.render_views = build, views_fn
        shutil.rmtree(out, ignore_errors=True)
    return {"total": total, "scene": spent["scene"], "render": spent["render"],
            "rest": total - spent["scene"] - spent["render"]}  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=300, help="examples per run (default 300)")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1, help="processes (default: every CPU)")
    parser.add_argument("--views", type=int, default=3)
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--frames", type=int, default=3)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--against", metavar="REV", help="git revision whose generator is the same-run baseline")
    args = parser.parse_args(argv)
    if args.n < 1 or args.workers < 1:
        print("error: --n and --workers must be at least 1", file=sys.stderr)
        return 2
    if args.against:
        found = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--verify", "--quiet", f"{args.against}^{{commit}}"],
                               capture_output=True)  # fmt: skip
        if found.returncode != 0:
            print(f"error: --against {args.against!r} is not a commit of this repository", file=sys.stderr)
            return 2
    os.environ.setdefault("PYOPENGL_PLATFORM", "osmesa")
    print(f"evlm-synth, {args.n} examples, {args.views} views of {args.size} px, {args.frames} frames; "
          f"{os.cpu_count()} CPUs")  # fmt: skip
    sources = {"this checkout": ROOT}
    if args.against:
        sources[args.against] = _checkout(args.against)
    rows = []
    try:
        for workers in dict.fromkeys([1, args.workers]):
            for name, source in sources.items():
                before = _load()
                seconds = _run(source, args.n, workers, args.views, args.size, args.frames, args.seed)
                rows.append((name, workers, seconds, args.n / seconds, before, _load()))
    finally:
        for source in sources.values():
            if source != ROOT:
                shutil.rmtree(source, ignore_errors=True)
    print("| generator | workers | seconds | examples/s | 30,000 examples | load before | load after |")
    print("|---|---:|---:|---:|---:|---|---|")
    for name, workers, seconds, rate, before, after in rows:
        print(
            f"| {name} | {workers} | {seconds:.1f} | {rate:.1f} | {TARGET / rate / 60:.1f} min | {before} | {after} |"
        )
    best = max(r[3] for r in rows if r[0] == "this checkout")
    verdict = "met" if TARGET / best / 60 < TARGET_MINUTES else "NOT met"
    print(f"target: {TARGET:,} examples in under {TARGET_MINUTES:.0f} min ({TARGET / TARGET_MINUTES / 60:.1f} examples/s): "
          f"{verdict} ({TARGET / best / 60:.1f} min)")  # fmt: skip
    st = _stages(min(args.n, 100), args.views, args.size, args.frames, args.seed)
    print(f"one worker, {min(args.n, 100)} examples: scene building {st['scene'] / st['total']:.0%}, rendering "
          f"{st['render'] / st['total']:.0%}, the rest (tasks, scores, checks, PNGs) {st['rest'] / st['total']:.0%} "
          f"of {st['total']:.1f} s (load {_load()})")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())

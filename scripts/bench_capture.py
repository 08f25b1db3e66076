"""Time the add-on's capture (blender_addon.capture) in real Blender, next to a same-run baseline.

Run with the Blender Python, not the project's venv:

    .venv-blender/bin/python scripts/bench_capture.py
    .venv-blender/bin/python scripts/bench_capture.py --repeats 5 --out /tmp/views   # also save the images

On the built-in sample scene (a living-room corner with a bouncing ball, frames 1-48), warm (after
one capture in the process), median of the runs, the three ways interleaved run by run:

- `baseline`: the capture of `--baseline REV` (default: the commit before the ID pass, colours,
  Simplify and the step-by-step capture), loaded from git into this process;
- `capture()`: the capture now, in one go (headless and batch);
- `steps`: the same capture a step at a time as the add-on's timer takes it (the scene borrowed and
  restored around every step), with the longest step: how long Blender goes without a redraw.

Cases: a still capture (V views at R x R) and an animation capture (V views x F frames). Then the
first capture in a fresh process (Blender's render start-up), with an empty OpenGL shader cache
(`MESA_SHADER_CACHE_DIR`: a fresh machine) and a filled one, for the baseline, the capture now,
and the capture now after the add-on's start-up warm-up (its own time shown apart).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "examples" / "sample_scene" / "scene.blend"
BASELINE = "0d08d42"  # main before this capture work


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--blend", type=Path, default=SAMPLE, help="scene to capture (default: the sample scene)")
    parser.add_argument("--views", type=int, default=6, help="orbit views per frame (default 6)")
    parser.add_argument("--resolution", type=int, default=384, help="view size in pixels (default 384)")
    parser.add_argument("--frames", type=int, default=8, help="frames of the animation capture (default 8)")
    parser.add_argument("--repeats", type=int, default=3, help="timed runs per case, after one warm-up (default 3)")
    parser.add_argument(
        "--baseline", default=BASELINE, help=f"git revision to compare with (default {BASELINE}; 'none')"
    )
    parser.add_argument("--no-cold", action="store_true", help="skip the fresh-process (cold) measurements")
    parser.add_argument("--out", type=Path, help="also write the last run's images and view JSON here")
    parser.add_argument("--cold", choices=["baseline", "now", "warm-up"], help=argparse.SUPPRESS)  # child process
    args = parser.parse_args(argv)
    if args.repeats < 1:
        parser.error("--repeats must be at least 1")
    if not args.blend.is_file():
        parser.error(f"--blend {args.blend}: no such file")
    return args


def load_baseline(rev: str) -> object:
    """blender_addon/capture.py as it was at `rev`, as a module of its own."""
    try:
        source = subprocess.run(["git", "show", f"{rev}:blender_addon/capture.py"], cwd=ROOT, check=True,
                                capture_output=True, text=True).stdout  # fmt: skip
    except (OSError, subprocess.CalledProcessError) as e:
        raise SystemExit(f"error: cannot read blender_addon/capture.py at {rev}: {e}") from None
    path = Path(tempfile.mkdtemp(prefix="evlm-bench-")) / "baseline_capture.py"
    path.write_text(source)
    spec = importlib.util.spec_from_file_location("baseline_capture", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def settings_for(module: object, args: argparse.Namespace, frames: int) -> object:
    return module.CaptureSettings(views=args.views, resolution=args.resolution, frames=frames)


def stepped(capture_mod: object, scene: object, settings: object) -> tuple[float, float, object]:
    """The capture as the add-on's timer takes it: (total s, longest step s, result)."""
    start, longest = time.perf_counter(), 0.0
    run = capture_mod.CaptureRun(scene, settings)
    while True:
        t0 = time.perf_counter()
        finished = run.step()
        longest = max(longest, time.perf_counter() - t0)
        if finished:
            return time.perf_counter() - start, longest, run.result()


def cold(args: argparse.Namespace) -> int:
    """Child process: the first capture of a fresh process, as JSON on stdout's last line."""
    import bpy

    sys.path.insert(0, str(ROOT))
    bpy.ops.wm.open_mainfile(filepath=str(args.blend))
    out = {}
    if args.cold == "baseline":
        module = load_baseline(args.baseline)
    else:
        from blender_addon import capture as module

        if args.cold == "warm-up":
            out["warm_up_s"] = module.warm_up()
    t0 = time.perf_counter()
    module.capture(bpy.context.scene, settings_for(module, args, 1))
    out["first_s"] = time.perf_counter() - t0
    print(json.dumps(out))
    return 0


def cold_runs(args: argparse.Namespace) -> list[tuple[str, str, dict]]:
    kinds = (["baseline"] if args.baseline != "none" else []) + ["now", "warm-up"]
    rows = []
    cache = Path(tempfile.mkdtemp(prefix="evlm-bench-mesa-"))
    for label, fresh in (("empty shader cache", True), ("filled shader cache", False)):
        for kind in kinds:
            folder = Path(tempfile.mkdtemp(prefix="evlm-bench-mesa-")) if fresh else cache
            if not fresh and not any(cache.iterdir()):  # fill it once, untimed
                run_child(args, "now", cache)
            cmd_args = [sys.executable, __file__, "--cold", kind, "--blend", str(args.blend), "--baseline",
                        args.baseline, "--views", str(args.views), "--resolution", str(args.resolution)]  # fmt: skip
            t0 = time.perf_counter()
            result = run_child(args, kind, folder, cmd_args)
            result["process_s"] = time.perf_counter() - t0
            rows.append((label, kind, result))
    return rows


def run_child(args: argparse.Namespace, kind: str, cache: Path, cmd: list[str] | None = None) -> dict:
    cmd = cmd or [sys.executable, __file__, "--cold", kind, "--blend", str(args.blend), "--baseline", args.baseline]
    env = {**os.environ, "MESA_SHADER_CACHE_DIR": str(cache)}
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=600)
    if proc.returncode != 0:
        raise SystemExit(f"error: the {kind} child failed:\n{proc.stderr[-2000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def table(header: tuple, rows: list[tuple]) -> None:
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    for i, r in enumerate([header, *rows]):
        print("| " + " | ".join(str(c).ljust(w) for c, w in zip(r, widths, strict=True)) + " |")
        if i == 0:
            print("|" + "|".join("-" * (w + 2) for w in widths) + "|")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        import bpy
    except ImportError:
        print("error: needs bpy: run with .venv-blender/bin/python", file=sys.stderr)
        return 2
    if args.cold:
        return cold(args)
    sys.path.insert(0, str(ROOT))  # blender_addon from the source tree
    from blender_addon import capture as now

    baseline = load_baseline(args.baseline) if args.baseline != "none" else None
    try:
        for module in [now] + ([baseline] if baseline else []):
            settings_for(module, args, args.frames)
    except ValueError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    bpy.ops.wm.open_mainfile(filepath=str(args.blend))
    scene = bpy.context.scene
    load = os.getloadavg()[0]
    now.capture(scene, settings_for(now, args, 1))  # warm-up: Blender starts its render machinery once per process
    if baseline:
        baseline.capture(scene, settings_for(baseline, args, 1))

    rows, last = [], None
    for case, frames in (("still", 1), ("animation", args.frames)):
        times: dict[str, list[float]] = {"baseline": [], "capture()": [], "steps": []}
        longest, parts = [], []
        for _ in range(args.repeats):
            if baseline:
                t0 = time.perf_counter()
                baseline.capture(scene, settings_for(baseline, args, frames))
                times["baseline"].append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            last = now.capture(scene, settings_for(now, args, frames))
            times["capture()"].append(time.perf_counter() - t0)
            parts.append(last.timings)
            total, step, _ = stepped(now, scene, settings_for(now, args, frames))
            times["steps"].append(total)
            longest.append(step)
        images = len(last.views)
        for way, values in times.items():
            if not values:
                continue
            total = statistics.median(values)
            detail = ""
            if way == "capture()":
                detail = ", ".join(
                    f"{k} {statistics.median(p[k] for p in parts):.2f}" for k in ("render", "ids", "marks", "encode")
                )
            if way == "steps":
                detail = f"longest step {1000 * statistics.median(longest):.0f} ms"
            ratio = f"{total / statistics.median(times['baseline']):.2f}x" if times["baseline"] else ""
            rows.append((f"{case}: {args.views} views x {frames} frames", way, images, f"{total:.2f}",
                         f"{1000 * total / images:.0f}", ratio, detail))  # fmt: skip

    print(f"scene: {args.blend.name}; Workbench, {args.resolution}x{args.resolution}; baseline {args.baseline}")
    print(f"load average at start {load:.2f}, at end {os.getloadavg()[0]:.2f} ({os.cpu_count()} CPUs)")
    print(f"medians of {args.repeats} interleaved runs, warm:")
    table(("case", "way", "images", "total s", "per image ms", "vs baseline", "seconds in (capture())"), rows)
    if not args.no_cold:
        print("\nfirst capture in a fresh process (still case):")
        cold_rows = [
            (label, kind, f"{r['first_s']:.2f}", f"{r['warm_up_s']:.2f}" if "warm_up_s" in r else "", f"{r['process_s']:.1f}")
            for label, kind, r in cold_runs(args)
        ]  # fmt: skip
        table(("OpenGL shader cache", "capture", "first capture s", "warm-up at add-on start s", "whole process s"),
              cold_rows)  # fmt: skip
        print(f"load average at end {os.getloadavg()[0]:.2f}")

    if args.out is not None and last is not None:
        args.out.mkdir(parents=True, exist_ok=True)
        for i, (view, blob) in enumerate(last.views):
            (args.out / f"view_{i}.png").write_bytes(blob)
            (args.out / f"view_{i}.json").write_text(view.model_dump_json(indent=1))
        (args.out / "scene.json").write_text(json.dumps(last.scene.model_dump(), indent=1))
        print(f"wrote {len(last.views)} views to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

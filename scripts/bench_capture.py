"""Time the add-on's capture (blender_addon.capture) in real Blender: scene graph and renders.

Run with the Blender Python, not the project's venv:

    .venv-blender/bin/python scripts/bench_capture.py
    .venv-blender/bin/python scripts/bench_capture.py --repeats 5 --out /tmp/views   # also save the images

Two cases on the built-in sample scene (a living-room corner with a bouncing ball, frames 1-48):
a still capture (V views at R x R, the current frame) and an animation capture (V views x F
frames). Scene-graph extraction is timed on its own. The first capture of a process also pays
Blender's one-time render start-up; it is reported apart and left out of the medians.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "examples" / "sample_scene" / "scene.blend"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--blend", type=Path, default=SAMPLE, help="scene to capture (default: the sample scene)")
    parser.add_argument("--views", type=int, default=6, help="orbit views per frame (default 6)")
    parser.add_argument("--resolution", type=int, default=384, help="view size in pixels (default 384)")
    parser.add_argument("--frames", type=int, default=8, help="frames of the animation capture (default 8)")
    parser.add_argument("--engine", default="BLENDER_WORKBENCH", help="render engine (default BLENDER_WORKBENCH)")
    parser.add_argument("--repeats", type=int, default=3, help="timed runs per case, after one warm-up (default 3)")
    parser.add_argument("--no-marks", action="store_true", help="do not draw set-of-marks labels")
    parser.add_argument("--out", type=Path, help="also write the last run's images and view JSON here")
    args = parser.parse_args(argv)
    if args.repeats < 1:
        parser.error("--repeats must be at least 1")
    if not args.blend.is_file():
        parser.error(f"--blend {args.blend}: no such file")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        import bpy
    except ImportError:
        print("error: needs bpy: run with .venv-blender/bin/python", file=sys.stderr)
        return 2
    sys.path.insert(0, str(ROOT))  # blender_addon from the source tree
    from blender_addon.capture import CaptureSettings, capture, extract_scene_graph

    try:
        still = CaptureSettings(
            views=args.views, resolution=args.resolution, engine=args.engine, marks=not args.no_marks
        )
        animation = CaptureSettings(
            views=args.views,
            resolution=args.resolution,
            engine=args.engine,
            frames=args.frames,
            marks=not args.no_marks,
        )
    except ValueError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    bpy.ops.wm.open_mainfile(filepath=str(args.blend))
    scene = bpy.context.scene

    graph_times = []
    for _ in range(max(5, args.repeats)):
        t0 = time.perf_counter()
        graph = extract_scene_graph(scene)
        graph_times.append(time.perf_counter() - t0)

    t0 = time.perf_counter()
    capture(scene, still)  # warm-up: Blender starts its render machinery once per process
    cold = time.perf_counter() - t0

    rows, last = [], None
    for name, settings in (("still", still), ("animation", animation)):
        runs = []
        for _ in range(args.repeats):
            last = capture(scene, settings)
            runs.append(last)
        images = len(last.views)
        total = statistics.median(r.timings["total"] for r in runs)
        rows.append(
            {
                "case": f"{name}: {settings.views} views x {len({v.frame for v, _ in last.views})} frames",
                "images": images,
                "total_s": total,
                "per_image_ms": 1000 * total / images,
                "render_s": statistics.median(r.timings["render"] for r in runs),
                "encode_s": statistics.median(r.timings["encode"] for r in runs),
                "graph_ms": 1000 * statistics.median(r.timings["scene_graph"] for r in runs),
                "png_kb": sum(len(b) for _, b in last.views) / 1024 / images,
            }
        )

    print(f"scene: {args.blend.name}, {len(graph.objects)} objects; {args.engine}, {args.resolution}x{args.resolution}")
    print(f"scene graph extraction alone: median {1000 * statistics.median(graph_times):.2f} ms")
    print(f"first capture in this process (render start-up included): {cold:.2f} s")
    print(f"medians of {args.repeats} runs:")
    header = ("case", "images", "total s", "per image ms", "render s", "encode s", "graph ms", "PNG KiB/image")
    keys = ("case", "images", "total_s", "per_image_ms", "render_s", "encode_s", "graph_ms", "png_kb")
    table = [header] + [
        tuple(row[k] if isinstance(row[k], str | int) else f"{row[k]:.2f}" for k in keys) for row in rows
    ]
    widths = [max(len(str(r[i])) for r in table) for i in range(len(header))]
    for i, r in enumerate(table):
        print("| " + " | ".join(str(c).ljust(w) for c, w in zip(r, widths, strict=True)) + " |")
        if i == 0:
            print("|" + "|".join("-" * (w + 2) for w in widths) + "|")

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

"""One .blend through real Blender, in its own process: `python-with-bpy -m evlm_batch.blend_worker ...`.

The batch tool starts one of these per .blend (a crash on a corrupt file takes down this process,
not the batch). It opens the file with the add-on's `headless.open_blend`, then hands over to
`blender_addon.headless.run` (capture, request, the best applicable suggestion applied with the
add-on's apply code, a copy saved, never over the input). With --apply-best it also keeps views
before the edit and renders them again after it, for the contact sheet: the request's views, or,
when the applied suggestion edits the animation, the same camera at TIMELINE_FRAMES frames across
the frame range (one frame would show a retimed bounce unchanged). It writes one JSON file, a
`records.BlendWorkerResult`. Exit status: 0 done, 2 failed (the JSON says why).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path
from typing import Any

from evlm_batch.records import BlendWorkerResult, JobErrorInfo, SavedView

# The ops that change keyframes or the frame range: their effect shows across time, not in a frame.
ANIMATION_OPS = frozenset(
    {"retime", "shift_keys", "scale_amplitude", "set_interpolation", "insert_keyframe", "delete_keyframe",
     "set_frame_range"}
)  # fmt: skip
TIMELINE_FRAMES = 5


def edits_animation(suggestion: Any) -> bool:
    return any(op.op in ANIMATION_OPS for op in suggestion.ops)


def _write_json(path: Path, result: BlendWorkerResult) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(result.model_dump_json() + "\n")
    os.replace(tmp, path)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m evlm_batch.blend_worker", description=__doc__.splitlines()[0])
    parser.add_argument("--blend", type=Path, required=True)
    parser.add_argument("--instruction", required=True)
    parser.add_argument("--endpoint", required=True)
    parser.add_argument("--out-dir", type=Path, required=True, help="this job's output folder")
    parser.add_argument("--json", type=Path, required=True, help="where to write the result")
    parser.add_argument("--views", type=int, default=6)
    parser.add_argument("--size", type=int, default=384)
    parser.add_argument("--timeout", type=float, default=120.0)
    parser.add_argument("--max-suggestions", type=int, default=3)
    parser.add_argument("--apply-best", action="store_true")
    parser.add_argument("--server-key", type=Path, help="CURVE: the server's public key file")
    parser.add_argument("--client-key", type=Path, help="CURVE: this client's secret key file")
    args = parser.parse_args(argv)
    args.out_dir.mkdir(parents=True, exist_ok=True)

    def fail(code: str, message: str) -> int:
        _write_json(args.json, BlendWorkerResult(error=JobErrorInfo(code=code, message=message)))
        return 2

    t0 = time.perf_counter()
    try:
        import bpy
    except ImportError as e:
        return fail("no_blender", f"this Python has no bpy module ({e}): point --blender-python at one that has")
    from blender_addon import capture as capture_mod
    from blender_addon import headless
    from blender_addon.apply import ApplyError
    from evlm.client import CurveKeys, RequestTimeout, ServerError
    from evlm.edits import PlanError

    if not args.blend.is_file():
        return fail("missing_file", f"{args.blend}: no such file")
    try:
        headless.open_blend(args.blend)
    except ValueError as e:  # a corrupt or foreign file
        return fail("unreadable", str(e))
    t_open = time.perf_counter() - t0

    def timeline(scene: Any) -> list[tuple[Any, bytes]]:
        """The scene camera (else one orbit view) at TIMELINE_FRAMES frames across the range, no marks."""
        camera = scene.camera is not None
        frames = max(1, min(TIMELINE_FRAMES, scene.frame_end - scene.frame_start + 1))
        settings = capture_mod.CaptureSettings(
            views=0 if camera else 1, include_active_camera=camera, frames=frames, resolution=args.size, marks=False
        )
        return capture_mod.capture(scene, settings).views

    before: list[tuple[Any, bytes]] = []
    timeline_before: list[tuple[Any, bytes]] = []

    def before_apply(scene: Any, suggestion: Any) -> None:
        if edits_animation(suggestion):
            timeline_before.extend(timeline(scene))

    try:
        settings = capture_mod.CaptureSettings(views=args.views, resolution=args.size)
        t1 = time.perf_counter()
        out = headless.run(
            args.instruction, args.endpoint, settings, apply_best=args.apply_best,
            save_as=args.out_dir / "edited.blend" if args.apply_best else None, timeout=args.timeout,
            max_suggestions=args.max_suggestions, on_capture=lambda c: before.extend(c.views),
            before_apply=before_apply,
            curve=CurveKeys(args.server_key, args.client_key) if args.server_key else None,
        )  # fmt: skip
        t_run = time.perf_counter() - t1
        after: list[tuple[Any, bytes]] = []
        t2 = time.perf_counter()
        if out.applied:
            scene = bpy.context.scene
            if timeline_before:
                before, after = timeline_before, timeline(scene)
            else:
                after = capture_mod.capture(scene, settings).views
        t_after = time.perf_counter() - t2
    except ServerError as e:
        return fail(e.code, e.message)
    except RequestTimeout as e:
        return fail("timeout", str(e))
    except PlanError as e:
        return fail("bad_plan", str(e))
    except ApplyError as e:
        return fail("apply_failed", str(e))
    except ValueError as e:  # e.g. nothing visible to frame
        return fail("capture_failed", str(e))
    except Exception as e:  # anything else this file provokes: reported, not a crash
        return fail("internal", f"{type(e).__name__}: {e}")

    def saved(views: list[tuple[Any, bytes]], prefix: str) -> list[SavedView]:
        paths = headless.write_views(views, args.out_dir, prefix)
        return [SavedView(path=str(p), frame=view.frame) for p, (view, _) in zip(paths, views, strict=True)]

    capture_s = out.timings.get("capture", 0.0)
    result = BlendWorkerResult(
        result=out,
        before=saved(before, "before") if after else [],
        after=saved(after, "after"),
        timeline=bool(after and timeline_before),
        timings={
            "open": round(t_open, 4),
            "capture": capture_s,
            "suggest": round(t_run - capture_s, 4),  # the request, plus run()'s apply and save (data API: ms)
            "apply": round(t_after, 4),  # the views after the edit (and before it, across time)
        },
    )
    _write_json(args.json, result)
    return 0


if __name__ == "__main__":
    sys.exit(main())

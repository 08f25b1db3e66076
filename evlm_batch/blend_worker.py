"""One .blend through real Blender, in its own process: `python-with-bpy -m evlm_batch.blend_worker ...`.

The batch tool starts one of these per .blend (a crash on a corrupt file takes down this process,
not the batch). It opens the file, then hands over to the add-on's headless entry point
(`blender_addon.headless.run`: capture, request, the best applicable suggestion applied with the
add-on's apply code, a copy saved, never over the input); with --apply-best it also keeps the views
before the edit and renders them again after it, for the contact sheet. It writes one JSON file:
run()'s result plus `before`/`after` (PNG paths) and `timings`, or `{"error": {code, message}}`.
Exit status: 0 done, 2 failed (the JSON says why).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Any


def _write_json(path: Path, data: dict[str, Any]) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(data) + "\n")
    os.replace(tmp, path)


def _save_views(folder: Path, prefix: str, views: list[tuple[Any, bytes]]) -> list[str]:
    paths = []
    for i, (_, png) in enumerate(views):
        path = folder / f"{prefix}_{i}.png"
        tmp = path.with_name(f".{path.name}.tmp")
        tmp.write_bytes(png)
        os.replace(tmp, path)
        paths.append(str(path))
    return paths


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
        _write_json(args.json, {"error": {"code": code, "message": message}})
        return 2

    t0 = time.perf_counter()
    try:
        import bpy
    except ImportError as e:
        return fail("no_blender", f"this Python has no bpy module ({e}): point --blender-python at one that has")
    from evlm.client import CurveKeys, RequestTimeout, ServerError
    from evlm.edits import PlanError

    if not args.blend.is_file():
        return fail("missing_file", f"{args.blend}: no such file")
    try:
        bpy.ops.wm.open_mainfile(filepath=str(args.blend), load_ui=False)
    except RuntimeError as e:  # a corrupt or foreign file
        return fail("unreadable", f"{args.blend.name}: {str(e).strip().splitlines()[-1] if str(e).strip() else e}")
    t_open = time.perf_counter() - t0

    from blender_addon import capture as capture_mod
    from blender_addon import headless
    from blender_addon.apply import ApplyError

    before: list[tuple[Any, bytes]] = []
    try:
        settings = capture_mod.CaptureSettings(views=args.views, resolution=args.size)
        t1 = time.perf_counter()
        out = headless.run(
            args.instruction, args.endpoint, settings, apply_best=args.apply_best,
            save_as=args.out_dir / "edited.blend" if args.apply_best else None, timeout=args.timeout,
            max_suggestions=args.max_suggestions, on_capture=lambda c: before.extend(c.views),
            curve=CurveKeys(args.server_key, args.client_key) if args.server_key else None,
        )  # fmt: skip
        t_run = time.perf_counter() - t1
        after: list[tuple[Any, bytes]] = []
        t2 = time.perf_counter()
        if out["applied"]:
            after = capture_mod.capture(bpy.context.scene, settings).views
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
    out["before"] = _save_views(args.out_dir, "before", before) if after else []
    out["after"] = _save_views(args.out_dir, "after", after)
    capture_s = out["timings"].get("capture", 0.0)
    out["timings"] = {
        "open": round(t_open, 4),
        "capture": capture_s,
        "suggest": round(t_run - capture_s, 4),  # the request, plus run()'s apply and save (data API: ms)
        "apply": round(t_after, 4),  # the views after the edit
        "server": out["timings"],
    }
    _write_json(args.json, out)
    return 0


if __name__ == "__main__":
    sys.exit(main())

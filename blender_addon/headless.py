"""Headless EVLM: capture the open scene, ask the server, optionally apply the best suggestion.

From a shell (Blender in background mode; the arguments after `--` are this script's):

    blender -b scene.blend --python blender_addon/headless.py -- --instruction "make it cozier" \
        [--endpoint tcp://127.0.0.1:5555] [--apply-best --save-as OUT.blend] [--json OUT.json]

With a Python that has `bpy` as a module, `--blend scene.blend` opens the file first. The
input file is never written: the result is saved as a copy (`save_as_mainfile(copy=True)`).
Batch processing reuses `open_blend()` and `run()`. Exit status: 0 done, 2 bad input (a missing or
unreadable .blend among it) or a failed request; the message says which.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

import bpy

from evlm.cliargs import add_client_args, add_version, curve_keys
from evlm.edits import MAX_SUGGESTIONS
from evlm.headless_result import AppliedSuggestion, HeadlessResult
from evlm.protocol import DEFAULT_ENDPOINT

if __package__:  # imported as part of the add-on (an extension, or the source tree)
    _PACKAGE = __package__
else:  # run by `blender --python .../headless.py`: import the add-on package from its folder
    _here = Path(__file__).resolve().parent
    sys.path.insert(0, str(_here.parent))
    _PACKAGE = _here.name


def _addon(name: str) -> Any:
    return importlib.import_module(f"{_PACKAGE}.{name}")


def open_blend(path: str | os.PathLike) -> None:
    """Open a .blend file; ValueError with Blender's reason if it is missing or cannot be read
    (a truncated or corrupt file, or not a .blend at all), instead of bpy's RuntimeError."""
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"{path}: no such file")
    try:
        bpy.ops.wm.open_mainfile(filepath=str(path), load_ui=False)
    except RuntimeError as e:
        lines = str(e).strip().splitlines()
        reason = lines[-1].removeprefix("Error: ").strip() if lines else type(e).__name__
        raise ValueError(f"{path.name}: not a readable .blend file ({reason})") from None


def run(
    instruction: str,
    endpoint: str = DEFAULT_ENDPOINT,
    settings: Any = None,
    apply_best: bool = False,
    save_as: str | os.PathLike | None = None,
    timeout: float = 120.0,
    *,
    curve: Any = None,
    max_suggestions: int = 3,
    references: list[bytes] = (),
    scene: bpy.types.Scene | None = None,
    on_capture: Any = None,
    before_apply: Any = None,
) -> HeadlessResult:
    """Suggestions for the current scene; with `apply_best`, the most confident one that applies.

    Returns a HeadlessResult (evlm/headless_result.py): `not_applied` says why nothing was
    applied when asked to apply and no suggestion changes the scene and passes the apply checks.
    Raises ValueError on bad input, evlm.client.ServerError / RequestTimeout when the request
    fails, and the apply module's ApplyError if applying fails (the scene restored).
    `on_capture(capture)`, if given, sees the capture (views and scene graph) before the request:
    batch processing keeps the views for its before/after contact sheets. `before_apply(scene,
    suggestion)`, if given, runs just before the chosen suggestion is applied (batch processing
    renders the animation across time there when the suggestion edits it).
    """
    from evlm.client import Client
    from evlm.edits import validate_plan
    from evlm.session import best_index

    if not isinstance(instruction, str) or not instruction.strip():
        raise ValueError("the instruction is empty: say what to change")
    if not isinstance(timeout, int | float) or timeout <= 0:
        raise ValueError(f"timeout must be a positive number of seconds, got {timeout!r}")
    if save_as is not None and not apply_best:
        raise ValueError("save_as saves the applied edit: use it with apply_best")
    out_path = _check_save_as(save_as) if save_as is not None else None
    capture_mod = _addon("capture")
    apply_mod = _addon("apply") if apply_best else None
    scene = scene or bpy.context.scene
    settings = settings if settings is not None else capture_mod.CaptureSettings()

    t0 = time.perf_counter()
    captured = capture_mod.capture(scene, settings)
    t_capture = time.perf_counter() - t0
    if on_capture is not None:
        on_capture(captured)
    with Client(endpoint, timeout_s=timeout, curve=curve) as client:
        result = client.suggest(
            instruction.strip(), captured.views, captured.scene, references=list(references),
            max_suggestions=max_suggestions,
        )  # fmt: skip
    plan = validate_plan(result.plan, captured.scene)  # trust nothing not checked here

    def usable(suggestion: Any) -> bool:
        """It changes the scene (not only a generative hand-off) and applies to it as it is now."""
        if all(op.op == "generative_edit" for op in suggestion.ops):
            return False
        try:
            apply_mod.check_suggestion(scene, suggestion)
        except apply_mod.ApplyError:
            return False
        return True

    best = best_index(plan, usable if apply_best else None)
    out = HeadlessResult(
        file=bpy.data.filepath or None, instruction=instruction.strip(), endpoint=endpoint,
        reasoning=result.reasoning, plan=plan, best=best,
        timings={"capture": round(t_capture, 4), **result.timings}, tokens=dict(result.tokens),
    )  # fmt: skip
    if not apply_best:
        return out
    if best is None:  # nothing is saved either: the copy would equal the input
        out.not_applied = (
            f"none of the {len(plan.suggestions)} suggestions changes this scene and applies to it as it is"
        )
        return out
    if before_apply is not None:
        before_apply(scene, plan.suggestions[best])
    report = apply_mod.apply_suggestion(scene, plan.suggestions[best])
    out.applied = AppliedSuggestion(index=best, title=plan.suggestions[best].title, lines=list(report.lines))
    if out_path is not None:
        out_path.parent.mkdir(parents=True, exist_ok=True)
        bpy.ops.wm.save_as_mainfile(filepath=str(out_path), copy=True)
        out.saved_as = str(out_path)
    return out


def _check_save_as(save_as: str | os.PathLike) -> Path:
    path = Path(save_as).expanduser().resolve()
    if path.suffix.lower() != ".blend":
        raise ValueError(f"save_as must be a .blend file, got {save_as}")
    if path.is_dir():
        raise ValueError(f"save_as {save_as} is a folder")
    current = bpy.data.filepath
    if current and (path == Path(current).resolve() or (path.exists() and os.path.samefile(path, current))):
        raise ValueError(f"save_as {save_as} is the input file: it is never overwritten; pick another path")
    return path


# ---------------------------------------------------------------------- command line
def main(argv: list[str] | None = None) -> int:
    if argv is None:
        argv = sys.argv[sys.argv.index("--") + 1 :] if "--" in sys.argv else sys.argv[1:]
    parser = argparse.ArgumentParser(
        prog="blender -b FILE.blend --python headless.py --",
        description="Ask an EVLM server for edits of the open scene; optionally apply the best one.",
    )
    add_version(parser)
    parser.add_argument("--instruction", "-i", required=True, help='what to change, e.g. "make it cozier"')
    add_client_args(parser, timeout_s=120.0)
    parser.add_argument("--blend", type=Path, help="open this file first (for a Python with bpy as a module)")
    parser.add_argument("--apply-best", action="store_true", help="apply the most confident applicable suggestion")
    parser.add_argument("--save-as", type=Path, help="save the result as this .blend (a copy; never the input)")
    parser.add_argument("--json", type=Path, help="write the whole result to this JSON file")
    parser.add_argument(
        "--images", type=Path, help="write the captured views here (before_N.png), and after applying, after_N.png"
    )
    parser.add_argument("--views", type=int, default=6, help="orbit views (default 6)")
    parser.add_argument("--resolution", type=int, default=384, help="pixels on the long side (default 384)")
    parser.add_argument("--engine", default="WORKBENCH", choices=[e[0] for e in _addon("preferences").ENGINES])
    parser.add_argument("--frames", type=int, default=1, help="frames across the animation (default 1)")
    parser.add_argument("--active-camera", action="store_true", help="also render the scene camera's view")
    parser.add_argument("--no-marks", action="store_true", help="no set-of-marks indices on the views")
    parser.add_argument(
        "--max-suggestions", type=int, default=3, choices=range(1, MAX_SUGGESTIONS + 1), metavar=f"1..{MAX_SUGGESTIONS}"
    )
    parser.add_argument("--reference", type=Path, action="append", default=[], help="reference image (repeatable)")
    args = parser.parse_args(argv)

    from evlm.client import RequestTimeout, ServerError
    from evlm.plantext import format_plan

    apply_mod = _addon("apply")
    try:
        curve = curve_keys(args)
        if args.blend is not None:
            open_blend(args.blend)
        settings = _addon("capture").CaptureSettings(
            views=args.views,
            resolution=args.resolution,
            engine=_engine_id(args.engine),
            frames=args.frames,
            include_active_camera=args.active_camera,
            marks=not args.no_marks,
        )
        references = [p.read_bytes() for p in args.reference]
        on_capture = (lambda c: write_views(c.views, args.images, "before")) if args.images else None
        out = run(
            args.instruction, args.endpoint, settings, apply_best=args.apply_best, save_as=args.save_as,
            timeout=args.timeout, curve=curve, max_suggestions=args.max_suggestions, references=references,
            on_capture=on_capture,
        )  # fmt: skip
        if args.images and out.applied:
            write_views(_addon("capture").capture(bpy.context.scene, settings).views, args.images, "after")
    except (ValueError, OSError, ServerError, RequestTimeout, apply_mod.ApplyError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(format_plan(out.plan, out.reasoning, out.timings))
    if out.applied:
        print(f"\nApplied {out.applied.index + 1}. {out.applied.title}")
        print("\n".join(f"  {line}" for line in out.applied.lines))
    if out.saved_as:
        print(f"Saved a copy as {out.saved_as}")
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        tmp = args.json.with_name(f".{args.json.name}.tmp")
        tmp.write_text(json.dumps(out.to_json(), indent=2) + "\n")
        os.replace(tmp, args.json)
    if out.not_applied:
        print(f"error: nothing applied: {out.not_applied}", file=sys.stderr)
        return 2
    return 0


def write_views(views: list[tuple[Any, bytes]], folder: Path, prefix: str) -> list[Path]:
    """Captured views (View, PNG bytes) as files `folder/prefix_N.png`, each written atomically."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i, (_, png) in enumerate(views):
        path = folder / f"{prefix}_{i}.png"
        tmp = folder / f".{path.name}.tmp"
        tmp.write_bytes(png)
        os.replace(tmp, path)
        paths.append(path)
    return paths


def _engine_id(choice: str) -> str:
    return _addon("preferences").engine_id(choice)


if __name__ == "__main__":
    sys.exit(main())

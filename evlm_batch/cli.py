"""evlm-batch: EVLM over many scene files, headless. See `evlm-batch --help` and the README.

Exit status: 0 every job ok (or done before), 1 some jobs ended in error (see results.jsonl),
2 bad input (nothing run).
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from evlm.cliargs import add_curve_args, add_version, curve_keys, endpoint
from evlm.edits import MAX_SUGGESTIONS
from evlm.protocol import DEFAULT_ENDPOINT
from evlm_batch.jobs import SCENE_SUFFIXES, BatchInputError, build_jobs, discover_scenes, parse_instructions
from evlm_batch.process import Options
from evlm_batch.runner import run_batch

EPILOG = """\
results: OUT/results.jsonl, one line per job (scene x instruction), appended as each one ends:
  key, scene, instruction, renderer (blend|mesh), endpoint, status (ok|error), error {code, message},
  reasoning, suggestions, best, applied, not_applied, skipped_ops, timings (s: capture, suggest,
  apply, total), outputs (edited copies, contact sheet), started_at, finished_at, attempt, run_id.
resume (default): jobs whose last line is `ok` are skipped; jobs that ended in error run again.
--apply best: edited copies and before/after contact sheets go to OUT/scenes/NAME-KEY/, never over
  the inputs. Mesh files keep their format (.gltf is written as .glb); ops a mesh file cannot hold
  are listed in skipped_ops.
"""


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="evlm-batch",
        description=f"Ask an EVLM server about many scene files ({', '.join(SCENE_SUFFIXES)}) and optionally "
        "apply the best suggestion to copies of them.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_version(p)
    p.add_argument("--scenes", nargs="+", required=True, metavar="PATH",
                   help="folders (searched recursively), scene files, or .txt lists of paths")  # fmt: skip
    what = p.add_mutually_exclusive_group(required=True)
    what.add_argument("--instruction", "-i", help='one instruction for every scene, e.g. "make it cozier"')
    what.add_argument("--instructions", type=Path, metavar="FILE",
                      help=".csv (header: instruction[,scene]) or .jsonl ({instruction, scene?} a line)")  # fmt: skip
    p.add_argument("--out", type=Path, required=True, help="output folder (results.jsonl, scenes/)")
    p.add_argument("--endpoint", type=endpoint, action="append", default=[], metavar="URL",
                   help=f"server endpoint; repeat for several servers, used in turn (default {DEFAULT_ENDPOINT})")  # fmt: skip
    p.add_argument("--in-flight", type=_positive_int, default=2, metavar="N", help="jobs at once (default 2)")
    p.add_argument("--apply", choices=["best"], help="apply the most confident applicable suggestion to a copy")
    p.add_argument("--views", type=_positive_int, default=6, help="orbit views per scene (default 6)")
    p.add_argument("--size", type=_positive_int, default=384, metavar="PX", help="view size in pixels (default 384)")
    p.add_argument("--max-suggestions", type=int, default=3, choices=range(1, MAX_SUGGESTIONS + 1), metavar="1..5")
    p.add_argument("--timeout", type=float, default=120.0, help="seconds without word from a server (default 120)")
    p.add_argument("--resume", action=argparse.BooleanOptionalAction, default=True,
                   help="skip jobs already ok in OUT/results.jsonl (default on)")  # fmt: skip
    p.add_argument("--blender-python", default=os.environ.get("EVLM_BLENDER_PYTHON", ""), metavar="PY",
                   help="a Python with bpy for .blend files (default $EVLM_BLENDER_PYTHON, else .venv-blender)")  # fmt: skip
    add_curve_args(p)
    p.add_argument("--ray", nargs="?", const="", default=None, metavar="ADDRESS",
                   help="spread jobs over Ray workers: an address (ray://head:10001, auto) or none for a local Ray")  # fmt: skip
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.views > 64 or args.size > 4096 or args.size < 16:
        print("error: --views is at most 64 and --size between 16 and 4096", file=sys.stderr)
        return 2
    try:
        out = args.out.resolve()
        # Earlier outputs (edited copies) under --out are never taken for inputs.
        scenes = [s for s in discover_scenes(args.scenes) if out not in s.parents]
        if not scenes:
            raise BatchInputError("no scene files outside --out")
        if args.instructions is not None:
            rows = parse_instructions(args.instructions)
            jobs = build_jobs(scenes, rows, base=args.instructions.resolve().parent)
        else:
            if not args.instruction.strip():
                raise BatchInputError("the instruction is empty: say what to change")
            jobs = build_jobs(scenes, [(None, args.instruction)])
        if out.is_file():
            raise BatchInputError(f"--out {out} is a file: give a folder")
        keys = curve_keys(args)
    except (BatchInputError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    options = Options(
        out=out, views=args.views, size=args.size, apply_best=args.apply == "best", timeout=args.timeout,
        max_suggestions=args.max_suggestions, blender_python=args.blender_python,
        server_key=str(keys.server_public_file.resolve()) if keys else "",
        client_key=str(keys.client_secret_file.resolve()) if keys else "",
    )  # fmt: skip
    endpoints = args.endpoint or [DEFAULT_ENDPOINT]
    try:
        summary = run_batch(
            jobs, endpoints, options, in_flight=args.in_flight, resume=args.resume, ray_address=args.ray,
            progress=not args.no_progress,
        )  # fmt: skip
    except RuntimeError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(
        f"{summary.total} jobs: {summary.ok} ok, {summary.errors} errors, {summary.skipped} done before "
        f"-> {out / 'results.jsonl'}"
    )
    return 1 if summary.errors else 0


if __name__ == "__main__":
    sys.exit(main())

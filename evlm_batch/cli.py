"""evlm-batch: EVLM over many scene files, headless. See `evlm-batch --help` and the README.

Exit status: 0 every job ok (or done before), 1 some jobs ended in error (see results.jsonl),
2 bad input or a server that does not answer (nothing run).
"""

from __future__ import annotations

import argparse
import math
import os
import sys
from pathlib import Path

from evlm.cliargs import add_curve_args, add_version, curve_keys, endpoint, positive_float, positive_int
from evlm.edits import MAX_SUGGESTIONS
from evlm.protocol import DEFAULT_ENDPOINT, Limits
from evlm_batch.jobs import (
    SCENE_SUFFIXES,
    BatchInputError,
    build_jobs,
    check_instruction,
    discover_scenes,
    parse_instructions,
)
from evlm_batch.process import Options
from evlm_batch.runner import run_batch

# What a server accepts (the wire contract's limits): views per request, pixels per view.
MAX_VIEWS = Limits().max_views
MIN_SIZE, MAX_SIZE = 16, math.isqrt(Limits().max_pixels)

EPILOG = """\
results: OUT/results.jsonl, one line per job (scene x instruction), appended as each one ends:
  key, scene, instruction, renderer (blend|mesh), endpoint, status (ok|error), error {code, message},
  reasoning, suggestions, best, applied, not_applied, skipped_ops, timings (s: capture, suggest,
  apply, total), server_timings, outputs (edited copies, contact sheet), started_at, finished_at,
  pid, attempt, run_id.
  (records.JobRecord has every field.)
resume (default): jobs whose last line is `ok` are skipped; jobs that ended in error run again.
before the first job every --endpoint must answer a ping; if one does not, nothing runs (exit 2).
--apply best: edited copies and before/after contact sheets go to OUT/scenes/NAME-KEY/, never over
  the inputs. Mesh files keep their format (.gltf is written as .glb); ops a mesh file cannot hold
  are listed in skipped_ops.
"""


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
    p.add_argument("--in-flight", type=positive_int, default=2, metavar="N", help="jobs at once (default 2)")
    p.add_argument("--apply", choices=["best"], help="apply the most confident applicable suggestion to a copy")
    p.add_argument(
        "--views", type=positive_int, default=6, help=f"orbit views per scene (default 6, at most {MAX_VIEWS})"
    )
    p.add_argument("--size", type=positive_int, default=384, metavar="PX",
                   help=f"view size in pixels (default 384, {MIN_SIZE} to {MAX_SIZE})")  # fmt: skip
    p.add_argument(
        "--max-suggestions", type=int, default=3, choices=range(1, MAX_SUGGESTIONS + 1), metavar=f"1..{MAX_SUGGESTIONS}"
    )
    p.add_argument(
        "--timeout", type=positive_float, default=120.0, help="seconds without word from a server (default 120)"
    )
    p.add_argument("--resume", action=argparse.BooleanOptionalAction, default=True,
                   help="skip jobs already ok in OUT/results.jsonl (default on)")  # fmt: skip
    p.add_argument("--blender-python", default=os.environ.get("EVLM_BLENDER_PYTHON", ""), metavar="PY",
                   help="a Python with bpy for .blend files (default $EVLM_BLENDER_PYTHON, else .venv-blender)")  # fmt: skip
    add_curve_args(p)
    p.add_argument("--ray", nargs="?", const="", default=None, metavar="ADDRESS",
                   help="spread jobs over Ray workers: an address (ray://head:10001, auto) or none for a local Ray")  # fmt: skip
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("--no-server-check", action="store_true",
                   help="do not ping the endpoints first (e.g. when only the Ray workers can reach them)")  # fmt: skip
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.views > MAX_VIEWS or not MIN_SIZE <= args.size <= MAX_SIZE:
        print(f"error: --views is at most {MAX_VIEWS} and --size between {MIN_SIZE} and {MAX_SIZE}", file=sys.stderr)
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
            jobs = build_jobs(scenes, [(None, check_instruction(args.instruction, "--instruction"))])
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
            progress=not args.no_progress, check=not args.no_server_check,
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

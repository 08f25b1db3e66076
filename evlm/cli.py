"""`evlm suggest`: ask an EVLM server for edit suggestions from the command line."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from evlm.cliargs import add_client_args, add_version, connect, fail
from evlm.edits import MAX_SUGGESTIONS
from evlm.plantext import format_plan
from evlm.protocol import DEFAULT_SUGGESTIONS, Limits


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="evlm", description="Ask an EVLM server for edit suggestions.")
    add_version(parser)
    sub = parser.add_subparsers(dest="command", required=True)
    s = sub.add_parser("suggest", help="send a scene graph, its views and an instruction; print the suggestions")
    s.add_argument("--scene", type=Path, help="scene graph JSON (omit for a plain image request)")
    s.add_argument(
        "--views",
        type=Path,
        required=True,
        help="folder of .png/.jpg views (each with an optional same-named .json view description)",
    )
    s.add_argument("--instruction", "-i", required=True, help='what to change, e.g. "make it cozier"')
    s.add_argument(
        "--reference",
        type=Path,
        action="append",
        default=[],
        help="a reference image of the look you want (repeatable)",
    )
    s.add_argument(
        "--max-suggestions",
        type=int,
        default=DEFAULT_SUGGESTIONS,
        choices=range(1, MAX_SUGGESTIONS + 1),
        metavar=f"1..{MAX_SUGGESTIONS}",
        help=f"how many suggestions to ask for (default {DEFAULT_SUGGESTIONS})",
    )
    s.add_argument("--json", action="store_true", help="print the whole result as JSON")
    s.add_argument("--stream", action="store_true", help="show the reasoning as it is generated")
    add_client_args(s, timeout_s=120.0)
    args = parser.parse_args(argv)
    return _suggest(args)


def _suggest(args: argparse.Namespace) -> int:
    from evlm.client import RequestTimeout, ServerError, load_views
    from evlm.edits import EditPlan
    from evlm.protocol import ProtocolError, image_size

    instruction = args.instruction.strip()
    limit = Limits().max_instruction_chars
    if not instruction:
        return fail("the instruction is empty: say what to change")
    if len(instruction) > limit:
        return fail(f"the instruction has {len(instruction)} characters, limit {limit}")
    try:
        scene = _read_scene(args.scene) if args.scene else None
        views = load_views(args.views)
        refs = []
        for path in args.reference:  # a clear local error beats a server round trip
            refs.append(path.read_bytes())
            try:
                image_size(refs[-1])
            except ValueError as e:
                raise ValueError(f"{path}: {e}") from None
        client = connect(args)
    except (OSError, ValueError) as e:
        return fail(str(e))

    def show(event) -> None:  # noqa: ANN001
        if args.stream and event.type == "progress" and event.message.text:
            print(event.message.text, end="", file=sys.stderr, flush=True)

    with client:
        try:
            result = client.suggest(
                instruction,
                views,
                scene,
                on_event=show,
                references=refs,
                max_suggestions=args.max_suggestions,
                stream=args.stream,
            )
        except ServerError as e:
            return fail(f"server refused: {e}")
        except (RequestTimeout, ProtocolError) as e:
            return fail(str(e))
    if args.json:
        print(json.dumps(result.model_dump(mode="json"), indent=2))
        return 0
    print(format_plan(EditPlan.model_validate(result.plan), result.reasoning, result.timings))
    return 0


def _read_scene(path: Path):  # noqa: ANN202
    """A scene graph JSON file. ValueError says what is wrong without echoing the file."""
    from pydantic import ValidationError

    from evlm.protocol import describe
    from evlm.scene import SceneGraph

    data = path.read_bytes()
    try:
        json.loads(data)
    except (UnicodeDecodeError, ValueError):
        hint = " (a .blend file? capture it in Blender: blender_addon/headless.py)" if data[:7] == b"BLENDER" else ""
        raise ValueError(f"{path}: not a scene graph JSON file{hint}") from None
    try:
        return SceneGraph.model_validate_json(data)
    except ValidationError as e:
        raise ValueError(f"{path}: not a scene graph: {describe(e)}") from None


if __name__ == "__main__":
    sys.exit(main())

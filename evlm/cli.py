"""`evlm suggest`: ask an EVLM server for edit suggestions from the command line."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from evlm.plantext import format_plan
from evlm.protocol import DEFAULT_ENDPOINT


def _client(args: argparse.Namespace, timeout: float):  # noqa: ANN202
    from evlm.client import Client, CurveKeys

    curve = CurveKeys.from_dir(args.curve_dir) if getattr(args, "curve_dir", None) is not None else None
    return Client(args.endpoint, timeout_s=timeout, curve=curve)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="evlm", description="Ask an EVLM server for edit suggestions.")
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
    s.add_argument("--endpoint", default=DEFAULT_ENDPOINT)
    s.add_argument("--timeout", type=float, default=120.0, help="seconds without word from the server (default 120)")
    s.add_argument("--max-suggestions", type=int, default=3)
    s.add_argument("--json", action="store_true", help="print the whole result as JSON")
    s.add_argument("--stream", action="store_true", help="show the reasoning as it is generated")
    s.add_argument("--curve-dir", type=Path, help="keys folder, if the server uses CURVE")
    args = parser.parse_args(argv)
    return _suggest(args)


def _suggest(args: argparse.Namespace) -> int:
    from pydantic import ValidationError

    from evlm.client import RequestTimeout, ServerError, load_views
    from evlm.edits import EditPlan
    from evlm.protocol import image_size
    from evlm.scene import SceneGraph

    try:
        scene = SceneGraph.model_validate_json(args.scene.read_bytes()) if args.scene else None
        views = load_views(args.views)
        refs = []
        for path in args.reference:  # a clear local error beats a server round trip
            refs.append(path.read_bytes())
            try:
                image_size(refs[-1])
            except ValueError as e:
                raise ValueError(f"{path}: {e}") from None
    except (OSError, ValueError, ValidationError) as e:
        return _fail(str(e))

    def show(event) -> None:  # noqa: ANN001
        if args.stream and event.type == "progress" and event.message.text:
            print(event.message.text, end="", file=sys.stderr, flush=True)

    with _client(args, args.timeout) as client:
        try:
            result = client.suggest(
                args.instruction,
                views,
                scene,
                on_event=show,
                references=refs,
                max_suggestions=args.max_suggestions,
                stream=args.stream,
            )
        except ServerError as e:
            return _fail(f"server refused: {e}")
        except RequestTimeout as e:
            return _fail(str(e))
    if args.json:
        print(json.dumps(result.model_dump(mode="json"), indent=2))
        return 0
    print(format_plan(EditPlan.model_validate(result.plan), result.reasoning, result.timings))
    return 0


def _fail(message: str) -> int:
    print(f"error: {message}", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())

"""Run cases of the Blender-built evaluation through the real path, inside Blender (needs bpy).

    python-with-bpy -m training.eval.blender.run --endpoint E --out FILE.jsonl --case ID [--case ID ...]

For each case: build its scene (`scenes.py`), snapshot it (`measure.py`), then the add-on's own
headless run (`blender_addon.headless.run`): capture with the add-on's default settings (6 orbit
views, 384 px, Workbench, marks), the request through `evlm.client`, the most confident
suggestion that applies (`evlm.session.best_index` over the add-on's apply checks), applied by
the add-on's apply as one all-or-nothing step; then snapshot again and judge with the case's
check. One JSON line per case is appended to --out (and flushed to disk) as the case ends, so a
crash loses nothing finished; `evlm-eval --blender` starts this and writes the report.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import traceback
from typing import Any

from evlm.client import RequestTimeout, ServerError
from evlm.edits import EditPlan
from training.eval.blender.cases import BY_ID, Case, named, right_target

REASONING_CHARS = 2000  # kept per case in cases.jsonl, for reading failures


def evaluate(case: Case, endpoint: str, timeout: float = 120.0, max_suggestions: int = 3) -> dict[str, Any]:
    """One case, start to end: the record of what happened (never raises for the case's own failures)."""
    from blender_addon import apply, headless
    from blender_addon.capture import CaptureSettings
    from training.eval.blender import measure, scenes

    record: dict[str, Any] = {
        "id": case.id, "scene": case.scene, "kind": case.kind, "instruction": case.instruction,
        "targets": list(case.targets), "check": case.check.text, "passed": False, "detail": "",
        "right_target": False, "applied": False, "suggestion": None, "ops": [], "named": [],
        "not_applied": None, "error": None, "latency_s": None, "timings": {}, "plan": None, "reasoning": "",
    }  # fmt: skip
    scene = scenes.build(case.scene)
    before = measure.snapshot(scene)
    t0 = time.perf_counter()
    try:
        out = headless.run(
            case.instruction, endpoint, CaptureSettings(), apply_best=True, timeout=timeout,
            max_suggestions=max_suggestions, scene=scene,
        )  # fmt: skip
    except ServerError as e:
        record["error"] = {"code": e.code, "message": e.message}
    except RequestTimeout as e:
        record["error"] = {"code": "timeout", "message": str(e)}
    except apply.ApplyError as e:  # the scene is restored
        record["error"] = {"code": "apply_failed", "message": str(e)}
    except (ValueError, OSError) as e:  # the capture could not describe or render the scene
        record["error"] = {"code": "capture_failed", "message": str(e)}
    except Exception as e:  # a bug on this side: say so, and go on with the next case
        record["error"] = {"code": "internal", "message": f"{type(e).__name__}: {e}", "where": traceback.format_exc(-3)}
    else:
        record.update(not_applied=out["not_applied"], timings=out["timings"], plan=out["plan"])
        record["reasoning"] = (out["reasoning"] or "")[:REASONING_CHARS]
        if out["applied"] is not None:
            suggestion = EditPlan.model_validate(out["plan"]).suggestions[out["best"]]
            record.update(
                applied=True,
                suggestion={"index": out["best"], "title": suggestion.title, "confidence": suggestion.confidence},
                ops=[o.model_dump(mode="json") for o in suggestion.ops],
                named=sorted(named(suggestion.ops)),
                right_target=right_target(case, suggestion.ops),
            )
    record["latency_s"] = round(time.perf_counter() - t0, 3)
    outcome = case.check(before, measure.snapshot(scene))  # judged even when nothing applied: the scene as left
    record.update(passed=outcome.ok, detail=outcome.detail)
    return record


def append_line(path: str, record: dict[str, Any]) -> None:
    """One whole JSON line in one write, flushed to disk: a crash leaves at most a torn last line."""
    with open(path, "a", encoding="utf-8") as f:
        f.write(json.dumps(record) + "\n")
        f.flush()
        os.fsync(f.fileno())


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m training.eval.blender.run", description=__doc__.splitlines()[0])
    p.add_argument("--endpoint", required=True)
    p.add_argument("--out", required=True, help="JSONL file the records are appended to")
    p.add_argument("--case", action="append", required=True, help="case id (repeatable)")
    p.add_argument("--timeout", type=float, default=120.0, help="seconds without word from the server")
    p.add_argument("--max-suggestions", type=int, default=3)
    args = p.parse_args(argv)
    unknown = [c for c in args.case if c not in BY_ID]
    if unknown:
        print(f"error: unknown case {', '.join(unknown)}", file=sys.stderr)
        return 2
    for case_id in args.case:
        append_line(args.out, evaluate(BY_ID[case_id], args.endpoint, args.timeout, args.max_suggestions))
    return 0


if __name__ == "__main__":
    sys.exit(main())

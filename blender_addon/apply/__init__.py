"""Apply one suggestion of an edit plan to the live Blender scene: all of it, or nothing.

Three steps:

1. `check_suggestion` re-checks every op against the live scene before anything changes
   (`checks`): each named object is in this scene and of the right kind, named modifiers and
   animation channels exist, the material slot exists or can be made; ops are checked in order,
   carrying along what earlier ops will have done. It raises `ApplyError` naming the op and the
   target.
2. Each op's handler then changes the scene through the run's `Journal` (`journal`), which keeps,
   for every change, how to undo it. Handlers destroy nothing: `delete` unlinks the objects from
   this scene's collections and `remove_modifier` marks the modifier.
3. If every op succeeded, the commit frees the deleted objects (their children keep their place in
   the world) and removes the marked modifiers: the only irreversible steps, and they cannot fail
   on a checked plan. If an op raised, anything at all, the journal is replayed backwards instead
   and `ApplyError` names the op that failed: the scene is as it was, the order of every
   collection's objects included.

The package: `registry` (each op's rules, registered by its `evlm.edits` class), `checks`,
`journal`, `run` (one run: journal, report lines, commit), `keys` (keyframes in bulk), `spatial`
(world and parent matrices, rotation modes), and the handlers by group: `transform`, `material`,
`light` (and world), `camera`, `objects` (visibility, duplicate, delete, shading, modifiers),
`animation`, `generative`. F-curves are reached through `blender_addon.fcurves` (Blender 4.2's
actions and 4.4+'s layered ones, one version gate) and shader nodes through `blender_addon.nodes`,
both shared with capture.

Only the data API is used (no bpy.ops), so this works in background mode and inside an operator;
the add-on's operator (bl_options {'REGISTER', 'UNDO'}) makes a whole suggestion one undo step.
Nothing from the plan runs as code or picks an attribute: ops are dispatched by their class,
modifier settings through a fixed table, channels are the contract's three transform paths;
names from the plan only look up objects and modifiers, or name new data-blocks.

Decisions:
- A material op edits the material in the object's slot, shared or not (see `material`).
- Data shared by several objects (a mesh, light, camera or action) is edited once per op.
- Moving, rotating or scaling an object whose transform is animated moves the animation with it
  (keys offset, or multiplied for scale), so the change survives the next frame change.
- World-space transforms account for parents (not for constraints; under a non-uniformly scaled
  parent a world rotation is approximate, as the child is sheared).
- `generative_edit` changes nothing in the scene: it is reported as a hand-off (and returned in
  `ApplyReport.handoffs`), never as a failure.
"""

from __future__ import annotations

import bpy
from pydantic import ValidationError

from evlm.edits import Suggestion

from . import animation, camera, generative, light, material, objects, transform  # noqa: F401  (register)
from .checks import check_ops
from .registry import rules
from .report import ERROR_CODES, ApplyError, ApplyReport
from .run import Run
from .spatial import update

__all__ = ["ERROR_CODES", "ApplyError", "ApplyReport", "apply_suggestion", "check_suggestion"]


def check_suggestion(scene: bpy.types.Scene, suggestion: Suggestion) -> None:
    """Raise ApplyError if any op of `suggestion` cannot apply to the live `scene`; change nothing."""
    _check_args(scene, suggestion)
    check_ops(scene, suggestion)


def apply_suggestion(scene: bpy.types.Scene, suggestion: Suggestion) -> ApplyReport:
    """Check, then apply every op of `suggestion` to `scene`; on any failure restore the scene and
    raise ApplyError (TypeError / ValueError for arguments that are not a scene and a valid suggestion)."""
    check_suggestion(scene, suggestion)
    run = Run(scene)
    for i, op in enumerate(suggestion.ops):
        try:
            rules(op).handler(run, op)
        except Exception as e:  # any failure: put everything back, then say which op failed
            problems = run.journal.rollback()
            update(scene)
            code = e.code if isinstance(e, ApplyError) else "failed"
            message = e.message if isinstance(e, ApplyError) else f"{op.op}: {type(e).__name__}: {e}"
            if problems:
                message += f"; the scene could not be fully restored: {'; '.join(problems)}"
            raise ApplyError(code, message, i) from e
    try:
        run.commit()
    except Exception as e:  # not expected after the checks; say plainly what state the scene is in
        raise ApplyError("failed", f"removing deleted objects or modifiers failed, the rest is applied: {e}") from e
    update(scene)
    return ApplyReport(run.lines, run.handoffs)


def _check_args(scene: object, suggestion: object) -> None:
    if not isinstance(scene, bpy.types.Scene):
        raise TypeError(f"scene must be a bpy.types.Scene, got {type(scene).__name__}")
    if not isinstance(suggestion, Suggestion):
        raise TypeError(f"suggestion must be an evlm.edits.Suggestion, got {type(suggestion).__name__}")
    try:  # a Suggestion built without validation (model_construct) must not slip unchecked values in
        Suggestion.model_validate_json(suggestion.model_dump_json())
    except ValidationError as e:
        err = e.errors(include_url=False)[0]
        where = ".".join(str(p) for p in err["loc"])
        raise ValueError(f"suggestion does not validate: {err['msg']} (at {where})") from None

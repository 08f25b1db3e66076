"""The checks before anything changes: every op of a suggestion against the live scene (imports bpy).

Each named object must be in this scene and of the kind its field takes (a light op on a light, a
camera op on a camera, a material op on an object that can hold materials, an animation op on an
animated object), named modifiers must exist; then the op's own check, registered beside its
handler, looks at what only it needs (a Principled BSDF input not driven by a link, a slot, a
channel, ...). Ops are checked in order, carrying along what earlier ops will have done that
later checks depend on (`Planned`). A refusal is an `ApplyError` naming the op and the target.
"""

from __future__ import annotations

import bpy

from evlm.edits import AdjustModifier, CameraLookAt, Suggestion, target_kinds
from evlm.scene import GEOMETRY_TYPES

from .. import fcurves
from .registry import Planned, rules
from .report import ApplyError
from .spatial import is_euler

_KINDS = {"geometry": "a geometry object", "light": "a light", "camera": "a camera"}


def check_ops(scene: bpy.types.Scene, suggestion: Suggestion) -> None:
    """Raise ApplyError (with its op's index) if any op cannot apply; change nothing."""
    planned = Planned()
    for i, op in enumerate(suggestion.ops):
        try:
            _check_op(scene, op, planned)
        except ApplyError as e:
            e.op_index = i
            raise
        plans = rules(op).plans
        if plans is not None:
            plans(planned, op)


def _check_op(scene: bpy.types.Scene, op: object, planned: Planned) -> None:
    for name_field, kind in target_kinds(op).items():
        value = getattr(op, name_field)
        for name in value if isinstance(value, list) else [value]:
            if kind == "modifier":
                _check_modifier(scene, op, name, planned)
            else:
                _check_object(scene, op, name, kind, planned)
    check = rules(op).check
    if check is not None:
        check(scene, op, planned)


def _check_object(scene: bpy.types.Scene, op: object, name: str, kind: str, planned: Planned) -> None:
    obj = scene.objects.get(name)
    if obj is None:
        raise ApplyError("missing_target", f"{op.op}: there is no object {name!r} in scene {scene.name!r}")
    if name in planned.deleted:
        raise ApplyError("not_applicable", f"{op.op}: {name!r} is deleted by an earlier op of this suggestion")
    if (
        (kind == "geometry" and obj.type not in GEOMETRY_TYPES)
        or (kind == "light" and obj.type != "LIGHT")
        or (kind == "camera" and obj.type != "CAMERA")
    ):
        raise ApplyError("wrong_kind", f"{op.op}: {name!r} is a {obj.type.lower()} object, not {_KINDS[kind]}")
    if kind == "animated" and not fcurves.fcurves(obj) and not any(c[0] == name for c in planned.channels):
        raise ApplyError("wrong_kind", f"{op.op}: {name!r} has no animation")


def _check_modifier(scene: bpy.types.Scene, op: object, name: str, planned: Planned) -> None:
    for target in op.targets:
        obj = scene.objects.get(target)
        if obj is None:
            continue  # reported by the targets check
        if obj.modifiers.get(name) is None or (target, name) in planned.removed_modifiers:
            raise ApplyError("missing_target", f"{op.op}: {target!r} has no modifier {name!r}")
        if isinstance(op, AdjustModifier) and obj.modifiers[name].type != op.modifier.type:
            raise ApplyError(
                "wrong_kind",
                f"{op.op}: modifier {name!r} on {target!r} is a {obj.modifiers[name].type}, not a {op.modifier.type}",
            )


def check_rotation(scene: bpy.types.Scene, op: object, planned: Planned) -> None:
    """Rotate and camera_look_at: a rotation animated as quaternion or axis-angle is not offset
    (its keys cannot be moved by a per-axis offset): refused, rather than lost at the next frame."""
    for name in getattr(op, "targets", None) or [op.camera]:
        obj = scene.objects[name]
        if not is_euler(obj) and (
            fcurves.fcurves(obj, "rotation_quaternion") or fcurves.fcurves(obj, "rotation_axis_angle")
        ):
            raise ApplyError(
                "not_applicable", f"{op.op}: {name!r} has animated {obj.rotation_mode.lower()} rotation; key it instead"
            )
    if isinstance(op, CameraLookAt) and op.camera == op.target:
        raise ApplyError("not_applicable", f"{op.op}: camera {op.camera!r} cannot look at itself")

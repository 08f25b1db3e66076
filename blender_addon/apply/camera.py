"""Handlers: camera focal length, moves and aiming."""

from __future__ import annotations

import bpy

from evlm import transforms
from evlm.edits import CameraLookAt, MoveCamera, SetFocalLength

from .checks import check_rotation
from .registry import Planned, handles
from .report import ApplyError, fmt, signed
from .run import Run
from .spatial import array, parent_matrix, world_center, world_matrix


def _check_focal_length(scene: bpy.types.Scene, op: SetFocalLength, planned: Planned) -> None:
    if scene.objects[op.camera].data.type == "ORTHO":
        raise ApplyError("not_applicable", f"{op.op}: {op.camera!r} is orthographic; it has no focal length")


@handles(SetFocalLength, check=_check_focal_length)
def _set_focal_length(run: Run, op: SetFocalLength) -> None:
    camera = run.obj(op.camera).data
    old = camera.lens
    run.journal.set(camera, "lens", op.value)
    run.lines.append(f"{op.camera}: focal length {old:.4g} → {op.value:.4g} mm")


@handles(MoveCamera)
def _move_camera(run: Run, op: MoveCamera) -> None:
    obj = run.obj(op.camera)
    parent = array(parent_matrix(run.scene, obj))
    run.set_transform(obj, location=transforms.translated(parent, array(obj.matrix_basis), op.vector, op.mode, "world"))
    what = f"→ {fmt(op.vector)}" if op.mode == "absolute" else signed(op.vector)
    run.lines.append(f"{op.camera}: camera location {what} (world)")


@handles(CameraLookAt, check=check_rotation)
def _camera_look_at(run: Run, op: CameraLookAt) -> None:
    camera = run.obj(op.camera)
    target = world_center(run.scene, run.obj(op.target))
    direction = target - world_matrix(run.scene, camera).to_translation()
    if direction.length < 1e-9:
        raise ApplyError("not_applicable", f"{op.op}: camera {op.camera!r} is at the centre of {op.target!r}")
    parent = parent_matrix(run.scene, camera).to_quaternion()
    run.set_transform(camera, rotation=parent.inverted() @ direction.to_track_quat("-Z", "Y"))  # look down -Z
    run.lines.append(f"{op.camera}: aimed at {op.target} ({fmt(target)})")

"""Handlers: translate, rotate, scale. The arithmetic is `evlm.transforms` (shared with evlm-batch's
mesh applier); here it meets live objects: parent matrices from the evaluated scene, rotations in
each object's own rotation mode, animated channels moved along (`Run.set_transform`)."""

from __future__ import annotations

import math

import numpy as np
from mathutils import Euler, Matrix

from evlm import transforms
from evlm.edits import Rotate, Scale, Translate

from .checks import check_rotation
from .registry import handles
from .report import fmt, signed
from .run import Run
from .spatial import array, basis_rotation, parent_matrix


@handles(Translate)
def _translate(run: Run, op: Translate) -> None:
    for name in op.targets:
        obj = run.obj(name)
        parent = array(parent_matrix(run.scene, obj))
        location = transforms.translated(parent, array(obj.matrix_basis), op.vector, op.mode, op.space)
        run.set_transform(obj, location=location)
        what = f"→ {fmt(op.vector)}" if op.mode == "absolute" else signed(op.vector)
        run.lines.append(f"{name}: location {what} ({op.space})")


@handles(Rotate, check=check_rotation)
def _rotate(run: Run, op: Rotate) -> None:
    for name in op.targets:
        obj = run.obj(name)
        if op.mode == "absolute" and op.space == "local" and obj.rotation_mode == "XYZ":
            # the angles as given, not a matrix's: 370 degrees stays 370 (a full turn in an animation)
            run.set_transform(obj, rotation=Euler([math.radians(d) for d in op.degrees], "XYZ"))
        else:
            parent = array(parent_matrix(run.scene, obj)) if op.space == "world" else np.eye(4)
            own = array(basis_rotation(obj).to_matrix())
            rotation = transforms.rotated(parent, own, op.degrees, op.mode, op.space)
            run.set_transform(obj, rotation=Matrix(rotation.tolist()).to_quaternion())
        what = f"→ {fmt(op.degrees)}°" if op.mode == "absolute" else f"{signed(op.degrees)}°"
        run.lines.append(f"{name}: rotation {what} ({op.space})")


@handles(Scale)
def _scale(run: Run, op: Scale) -> None:
    for name in op.targets:
        obj = run.obj(name)
        run.set_transform(obj, scale=transforms.scaled(tuple(obj.scale), op.factor, op.mode))
        what = f"→ {fmt(op.factor)}" if op.mode == "absolute" else f"×{fmt(op.factor)}"
        run.lines.append(f"{name}: scale {what}")

"""Where objects are: evaluated world and parent matrices, rotations in an object's own rotation
mode, the collections of a scene that hold an object (imports bpy)."""

from __future__ import annotations

import bpy
import numpy as np
from mathutils import Euler, Matrix, Quaternion, Vector

from evlm.scene import GEOMETRY_TYPES

EULER_MODES = frozenset({"XYZ", "XZY", "YXZ", "YZX", "ZXY", "ZYX"})


def update(scene: bpy.types.Scene) -> None:
    """Evaluate the scene so world matrices are current (and animation edits take effect)."""
    layer = getattr(bpy.context, "view_layer", None)
    if layer is None or getattr(bpy.context, "scene", None) != scene:
        layer = scene.view_layers[0]
    layer.update()


def parent_matrix(scene: bpy.types.Scene, obj: bpy.types.Object) -> Matrix:
    """What lies between the object's own transform and the world (its parent and parent inverse):
    world = parent_matrix @ matrix_basis."""
    if obj.parent is None:
        return Matrix.Identity(4)
    update(scene)
    return obj.matrix_world @ obj.matrix_basis.inverted_safe()


def world_matrix(scene: bpy.types.Scene, obj: bpy.types.Object) -> Matrix:
    return parent_matrix(scene, obj) @ obj.matrix_basis


def world_center(scene: bpy.types.Scene, obj: bpy.types.Object) -> Vector:
    """Where a camera should look to see the object: its bounding-box centre, or its origin."""
    world = world_matrix(scene, obj)
    if obj.type in GEOMETRY_TYPES:
        update(scene)
        corners = [Vector(c) for c in obj.bound_box]
        return world @ (sum(corners, Vector()) / len(corners))
    return world.to_translation()


def array(m: Matrix) -> np.ndarray:
    """A mathutils matrix as a numpy array (rows), for `evlm.transforms`."""
    return np.array([tuple(row) for row in m], dtype=np.float64)


def basis_rotation(obj: bpy.types.Object) -> Quaternion:
    if obj.rotation_mode == "QUATERNION":
        return obj.rotation_quaternion.normalized()
    if obj.rotation_mode == "AXIS_ANGLE":
        angle, *axis = obj.rotation_axis_angle
        return Quaternion(Vector(axis), angle)
    return obj.rotation_euler.to_quaternion()


def set_rotation(obj: bpy.types.Object, rotation: Quaternion | Euler) -> None:
    """Set the basis rotation in the object's own rotation mode (Eulers kept continuous)."""
    if isinstance(rotation, Euler) and obj.rotation_mode == rotation.order:
        obj.rotation_euler = rotation
        return
    q = rotation.to_quaternion() if isinstance(rotation, Euler) else rotation
    if obj.rotation_mode == "QUATERNION":
        obj.rotation_quaternion = q
    elif obj.rotation_mode == "AXIS_ANGLE":
        axis, angle = q.to_axis_angle()
        obj.rotation_axis_angle = (angle, *axis)
    else:
        obj.rotation_euler = q.to_euler(obj.rotation_mode, obj.rotation_euler)


def is_euler(obj: bpy.types.Object) -> bool:
    return obj.rotation_mode in EULER_MODES


def in_scene_collections(scene: bpy.types.Scene, obj: bpy.types.Object) -> list[bpy.types.Collection]:
    ours = {scene.collection.as_pointer(), *(c.as_pointer() for c in scene.collection.children_recursive)}
    return [c for c in obj.users_collection if c.as_pointer() in ours]

"""What translate, rotate and scale mean, on 4x4 matrices (numpy; no bpy).

One owner for the transform ops' arithmetic, used on live Blender objects by the add-on
(`blender_addon/apply/transform.py`) and on mesh-file nodes by `evlm-batch`
(`evlm_batch/mesh_scene.py`), so both apply a plan the same way.

Blender's model, which the scene graph speaks: an object's world matrix is `parent @ basis`.
`basis` is the object's own location, rotation and scale; `parent` is everything between it and
the world (its parent's world matrix and parent inverse; the identity without a parent). An op
changes the basis only, so children follow and the parent stays.

The branches (mode x space):
- translate, relative world: by `vector` metres along the world axes; relative local: by `vector`
  metres along the object's own axes as they lie in the world; absolute world: the origin goes to
  `vector` in the world; absolute local: the basis location becomes `vector`.
- rotate by XYZ Euler degrees (Blender's convention: R = Rz @ Ry @ Rx), relative local: about the
  object's own axes (after its rotation); relative world: about the world axes through the
  object's origin; absolute local: the basis rotation becomes the turn; absolute world: the world
  rotation becomes the turn.
- scale, relative: multiplies the basis scale; absolute: sets it. Always along the object's own
  axes (a world-axis scale of a rotated object is a shear, which a basis cannot hold).

The rotation of a matrix with scale is its nearest rotation (polar decomposition); a mirror
(negative determinant) is carried by the X scale. Under a non-uniformly scaled parent a child is
sheared, so a world rotation of it is the nearest one, not exact.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

MODES = ("relative", "absolute")
SPACES = ("world", "local")


def euler_matrix(radians: Sequence[float]) -> np.ndarray:
    """The 3x3 rotation of XYZ Euler angles (radians): X first, then Y, then Z, about fixed axes."""
    x, y, z = _vector(radians, "angles")
    cx, sx, cy, sy, cz, sz = math.cos(x), math.sin(x), math.cos(y), math.sin(y), math.cos(z), math.sin(z)
    rx = np.array([[1, 0, 0], [0, cx, -sx], [0, sx, cx]])
    ry = np.array([[cy, 0, sy], [0, 1, 0], [-sy, 0, cy]])
    rz = np.array([[cz, -sz, 0], [sz, cz, 0], [0, 0, 1]])
    return rz @ ry @ rx


def euler_xyz(rotation: np.ndarray) -> list[float]:
    """XYZ Euler angles (radians) of a 3x3 rotation, the inverse of `euler_matrix` (Y in [-pi/2, pi/2])."""
    r = np.asarray(rotation, dtype=np.float64)[:3, :3]
    cos_y = math.hypot(r[0, 0], r[1, 0])
    if cos_y > 1e-9:
        angles = (math.atan2(r[2, 1], r[2, 2]), math.atan2(-r[2, 0], cos_y), math.atan2(r[1, 0], r[0, 0]))
    else:  # gimbal lock: Y is +-90 degrees and only X - Z (or X + Z) is defined; Z is taken as 0
        angles = (math.atan2(-r[1, 2], r[1, 1]), math.atan2(-r[2, 0], cos_y), 0.0)
    return [float(a) for a in angles]


def decompose(matrix: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Location (3,), rotation (3x3) and scale (3,) of an affine 4x4 matrix (shear dropped)."""
    m = _matrix(matrix, "matrix")
    m3 = m[:3, :3]
    scale = np.linalg.norm(m3, axis=0)
    scale = np.where(scale < 1e-12, 1e-12, scale)
    rot = m3 / scale
    if np.linalg.det(rot) < 0:  # a mirror: carried by the scale, a rotation cannot hold it
        scale[0], rot[:, 0] = -scale[0], -rot[:, 0]
    u, _, vt = np.linalg.svd(rot)  # the nearest true rotation
    return m[:3, 3].copy(), u @ vt, scale


def compose(location: Sequence[float], rotation: np.ndarray, scale: Sequence[float]) -> np.ndarray:
    """The 4x4 matrix that moves by `location` after rotating by `rotation` after scaling by `scale`."""
    m = np.eye(4)
    m[:3, :3] = np.asarray(rotation, dtype=np.float64)[:3, :3] @ np.diag(_vector(scale, "scale"))
    m[:3, 3] = _vector(location, "location")
    return m


def rotation_of(matrix: np.ndarray) -> np.ndarray:
    """The nearest rotation (3x3) of a matrix's upper 3x3, scale and mirror removed."""
    return decompose(matrix)[1]


def translated(parent: np.ndarray, basis: np.ndarray, vector: Sequence[float], mode: str, space: str) -> np.ndarray:
    """The basis location (3,) after a translate op (see the module's docstring for the branches)."""
    parent, basis = _matrix(parent, "parent"), _matrix(basis, "basis")
    vector = _vector(vector, "vector")
    _check_mode(mode, space)
    if mode == "absolute" and space == "local":
        return vector
    world = parent @ basis
    if mode == "absolute":
        delta = vector - world[:3, 3]
    elif space == "local":  # along the object's own axes, in metres
        delta = rotation_of(world) @ vector
    else:
        delta = vector
    return basis[:3, 3] + _inverse(parent[:3, :3]) @ delta


def rotated(parent: np.ndarray, rotation: np.ndarray, degrees: Sequence[float], mode: str, space: str) -> np.ndarray:
    """The basis rotation (3x3) after a rotate op by XYZ Euler `degrees`, from basis rotation `rotation`."""
    parent = _matrix(parent, "parent")
    rotation = np.asarray(rotation, dtype=np.float64)
    if rotation.shape != (3, 3):
        raise ValueError(f"rotation must be a 3x3 matrix, got shape {rotation.shape}")
    _check_mode(mode, space)
    turn = euler_matrix([math.radians(d) for d in _vector(degrees, "degrees")])
    if space == "local":
        return turn if mode == "absolute" else rotation @ turn
    parent_rot = rotation_of(parent)
    world = turn if mode == "absolute" else turn @ parent_rot @ rotation
    return parent_rot.T @ world


def scaled(scale: Sequence[float], factor: Sequence[float], mode: str) -> np.ndarray:
    """The basis scale (3,) after a scale op."""
    scale, factor = _vector(scale, "scale"), _vector(factor, "factor")
    _check_mode(mode, "local")
    return factor if mode == "absolute" else scale * factor


def _inverse(m3: np.ndarray) -> np.ndarray:
    """The inverse of a 3x3 matrix; a degenerate one (a zero scale) gets its pseudo-inverse."""
    try:
        return np.linalg.inv(m3)
    except np.linalg.LinAlgError:
        return np.linalg.pinv(m3)


def _matrix(value: object, name: str) -> np.ndarray:
    m = np.asarray(value, dtype=np.float64)
    if m.shape != (4, 4) or not np.isfinite(m).all():
        raise ValueError(f"{name} must be a finite 4x4 matrix, got shape {m.shape}")
    return m


def _vector(value: object, name: str) -> np.ndarray:
    v = np.asarray(value, dtype=np.float64)
    if v.shape != (3,) or not np.isfinite(v).all():
        raise ValueError(f"{name} must be 3 finite numbers, got {value!r}")
    return v


def _check_mode(mode: str, space: str) -> None:
    if mode not in MODES:
        raise ValueError(f"mode must be one of {', '.join(MODES)}, got {mode!r}")
    if space not in SPACES:
        raise ValueError(f"space must be one of {', '.join(SPACES)}, got {space!r}")

"""Small helpers that build the evaluation's scenes with Blender's data API (needs bpy).

Meshes are made with bmesh, objects linked to named collections, materials get a Principled
BSDF (and the same colour as their viewport colour, which Workbench captures show). Furniture
and props have their origin at the bottom, as artists usually set it, so scaling one keeps it
standing; `base=False` puts it at the centre. Angles are degrees, lengths metres.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import bmesh
import bpy
from mathutils import Euler, Matrix, Vector

from blender_addon.fcurves import fcurves
from blender_addon.nodes import surface_node, with_nodes

Vec = Sequence[float]


def fresh(frames: tuple[int, int] = (1, 48), fps: int = 24) -> bpy.types.Scene:
    """An empty file (factory settings, no objects), with this frame range and rate."""
    bpy.ops.wm.read_factory_settings(use_empty=True)
    scene = bpy.context.scene
    scene.frame_start, scene.frame_end = frames
    scene.render.fps, scene.render.fps_base = fps, 1.0
    scene.frame_set(frames[0])
    return scene


def collection(name: str) -> bpy.types.Collection:
    found = bpy.data.collections.get(name)
    if found is None:
        found = bpy.data.collections.new(name)
        bpy.context.scene.collection.children.link(found)
    return found


def material(
    name: str,
    color: Vec,
    roughness: float = 0.5,
    metallic: float = 0.0,
    alpha: float = 1.0,
    emission: Vec = (0.0, 0.0, 0.0),
    strength: float = 0.0,
) -> bpy.types.Material:
    mat = with_nodes(bpy.data.materials.new(name))
    mat.diffuse_color = (*color, alpha)
    mat.roughness, mat.metallic = roughness, metallic
    inputs = surface_node(mat, "BSDF_PRINCIPLED").inputs
    inputs["Base Color"].default_value = (*color, 1.0)
    inputs["Roughness"].default_value = roughness
    inputs["Metallic"].default_value = metallic
    inputs["Alpha"].default_value = alpha
    inputs["Emission Color"].default_value = (*emission, 1.0)
    inputs["Emission Strength"].default_value = strength
    return mat


def _place(
    obj: bpy.types.Object, at: Vec, rotate: Vec, scale: Vec, parent: bpy.types.Object | None, group: str
) -> None:
    (collection(group) if group else bpy.context.scene.collection).objects.link(obj)
    obj.parent = parent  # `at` is then in the parent's space (identity parent inverse)
    obj.location = at
    obj.rotation_euler = Euler([math.radians(a) for a in rotate])
    obj.scale = scale


def mesh(
    name: str,
    make: Callable[[bmesh.types.BMesh], None],
    at: Vec = (0, 0, 0),
    mat: bpy.types.Material | None = None,
    *,
    rotate: Vec = (0, 0, 0),
    scale: Vec = (1, 1, 1),
    parent: bpy.types.Object | None = None,
    group: str = "",
    smooth: bool = False,
) -> bpy.types.Object:
    bm = bmesh.new()
    make(bm)
    data = bpy.data.meshes.new(name)
    bm.to_mesh(data)
    bm.free()
    if smooth:
        data.shade_smooth()
    if mat is not None:
        data.materials.append(mat)
    obj = bpy.data.objects.new(name, data)
    _place(obj, at, rotate, scale, parent, group)
    return obj


def _lift(z: float, base: bool) -> float:
    return z / 2 if base else 0.0


def box(name: str, size: Vec, at: Vec = (0, 0, 0), mat: bpy.types.Material | None = None, *, base: bool = True,
        **kw: object) -> bpy.types.Object:  # fmt: skip
    """A box of `size`; with `base`, its origin at the middle of its bottom face."""
    matrix = Matrix.LocRotScale((0, 0, _lift(size[2], base)), None, size)
    return mesh(name, lambda bm: bmesh.ops.create_cube(bm, size=1.0, matrix=matrix), at, mat, **kw)


def boxes(name: str, parts: Sequence[tuple[Vec, Vec]], at: Vec = (0, 0, 0), mat: bpy.types.Material | None = None,
          **kw: object) -> bpy.types.Object:  # fmt: skip
    """One object made of several boxes, each (size, centre) in the object's space (a table, a chair)."""

    def make(bm: bmesh.types.BMesh) -> None:
        for size, centre in parts:
            bmesh.ops.create_cube(bm, size=1.0, matrix=Matrix.LocRotScale(centre, None, size))

    return mesh(name, make, at, mat, **kw)


def cylinder(name: str, radius: float, depth: float, at: Vec = (0, 0, 0), mat: bpy.types.Material | None = None, *,
             top: float | None = None, caps: bool = True, base: bool = True, segments: int = 24,
             **kw: object) -> bpy.types.Object:  # fmt: skip
    """A cylinder (a cone when `top` differs from `radius`) standing on Z; open ended without `caps`."""

    def make(bm: bmesh.types.BMesh) -> None:
        bmesh.ops.create_cone(
            bm, cap_ends=caps, cap_tris=False, segments=segments, radius1=radius,
            radius2=radius if top is None else top, depth=depth,
            matrix=Matrix.Translation((0, 0, _lift(depth, base))),
        )  # fmt: skip

    return mesh(name, make, at, mat, **kw)


def sphere(name: str, radius: float, at: Vec = (0, 0, 0), mat: bpy.types.Material | None = None, *,
           base: bool = False, **kw: object) -> bpy.types.Object:  # fmt: skip
    matrix = Matrix.Translation((0, 0, radius if base else 0.0))
    kw.setdefault("smooth", True)
    return mesh(
        name, lambda bm: bmesh.ops.create_uvsphere(bm, u_segments=24, v_segments=12, radius=radius, matrix=matrix),
        at, mat, **kw,
    )  # fmt: skip


def monkey(name: str, size: float, at: Vec = (0, 0, 0), mat: bpy.types.Material | None = None,
           **kw: object) -> bpy.types.Object:  # fmt: skip
    """Suzanne, about `size` across, looking down -Y, origin under her chin (she stands on `at`)."""

    def make(bm: bmesh.types.BMesh) -> None:
        bmesh.ops.create_monkey(bm, matrix=Matrix.Scale(size / 2.7, 4))
        bmesh.ops.translate(bm, verts=bm.verts, vec=(0, 0, -min(v.co.z for v in bm.verts)))

    return mesh(name, make, at, mat, smooth=True, **kw)


def empty(name: str, at: Vec = (0, 0, 0), *, parent: bpy.types.Object | None = None, group: str = "",
          rotate: Vec = (0, 0, 0)) -> bpy.types.Object:  # fmt: skip
    obj = bpy.data.objects.new(name, None)
    _place(obj, at, rotate, (1, 1, 1), parent, group)
    return obj


def _aim(obj: bpy.types.Object, target: Vec) -> None:
    obj.rotation_euler = (Vector(target) - obj.location).to_track_quat("-Z", "Y").to_euler()


def light(name: str, kind: str, energy: float, at: Vec, *, color: Vec = (1, 1, 1), aim: Vec | None = None,
          size: float | None = None, parent: bpy.types.Object | None = None, group: str = "Lights",
          ) -> bpy.types.Object:  # fmt: skip
    data = bpy.data.lights.new(name, kind)
    data.energy, data.color = energy, color
    if size is not None and kind == "AREA":
        data.size = size
    obj = bpy.data.objects.new(name, data)
    _place(obj, at, (0, 0, 0), (1, 1, 1), parent, group)
    if aim is not None:
        _aim(obj, aim)
    return obj


def camera(name: str, at: Vec, aim: Vec, lens: float = 50.0, *, active: bool = False,
           group: str = "Cameras") -> bpy.types.Object:  # fmt: skip
    obj = bpy.data.objects.new(name, bpy.data.cameras.new(name))
    obj.data.lens = lens
    _place(obj, at, (0, 0, 0), (1, 1, 1), None, group)
    _aim(obj, aim)
    if active:
        bpy.context.scene.camera = obj
    return obj


def world(color: Vec, strength: float = 1.0, name: str = "World") -> bpy.types.World:
    scene = bpy.context.scene
    w = scene.world = with_nodes(bpy.data.worlds.new(name))
    w.color = color
    background = surface_node(w, "BACKGROUND")
    background.inputs["Color"].default_value = (*color, 1.0)
    background.inputs["Strength"].default_value = strength
    return w


def keys(obj: bpy.types.Object, path: str, index: int, points: Sequence[tuple[float, float]],
         interpolation: str = "BEZIER") -> None:  # fmt: skip
    """Keyframes of one channel: (frame, value) pairs; rotation values in degrees."""
    for frame, value in points:
        getattr(obj, path)[index] = math.radians(value) if path == "rotation_euler" else value
        obj.keyframe_insert(path, index=index, frame=frame)
    for fc in fcurves(obj, path, index):
        for point in fc.keyframe_points:
            point.interpolation = interpolation
        fc.update()

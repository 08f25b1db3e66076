"""Read a live Blender scene into a `state.SceneState` (needs bpy).

Measured the same way before and after an edit, so the checks compare like with like: world
matrices and the bounds of the evaluated geometry (modifiers applied) from the depsgraph at the
current frame, material values from the Principled BSDF that renders (found as the add-on finds
it, `blender_addon.nodes`; else the viewport values), keys from the object's action
(`blender_addon.fcurves`), and for animated objects the world position of the
origin at every frame of their keys (the scene's frame is put back afterwards).
"""

from __future__ import annotations

import bpy
import numpy as np

from blender_addon.fcurves import fcurves
from blender_addon.nodes import surface_node
from training.eval.blender import state

MAX_TRACK_FRAMES = 1000
_MODIFIER_SETTINGS = ("width", "segments", "levels", "render_levels", "count", "thickness", "ratio")


def snapshot(scene: bpy.types.Scene) -> state.SceneState:
    layer = scene.view_layers[0] if bpy.context.scene != scene else bpy.context.view_layer
    layer.update()
    depsgraph = bpy.context.evaluated_depsgraph_get()
    in_layer = {o.as_pointer() for o in layer.objects}
    tracks = _tracks(scene)
    objects, materials = {}, {}
    for obj in scene.objects:
        for slot in obj.material_slots:
            if slot.material is not None and slot.material.name not in materials:
                materials[slot.material.name] = _material(slot.material)
        objects[obj.name] = _object(obj, depsgraph, obj.as_pointer() in in_layer, tracks.get(obj.name, ()))
    render = scene.render
    return state.SceneState(
        objects=objects,
        materials=materials,
        world=_world(scene.world),
        frame_start=scene.frame_start,
        frame_end=scene.frame_end,
        fps=render.fps / render.fps_base,
        frame_current=scene.frame_current,
        camera=scene.camera.name if scene.camera else None,
    )


def _object(obj: bpy.types.Object, depsgraph: bpy.types.Depsgraph, in_layer: bool, track: tuple) -> state.Object:
    matrix = obj.evaluated_get(depsgraph).matrix_world
    lo, hi, vertices = _bounds(obj, depsgraph)
    light = None
    if obj.type == "LIGHT":
        light = state.Light(obj.data.type, float(obj.data.energy), tuple(float(c) for c in obj.data.color))
    smooth = 0.0
    if obj.type == "MESH" and len(obj.data.polygons):
        flags = np.zeros(len(obj.data.polygons), dtype=bool)
        obj.data.polygons.foreach_get("use_smooth", flags)
        smooth = float(flags.mean())
    return state.Object(
        name=obj.name,
        type=obj.type,
        parent=obj.parent.name if obj.parent else None,
        matrix=tuple(float(v) for row in matrix for v in row),
        lo=lo,
        hi=hi,
        rendered=in_layer and not obj.hide_render and not any(c.hide_render for c in obj.users_collection),
        vertices=vertices,
        smooth=smooth,
        materials=tuple(s.material.name if s.material else None for s in obj.material_slots),
        modifiers=tuple(
            state.Modifier(m.name, m.type, {k: float(getattr(m, k)) for k in _MODIFIER_SETTINGS if hasattr(m, k)})
            for m in obj.modifiers
        ),
        light=light,
        lens=float(obj.data.lens) if obj.type == "CAMERA" else None,
        keys=_keys(obj),
        track=track,
    )


def _bounds(obj: bpy.types.Object, depsgraph: bpy.types.Depsgraph) -> tuple[state.Vec3, state.Vec3, int]:
    """World bounds of the evaluated mesh's vertices (exact, not the rotated local box), vertex count."""
    evaluated = obj.evaluated_get(depsgraph)
    m = np.array(evaluated.matrix_world, dtype=np.float64)
    if obj.type == "MESH":
        mesh = evaluated.to_mesh()
        try:
            co = np.zeros(len(mesh.vertices) * 3, dtype=np.float64)
            mesh.vertices.foreach_get("co", co)
        finally:
            evaluated.to_mesh_clear()
        if len(co):
            world = co.reshape(-1, 3) @ m[:3, :3].T + m[:3, 3]
            return tuple(world.min(axis=0).tolist()), tuple(world.max(axis=0).tolist()), len(co) // 3
    point = tuple(m[:3, 3].tolist())
    return point, point, 0


def _keys(obj: bpy.types.Object) -> dict[str, tuple[state.Key, ...]]:
    return {
        f"{fc.data_path}[{fc.array_index}]": tuple(
            state.Key(float(k.co[0]), float(k.co[1]), k.interpolation, k.easing) for k in fc.keyframe_points
        )
        for fc in fcurves(obj)
        if len(fc.keyframe_points)
    }


def _tracks(scene: bpy.types.Scene) -> dict[str, tuple]:
    """World origin of every keyed object at each frame of its keys' range, the frame restored after."""
    ranges = {}
    for obj in scene.objects:
        frames = [k.co[0] for fc in fcurves(obj) for k in fc.keyframe_points]
        if frames:
            ranges[obj.name] = (int(np.floor(min(frames))), int(np.ceil(max(frames))))
    if not ranges:
        return {}
    start, end = min(r[0] for r in ranges.values()), max(r[1] for r in ranges.values())
    step = max(1, (end - start) // MAX_TRACK_FRAMES + 1)
    frame, subframe = scene.frame_current, scene.frame_subframe
    out: dict[str, list] = {name: [] for name in ranges}
    try:
        for f in range(start, end + 1, step):
            scene.frame_set(f)
            for name, (lo, hi) in ranges.items():
                if lo <= f <= hi:
                    out[name].append((float(f), *(float(v) for v in scene.objects[name].matrix_world.translation)))
    finally:
        scene.frame_set(frame, subframe=subframe)
    return {name: tuple(points) for name, points in out.items()}


def _material(material: bpy.types.Material) -> state.Material:
    bsdf = surface_node(material, "BSDF_PRINCIPLED")
    if bsdf is None:  # what the viewport shows
        return state.Material(
            tuple(material.diffuse_color[:3]), float(material.diffuse_color[3]), float(material.roughness),
            float(material.metallic), (0.0, 0.0, 0.0), 0.0,
        )  # fmt: skip
    value = lambda socket: bsdf.inputs[socket].default_value  # noqa: E731
    return state.Material(
        base_color=tuple(float(c) for c in value("Base Color")[:3]),
        alpha=float(value("Alpha")),
        roughness=float(value("Roughness")),
        metallic=float(value("Metallic")),
        emission_color=tuple(float(c) for c in value("Emission Color")[:3]),
        emission_strength=float(value("Emission Strength")),
    )


def _world(world: bpy.types.World | None) -> state.World | None:
    if world is None:
        return None
    background = surface_node(world, "BACKGROUND")
    if background is None:
        return state.World(tuple(float(c) for c in world.color), 1.0)
    color = background.inputs["Color"].default_value
    return state.World(tuple(float(c) for c in color[:3]), float(background.inputs["Strength"].default_value))

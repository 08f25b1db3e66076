"""Build the built-in sample scene (a small living-room corner) with Blender and export it.

Run with a Python that has ``bpy`` (Blender as a module, 4.2 or newer), not the project's venv:

    /tmp/bpyenv/bin/python scripts/make_sample_scene.py --out examples/sample_scene

Writes OUT/scene.blend (compressed), OUT/scene.json (an evlm.scene.SceneGraph) and
OUT/views/view_{i}.png + view_{i}.json (evlm.scene.View), N Workbench orbit views. The checked-in
scene.blend is written by Blender 5, which older Blenders cannot read: the Blender tests on 4.2
rebuild it with `build_scene` and `set_render_settings`.
"""

from __future__ import annotations

import argparse
import json
import math
import re
import time
from collections.abc import Callable, Iterable
from pathlib import Path

# isort: off
import bpy  # first: bmesh and mathutils come with it
import bmesh
from mathutils import Matrix, Vector
# isort: on

from blender_addon.fcurves import fcurves
from blender_addon.nodes import with_nodes

Box = tuple[tuple[float, float, float], tuple[float, float, float]]  # center, size

MATERIALS: dict[str, dict] = {  # name: base color, roughness, metallic, emission
    "Floor_Mat": {"color": (0.55, 0.45, 0.35), "roughness": 0.6},
    "Wood": {"color": (0.45, 0.22, 0.08), "roughness": 0.5},
    "Fabric_Blue": {"color": (0.08, 0.2, 0.65), "roughness": 0.9},
    "Red_Rubber": {"color": (0.8, 0.05, 0.04), "roughness": 0.4},
    "Metal": {"color": (0.7, 0.7, 0.72), "roughness": 0.25, "metallic": 1.0},
    "Box_Green": {"color": (0.15, 0.55, 0.15), "roughness": 0.7},
    "Lampshade": {"color": (0.95, 0.85, 0.55), "roughness": 0.8, "emission": ((1.0, 0.8, 0.5), 2.0)},
}


def r4(value: float) -> float:
    return round(float(value), 4) + 0.0  # + 0.0 turns -0.0 into 0.0


def v4(values: Iterable[float]) -> list[float]:
    return [r4(v) for v in values]


def write_json(path: Path, data: dict) -> None:
    """Indented JSON with flat lists (vectors, matrices, colors) kept on one line."""
    text = json.dumps(data, indent=1)
    path.write_text(re.sub(r"\[[^\[\]{}]*\]", lambda m: " ".join(m.group().split()), text) + "\n")


def make_material(
    name: str, color: tuple, roughness: float, metallic: float = 0.0, emission: tuple | None = None
) -> bpy.types.Material:
    mat = with_nodes(bpy.data.materials.new(name))
    mat.diffuse_color = (*color, 1.0)  # what Workbench's MATERIAL color shows
    bsdf = mat.node_tree.nodes["Principled BSDF"]
    bsdf.inputs["Base Color"].default_value = (*color, 1.0)
    bsdf.inputs["Roughness"].default_value = mat.roughness = roughness
    bsdf.inputs["Metallic"].default_value = mat.metallic = metallic
    emission_color, strength = emission or ((0.0, 0.0, 0.0), 0.0)  # Blender's default emission color is white
    bsdf.inputs["Emission Color"].default_value = (*emission_color, 1.0)
    bsdf.inputs["Emission Strength"].default_value = strength
    return mat


def mesh_object(
    name: str,
    build: Callable[[bmesh.types.BMesh], None],
    materials: list[str],
    location=(0.0, 0.0, 0.0),
    rotation=(0.0, 0.0, 0.0),
    smooth: bool = False,
) -> bpy.types.Object:
    bm = bmesh.new()
    build(bm)
    mesh = bpy.data.meshes.new(name)
    bm.to_mesh(mesh)
    bm.free()
    if smooth:
        mesh.shade_smooth()
    for mat in materials:
        mesh.materials.append(bpy.data.materials[mat])
    obj = bpy.data.objects.new(name, mesh)
    obj.location, obj.rotation_euler = location, rotation
    bpy.context.scene.collection.objects.link(obj)
    return obj


def boxes(parts: list[Box], material_index: int = 0) -> Callable[[bmesh.types.BMesh], None]:
    def build(bm: bmesh.types.BMesh) -> None:
        for center, size in parts:
            verts = bmesh.ops.create_cube(bm, size=1.0, matrix=Matrix.LocRotScale(center, None, size))["verts"]
            for face in {f for v in verts for f in v.link_faces}:
                face.material_index = material_index

    return build


def build_lamp(bm: bmesh.types.BMesh) -> None:
    """Base disc, pole (slot 0, Metal) and a conical shade (slot 1, Lampshade)."""
    bmesh.ops.create_cone(
        bm, cap_ends=True, segments=24, radius1=0.2, radius2=0.2, depth=0.04, matrix=Matrix.Translation((0, 0, 0.02))
    )
    bmesh.ops.create_cone(
        bm, cap_ends=True, segments=12, radius1=0.02, radius2=0.02, depth=1.4, matrix=Matrix.Translation((0, 0, 0.72))
    )
    shade = bmesh.ops.create_cone(
        bm, cap_ends=True, segments=24, radius1=0.28, radius2=0.14, depth=0.32, matrix=Matrix.Translation((0, 0, 1.5))
    )["verts"]
    for face in {f for v in shade for f in v.link_faces}:
        face.material_index = 1


def add_light(name: str, kind: str, energy: float, color, location, rotation=(0.0, 0.0, 0.0)) -> None:
    light = bpy.data.lights.new(name, kind)
    light.energy, light.color = energy, color
    obj = bpy.data.objects.new(name, light)
    obj.location, obj.rotation_euler = location, rotation
    bpy.context.scene.collection.objects.link(obj)


def look_at(obj: bpy.types.Object, target: Vector) -> None:
    obj.rotation_euler = (target - obj.location).to_track_quat("-Z", "Y").to_euler()


def build_scene() -> None:
    bpy.ops.wm.read_factory_settings(use_empty=True)
    scene = bpy.context.scene
    scene.frame_start, scene.frame_end, scene.render.fps = 1, 48, 24
    for name, spec in MATERIALS.items():
        make_material(name, **spec)
    leg = 0.05
    mesh_object("Floor", boxes([((0, 0, -0.01), (3.1, 2.7, 0.02))]), ["Floor_Mat"], location=(-0.15, 0, 0))
    table = mesh_object(
        "Table",
        boxes(
            [((0, 0, 0.725), (1.2, 0.8, 0.05))]
            + [((sx * 0.55, sy * 0.35, 0.35), (leg, leg, 0.7)) for sx in (-1, 1) for sy in (-1, 1)]
        ),
        ["Wood"],
    )
    table.modifiers.new("Bevel", "BEVEL").width = 0.01
    mesh_object(
        "chair_02",
        boxes(
            [((0, 0, 0.45), (0.45, 0.45, 0.05)), ((0, -0.2, 0.72), (0.45, 0.05, 0.5))]
            + [((sx * 0.2, sy * 0.2, 0.21), (0.04, 0.04, 0.42)) for sx in (-1, 1) for sy in (-1, 1)]
        ),
        ["Fabric_Blue"],
        location=(0.1, -0.8, 0),
        rotation=(0, 0, 0.25),
    )
    mesh_object(
        "Cube.003",
        boxes([((0, 0, 0), (0.25, 0.2, 0.18))]),
        ["Box_Green"],
        location=(0.3, 0.1, 0.84),
        rotation=(0, 0, 0.4),
    )
    mesh_object("Lamp", build_lamp, ["Metal", "Lampshade"], location=(-1.3, 0.9, 0))
    add_light("Lamp_Light", "POINT", 150.0, (1.0, 0.85, 0.6), (-1.3, 0.9, 1.45))
    add_light("Sun", "SUN", 3.0, (1.0, 0.97, 0.9), (0, 0, 5), (math.radians(40), 0, math.radians(30)))

    def sphere(bm: bmesh.types.BMesh) -> None:
        bmesh.ops.create_uvsphere(bm, u_segments=24, v_segments=12, radius=0.15)

    ball = mesh_object("Sphere.001", sphere, ["Red_Rubber"], location=(1.0, 0.45, 1.2), smooth=True)
    ball.modifiers.new("Subdivision", "SUBSURF").levels = 1
    for frame, z in ((1, 1.2), (13, 0.15), (24, 0.8), (35, 0.15), (48, 0.45)):  # bounces, losing height
        ball.location.z = z
        ball.keyframe_insert("location", index=2, frame=frame)
    ball.location.z = 1.2

    cam = bpy.data.objects.new("Camera", bpy.data.cameras.new("Camera"))
    scene.collection.objects.link(cam)
    cam.location = (3.2, -3.2, 2.3)
    look_at(cam, Vector((0, 0, 0.6)))
    scene.camera = cam

    world = scene.world = with_nodes(bpy.data.worlds.new("World"))
    world.color = (0.45, 0.5, 0.6)  # Workbench background
    background = world.node_tree.nodes["Background"]
    background.inputs["Color"].default_value = (*world.color, 1.0)
    background.inputs["Strength"].default_value = 1.0
    scene.frame_set(1)


def set_render_settings(size: int) -> None:
    """The render settings scene.blend is saved with: Workbench, studio light, square `size` PNGs."""
    scene = bpy.context.scene
    scene.render.engine = "BLENDER_WORKBENCH"
    scene.display.shading.light, scene.display.shading.color_type = "STUDIO", "MATERIAL"
    scene.display.shading.show_shadows = True
    scene.view_settings.view_transform = "Standard"
    scene.render.resolution_x = scene.render.resolution_y = size
    scene.render.resolution_percentage = 100
    scene.render.image_settings.file_format, scene.render.image_settings.color_mode = "PNG", "RGB"
    scene.render.image_settings.compression = 100
    scene.render.use_stamp_date = scene.render.use_stamp_render_time = False  # byte-identical PNGs on reruns


def render_orbits(out: Path, size: int, count: int, elevation: float = math.radians(28)) -> None:
    scene = bpy.context.scene
    set_render_settings(size)
    corners = [o.matrix_world @ Vector(c) for o in scene.objects if o.type == "MESH" for c in o.bound_box]
    lo = Vector(tuple(min(c[k] for c in corners) for k in range(3)))
    hi = Vector(tuple(max(c[k] for c in corners) for k in range(3)))
    center, main_camera = (lo + hi) / 2, scene.camera
    (out / "views").mkdir(parents=True, exist_ok=True)
    for stale in (out / "views").glob("view_*"):  # from an earlier run with more views
        stale.unlink()
    for i in range(count):
        cam = bpy.data.objects.new(f"orbit_{i}", bpy.data.cameras.new(f"orbit_{i}"))
        scene.collection.objects.link(cam)
        azimuth = -math.pi / 4 + 2 * math.pi * i / count  # view 0 looks from where "Camera" does
        outward = Vector(
            (math.cos(elevation) * math.cos(azimuth), math.cos(elevation) * math.sin(azimuth), math.sin(elevation))
        )
        cam.location = center + outward
        look_at(cam, center)
        rot = cam.rotation_euler.to_matrix()
        right, up, forward = rot.col[0], rot.col[1], -rot.col[2]
        tan_half = math.tan(cam.data.angle / 2)
        # Closest distance at which every bounding-box corner falls inside the frustum, plus a margin.
        dist = max(
            max(abs((c - center).dot(right)), abs((c - center).dot(up))) / tan_half - (c - center).dot(forward)
            for c in corners
        )
        cam.location = center + outward * dist * 1.02
        scene.camera = cam
        bpy.context.view_layer.update()
        scene.render.filepath = str(out / "views" / f"view_{i}.png")
        bpy.ops.render.render(write_still=True)
        focal = cam.data.lens / cam.data.sensor_width * size  # sensor fit AUTO, square image
        view = {
            "label": f"orbit {i}",
            "width": size,
            "height": size,
            "frame": scene.frame_current,
            "pose": v4(v for row in cam.matrix_world for v in row),
            "intrinsics": v4((focal, focal, size / 2, size / 2)),
            "marks": [],
        }
        write_json(out / "views" / f"view_{i}.json", view)
        camera_data = cam.data
        bpy.data.objects.remove(cam)
        bpy.data.cameras.remove(camera_data)
    scene.camera, scene.render.filepath = main_camera, "//"  # no absolute path left in scene.blend


def scene_graph() -> dict:
    scene = bpy.context.scene
    depsgraph = bpy.context.evaluated_depsgraph_get()
    objects, meshes = [], 0
    for obj in scene.objects:
        mw = obj.matrix_world
        corners = (
            [mw @ Vector(c) for c in obj.evaluated_get(depsgraph).bound_box] if obj.type == "MESH" else [mw.translation]
        )
        lo, hi = [min(c[k] for c in corners) for k in range(3)], [max(c[k] for c in corners) for k in range(3)]
        meshes += obj.type == "MESH"
        objects.append(
            {
                "name": obj.name,
                "type": obj.type,
                "parent": obj.parent.name if obj.parent else None,
                "location": v4(mw.translation),
                "rotation": v4(mw.to_euler("XYZ")),
                "scale": v4(mw.to_scale()),
                "dimensions": v4(h - lo_ for lo_, h in zip(lo, hi, strict=True)),
                "bbox_min": v4(lo),
                "bbox_max": v4(hi),
                "visible": obj.visible_get() and not obj.hide_render,
                "materials": [s.material.name for s in obj.material_slots if s.material],
                "modifiers": [{"name": m.name, "type": m.type} for m in obj.modifiers],
                "mark": meshes if obj.type == "MESH" else None,
            }
        )
    materials = []
    for mat in bpy.data.materials:
        inputs = mat.node_tree.nodes["Principled BSDF"].inputs
        materials.append(
            {
                "name": mat.name,
                "base_color": v4(inputs["Base Color"].default_value),
                "roughness": r4(inputs["Roughness"].default_value),
                "metallic": r4(inputs["Metallic"].default_value),
                "emission_color": v4(inputs["Emission Color"].default_value[:3]),
                "emission_strength": r4(inputs["Emission Strength"].default_value),
                "alpha": r4(inputs["Alpha"].default_value),
            }
        )
    lights = [
        {"name": o.name, "type": o.data.type, "color": v4(o.data.color), "energy": r4(o.data.energy)}
        for o in scene.objects
        if o.type == "LIGHT"
    ]
    cameras = [
        {"name": o.name, "focal_length": r4(o.data.lens), "sensor_width": r4(o.data.sensor_width)}
        for o in scene.objects
        if o.type == "CAMERA"
    ]
    background = scene.world.node_tree.nodes["Background"].inputs
    animated = []
    for obj in scene.objects:
        anim = obj.animation_data
        if not (anim and anim.action):
            continue
        channels = [
            {
                "path": fc.data_path,
                "index": fc.array_index,
                "keyframes": [
                    {"frame": r4(k.co[0]), "value": r4(k.co[1]), "interpolation": k.interpolation, "easing": k.easing}
                    for k in fc.keyframe_points
                ],
            }
            for fc in fcurves(obj)
        ]
        animated.append({"object": obj.name, "channels": channels})
    return {
        "name": scene.name,
        "frame_current": scene.frame_current,
        "objects": objects,
        "materials": materials,
        "lights": lights,
        "cameras": cameras,
        "world": {
            "color": v4(background["Color"].default_value[:3]),
            "strength": r4(background["Strength"].default_value),
        },
        "animation": {
            "frame_start": scene.frame_start,
            "frame_end": scene.frame_end,
            "fps": r4(scene.render.fps / scene.render.fps_base),
            "objects": animated,
        },
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("examples/sample_scene"), help="output folder")
    parser.add_argument("--size", type=int, default=256, help="view width and height in pixels")
    parser.add_argument("--views", type=int, default=6, help="number of orbit views")
    args = parser.parse_args()
    out: Path = args.out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    build_scene()
    built = time.perf_counter()
    render_orbits(out, args.size, args.views)
    rendered = time.perf_counter() - built
    write_json(out / "scene.json", scene_graph())
    blend = out / "scene.blend"
    blend.unlink(missing_ok=True)  # no scene.blend1 backup
    bpy.ops.wm.save_as_mainfile(filepath=str(blend), compress=True)
    print(f"wrote {out}: {args.views} views in {rendered:.1f} s, total {time.perf_counter() - start:.1f} s")


if __name__ == "__main__":
    main()

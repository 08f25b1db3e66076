"""Build the built-in sample scene (a small living-room corner) with Blender and export it.

Run with a Python that has ``bpy`` (Blender as a module, 4.2 or newer), not the project's venv:

    /tmp/bpyenv/bin/python scripts/make_sample_scene.py --out examples/sample_scene

Writes OUT/scene.blend (compressed), and what the add-on's capture makes of it: OUT/scene.json
(an evlm.scene.SceneGraph) and OUT/views/view_{i}.png + view_{i}.json (evlm.scene.View), N
Workbench orbit views with set-of-marks. `--capture-only` captures the existing scene.blend again.
The checked-in scene.blend is written by Blender 5, which older Blenders cannot read: the Blender
tests on 4.2 rebuild it with `build_scene` and `set_render_settings`.
"""

from __future__ import annotations

import argparse
import json
import math
import re
import sys
import time
from collections.abc import Callable, Iterable
from pathlib import Path

# isort: off
import bpy  # first: bmesh and mathutils come with it
import bmesh
from mathutils import Matrix, Vector
# isort: on

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # blender_addon from the source tree
from blender_addon.nodes import with_nodes  # noqa: E402

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


def write_capture(out: Path, size: int, count: int) -> float:
    """The scene graph and the orbit views with set-of-marks, as the add-on captures them
    (`blender_addon.capture`): OUT/scene.json, OUT/views/view_{i}.png + .json. Returns seconds."""
    from blender_addon.capture import CaptureSettings, capture

    (out / "views").mkdir(parents=True, exist_ok=True)
    for stale in (out / "views").glob("view_*"):  # from an earlier run with more views
        stale.unlink()
    result = capture(bpy.context.scene, CaptureSettings(views=count, resolution=size))
    for i, (view, png) in enumerate(result.views):
        (out / "views" / f"view_{i}.png").write_bytes(png)
        write_json(out / "views" / f"view_{i}.json", rounded(view.model_dump()))
    write_json(out / "scene.json", rounded(result.scene.model_dump()))
    return result.timings["total"]


def rounded(value: object) -> object:
    """Floats to 4 decimals, for files that read well and diff well."""
    if isinstance(value, float):
        return r4(value)
    if isinstance(value, list):
        return [rounded(v) for v in value]
    if isinstance(value, dict):
        return {k: rounded(v) for k, v in value.items()}
    return value


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("examples/sample_scene"), help="output folder")
    parser.add_argument("--size", type=int, default=256, help="view width and height in pixels")
    parser.add_argument("--views", type=int, default=6, help="number of orbit views")
    parser.add_argument(
        "--capture-only", action="store_true", help="keep OUT/scene.blend; only capture it again (json and views)"
    )
    args = parser.parse_args()
    out: Path = args.out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    blend = out / "scene.blend"
    if args.capture_only:
        bpy.ops.wm.open_mainfile(filepath=str(blend))
    else:
        build_scene()
        set_render_settings(args.size)  # saved in scene.blend; capture puts back what it changes
    rendered = write_capture(out, args.size, args.views)
    if not args.capture_only:
        blend.unlink(missing_ok=True)  # no scene.blend1 backup
        bpy.ops.wm.save_as_mainfile(filepath=str(blend), compress=True)
    print(f"wrote {out}: {args.views} views in {rendered:.1f} s, total {time.perf_counter() - start:.1f} s")


if __name__ == "__main__":
    main()

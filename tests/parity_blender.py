"""The Blender half of the train/serve parity test (tests/test_parity.py); run with the Blender Python:

    .venv-blender/bin/python tests/parity_blender.py OUT

Builds a scene with the data API (parents, a parent that is an Empty, two lights, two cameras,
an animated ball, a wall that hides another ball from orbit view 0, a hidden object), captures it
with the add-on's capture (what serving sends: marked and clean views), and exports it to glTF
(what the mesh renderer and `evlm-batch` read). Writes OUT/scene.glb, OUT/capture.json (the scene
graph and the views' metadata) and OUT/clean_N.png.
"""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path

# isort: off
import bpy  # first: bmesh and mathutils come with it
import addon_utils
import bmesh

# isort: on

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests" / "blender")]
from conftest import box, mesh_object  # noqa: E402  (the Blender suite's scene helpers)
from conftest import material as bsdf_material  # noqa: E402

from blender_addon.capture import CaptureSettings, capture  # noqa: E402
from blender_addon.nodes import with_nodes  # noqa: E402

VIEWS, SIZE = 4, 256


def mesh(name: str, build, mat: bpy.types.Material | None, location=(0, 0, 0), rotation_z=0.0, parent=None):  # noqa: ANN001, ANN201
    obj = mesh_object(bpy.context.scene, name, build, mat)
    obj.parent = parent
    obj.location, obj.rotation_euler.z = location, rotation_z
    return obj


def material(name: str, rgb: tuple, roughness: float = 0.5, metallic: float = 0.0) -> bpy.types.Material:
    """Coloured the usual way: the Principled BSDF only (the viewport colour stays default)."""
    return bsdf_material(name, rgb, viewport=False, Roughness=roughness, Metallic=metallic)


def build() -> bpy.types.Scene:
    bpy.ops.wm.read_factory_settings(use_empty=True)
    scene = bpy.context.scene
    scene.frame_start, scene.frame_end = 1, 24
    mesh("Ground", box((3.8, 3.8, 0.1)), material("Ground_Mat", (0.4, 0.36, 0.3), 0.8), (0, 0, -0.05))
    crate = mesh("Crate", box((0.8, 0.6, 0.7)), material("Crate_Red", (0.8, 0.05, 0.03), 0.3, 0.2),
                 (1.1, -0.6, 0.35), math.radians(20))  # fmt: skip
    mesh("Crate_Lid", box((0.7, 0.5, 0.08)), material("Lid_Yellow", (0.85, 0.7, 0.05)), (0, 0, 0.45), 0.0, crate)
    # View 0 looks from azimuth -45 degrees; the wall faces it and the small ball sits behind it.
    mesh("Wall", box((1.6, 0.2, 1.3)), material("Wall_White", (0.8, 0.8, 0.78)), (-0.4, 0.4, 0.65), math.radians(45))
    mesh("Hidden_Ball", lambda bm: bmesh.ops.create_uvsphere(bm, u_segments=24, v_segments=12, radius=0.18),
         material("Ball_Green", (0.05, 0.6, 0.08)), (-0.85, 0.85, 0.18))  # fmt: skip
    ball = mesh("Bouncing_Ball", lambda bm: bmesh.ops.create_uvsphere(bm, u_segments=24, v_segments=12, radius=0.25),
                material("Ball_Blue", (0.03, 0.1, 0.8), 0.4), (1.2, 1.1, 0.25))  # fmt: skip
    for frame, z in ((1, 0.25), (12, 1.4), (24, 0.25)):
        ball.location.z = z
        ball.keyframe_insert("location", index=2, frame=frame)
    rig = bpy.data.objects.new("Rig", None)  # an Empty: glTF keeps it as a node without a mesh
    scene.collection.objects.link(rig)
    rig.location = (-1.4, -1.2, 0.0)
    mesh("Cone", lambda bm: bmesh.ops.create_cone(bm, cap_ends=True, segments=24, radius1=0.3, radius2=0.0, depth=0.8),
         material("Cone_Orange", (0.9, 0.3, 0.02)), (0, 0, 0.4), 0.0, rig)  # fmt: skip
    hidden = mesh("Stashed_Box", box((0.3, 0.3, 0.3)), material("Stash_Grey", (0.5, 0.5, 0.5)), (2.0, 2.0, 0.15))
    hidden.hide_render = True
    for name, kind, energy, location in (("Key_Light", "AREA", 400.0, (2, -2, 3)), ("Sun", "SUN", 3.0, (0, 0, 5))):
        light = bpy.data.objects.new(name, bpy.data.lights.new(name, kind))
        light.data.energy = energy
        light.location = location
        scene.collection.objects.link(light)
    for name, lens, location in (("Shot_Cam", 35.0, (6, -6, 4)), ("Side_Cam", 50.0, (-6, -2, 2))):
        cam = bpy.data.objects.new(name, bpy.data.cameras.new(name))
        cam.data.lens, cam.location = lens, location
        scene.collection.objects.link(cam)
    scene.camera = bpy.data.objects["Shot_Cam"]
    scene.world = with_nodes(bpy.data.worlds.new("Sky"))
    scene.world.node_tree.nodes["Background"].inputs["Color"].default_value = (0.3, 0.35, 0.45, 1.0)
    scene.frame_set(1)
    return scene


def main() -> None:
    out = Path(sys.argv[1])
    out.mkdir(parents=True, exist_ok=True)
    scene = build()
    marked = capture(scene, CaptureSettings(views=VIEWS, resolution=SIZE))
    clean = capture(scene, CaptureSettings(views=VIEWS, resolution=SIZE, marks=False))
    for i, (_, png) in enumerate(clean.views):
        (out / f"clean_{i}.png").write_bytes(png)
    data = {"scene": marked.scene.model_dump(), "views": [v.model_dump() for v, _ in marked.views]}
    (out / "capture.json").write_text(json.dumps(data))
    addon_utils.enable("io_scene_gltf2", default_set=True)
    bpy.ops.export_scene.gltf(
        filepath=str(out / "scene.glb"), export_format="GLB", use_renderable=True, export_apply=True,
        export_yup=True, export_cameras=False, export_lights=False, export_animations=False,
    )  # fmt: skip


if __name__ == "__main__":
    main()

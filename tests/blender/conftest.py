"""Shared fixtures for the tests that run in real Blender (`.venv-blender`, bpy 5.0.1).

Run with `.venv-blender/bin/python -m pytest -q tests/blender`. In a Python without bpy (the
main `.venv`) this folder is skipped at collection, so a plain `pytest` still works there.

Fixtures (every scene fixture starts from Blender's factory settings, so tests never see each
other's data):

- `factory_scene`: an empty scene (`read_factory_settings(use_empty=True)`): no objects, no
  world, factory render settings (EEVEE, 1920x1080). Returns `bpy.context.scene`.
- `animated_scene`: a small scene built with `bpy.data` (no operators), described by
  `AnimatedScene` below, left at frame 5 with two objects selected. Returns an `AnimatedScene`.
- `sample_blend`: the path of the built-in sample (`examples/sample_scene/scene.blend`, a
  living-room corner with a bouncing ball). Blender 5 wrote it and older Blenders cannot read
  it, so there it is rebuilt once per session by `scripts/make_sample_scene.py`, which made it.
- `sample_scene`: that file opened. Returns the scene.
- `scene_state`: a function `state(scene) -> dict`: everything a test may want to see unchanged
  (frame, camera, selection, active object, object transforms, render / image / colour
  management / display settings, data-block counts). Compare two calls with `==`.
"""

from __future__ import annotations

import importlib.util
import math
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

try:
    # isort: off
    import bpy
    import bmesh
    from mathutils import Matrix, Vector
    # isort: on

    from blender_addon.fcurves import fcurves
    from blender_addon.nodes import with_nodes
except ImportError:  # not in Blender: skip this folder
    bpy = None
    collect_ignore_glob = ["*.py"]

SAMPLE_BLEND = Path(__file__).resolve().parents[2] / "examples" / "sample_scene" / "scene.blend"


@dataclass
class AnimatedScene:
    """The `animated_scene` fixture. Frames 1-24 at 30/1.001 fps, current frame 5.

    Objects (all visible in renders unless said otherwise):
    - `Ground`: a 4 x 4 x 0.1 m slab under the origin (top at z = 0), material `Ground_Grey`
      (no node tree output: the material's viewport values are the truth).
    - `Crate`: a 1 m cube at (1, 0.5, 0.5), rotated 30° about Z, scaled (1.2, 1, 1), with a
      `Bevel` modifier, material `Crate_Red` (Principled: base (0.8, 0.05, 0.03), roughness 0.3,
      metallic 0.2, emission (0.1, 0.2, 0.3) x 1.5, alpha 0.9).
    - `Crate_Lid`: a 0.6 x 0.6 x 0.1 m slab parented to `Crate`, 0.6 m above its origin,
      material `Lid_Yellow`.
    - `Ball`: a sphere of radius 0.3, material `Ball_Blue`, animated: location z keys at frames
      1, 12, 24 (values 0.3, 1.5, 0.3; interpolations BEZIER, LINEAR, CONSTANT; easing of the
      middle key EASE_IN_OUT) and location x keys at 1 and 24 (-1.2 and -0.2, LINEAR).
    - `Hidden_Box`: hidden from renders (`hide_render`), so not visible and not marked.
    - `Spare_Box`: in collection `Stash`, excluded from the view layer: not visible.
    - `Key_Light` (AREA, 500 W, color (1, 0.9, 0.8)) and `Sun` (SUN, 3 W/m²).
    - `Shot_Cam`: the scene camera, 35 mm, at (6, -6, 4) looking at (0, 0, 0.5).
    World `Sky`: background (0.3, 0.4, 0.5), strength 0.8 (also its viewport color).
    Selection: `Crate` and `Ball` selected, `Ball` active.
    """

    scene: Any  # bpy.types.Scene
    objects: dict[str, Any]  # name: bpy.types.Object

    FRAME_START, FRAME_END, FRAME_CURRENT = 1, 24, 5
    FPS = 30 / 1.001
    BALL_Z_KEYS = ((1, 0.3, "BEZIER", "AUTO"), (12, 1.5, "LINEAR", "EASE_IN_OUT"), (24, 0.3, "CONSTANT", "AUTO"))
    BALL_X_KEYS = ((1, -1.2, "LINEAR", "AUTO"), (24, -0.2, "LINEAR", "AUTO"))
    COLORS = {  # base colors (linear RGB) of the materials
        "Ground_Grey": (0.35, 0.35, 0.35),
        "Crate_Red": (0.8, 0.05, 0.03),
        "Lid_Yellow": (0.8, 0.7, 0.05),
        "Ball_Blue": (0.03, 0.1, 0.8),
    }
    WORLD_COLOR, WORLD_STRENGTH = (0.3, 0.4, 0.5), 0.8


def _factory() -> Any:
    bpy.ops.wm.read_factory_settings(use_empty=True)
    return bpy.context.scene


@pytest.fixture
def factory_scene() -> Any:
    return _factory()


def _material(name: str, color: tuple[float, float, float], **principled: Any) -> Any:
    mat = with_nodes(bpy.data.materials.new(name))
    mat.diffuse_color = (*color, 1.0)  # what Workbench shows
    nodes = mat.node_tree.nodes
    bsdf = nodes["Principled BSDF"]
    bsdf.inputs["Base Color"].default_value = (*color, 1.0)
    for socket, value in principled.items():
        bsdf.inputs[socket].default_value = value
    return mat


def _mesh_object(scene: Any, name: str, build: Callable[[Any], None], material: Any, collection: Any = None) -> Any:
    bm = bmesh.new()
    build(bm)
    mesh = bpy.data.meshes.new(name)
    bm.to_mesh(mesh)
    bm.free()
    if material is not None:
        mesh.materials.append(material)
    obj = bpy.data.objects.new(name, mesh)
    (collection or scene.collection).objects.link(obj)
    return obj


def _box(size: tuple[float, float, float], center: tuple[float, float, float] = (0, 0, 0)) -> Callable[[Any], None]:
    return lambda bm: bmesh.ops.create_cube(bm, size=1.0, matrix=Matrix.LocRotScale(center, None, size))


def build_animated_scene() -> AnimatedScene:
    """Build the `animated_scene` contents into a fresh factory-empty file (see AnimatedScene)."""
    scene = _factory()
    spec = AnimatedScene
    scene.frame_start, scene.frame_end = spec.FRAME_START, spec.FRAME_END
    scene.render.fps, scene.render.fps_base = 30, 1.001
    colors = spec.COLORS
    ground_mat = with_nodes(bpy.data.materials.new("Ground_Grey"))
    ground_mat.diffuse_color = (*colors["Ground_Grey"], 1.0)
    ground_mat.roughness, ground_mat.metallic = 0.7, 0.0
    tree = ground_mat.node_tree
    tree.nodes.remove(tree.nodes["Principled BSDF"])  # no BSDF: the viewport values describe it
    crate_mat = _material(
        "Crate_Red",
        colors["Crate_Red"],
        Roughness=0.3,
        Metallic=0.2,
        Alpha=0.9,
        **{"Emission Color": (0.1, 0.2, 0.3, 1.0), "Emission Strength": 1.5},
    )
    lid_mat = _material("Lid_Yellow", colors["Lid_Yellow"])
    ball_mat = _material("Ball_Blue", colors["Ball_Blue"], Roughness=0.4)

    objects = {}
    objects["Ground"] = _mesh_object(scene, "Ground", _box((4, 4, 0.1), (0, 0, -0.05)), ground_mat)
    crate = objects["Crate"] = _mesh_object(scene, "Crate", _box((1, 1, 1)), crate_mat)
    crate.location, crate.rotation_euler, crate.scale = (1, 0.5, 0.5), (0, 0, math.radians(30)), (1.2, 1, 1)
    crate.modifiers.new("Bevel", "BEVEL").width = 0.05
    lid = objects["Crate_Lid"] = _mesh_object(scene, "Crate_Lid", _box((0.6, 0.6, 0.1)), lid_mat)
    lid.parent = crate
    lid.location = (0, 0, 0.6)

    def sphere(bm: Any) -> None:
        bmesh.ops.create_uvsphere(bm, u_segments=24, v_segments=12, radius=0.3)

    ball = objects["Ball"] = _mesh_object(scene, "Ball", sphere, ball_mat)
    for index, keys in ((2, spec.BALL_Z_KEYS), (0, spec.BALL_X_KEYS)):
        for frame, value, _, _ in keys:
            ball.location[index] = value
            ball.keyframe_insert("location", index=index, frame=frame)
    for fc in fcurves(ball):
        keys = spec.BALL_Z_KEYS if fc.array_index == 2 else spec.BALL_X_KEYS
        for point, (_, _, interpolation, easing) in zip(fc.keyframe_points, keys, strict=True):
            point.interpolation, point.easing = interpolation, easing

    hidden = objects["Hidden_Box"] = _mesh_object(scene, "Hidden_Box", _box((0.3, 0.3, 0.3)), None)
    hidden.location, hidden.hide_render = (-1.5, 1.5, 0.15), True
    stash = bpy.data.collections.new("Stash")
    scene.collection.children.link(stash)
    spare = objects["Spare_Box"] = _mesh_object(scene, "Spare_Box", _box((0.3, 0.3, 0.3)), None, stash)
    spare.location = (1.5, -1.5, 0.15)
    bpy.context.view_layer.layer_collection.children["Stash"].exclude = True

    for name, kind, energy, color, location in (
        ("Key_Light", "AREA", 500.0, (1.0, 0.9, 0.8), (2, -2, 3)),
        ("Sun", "SUN", 3.0, (1.0, 1.0, 1.0), (0, 0, 5)),
    ):
        light = bpy.data.lights.new(name, kind)
        light.energy, light.color = energy, color
        obj = objects[name] = bpy.data.objects.new(name, light)
        obj.location = location
        scene.collection.objects.link(obj)

    cam = objects["Shot_Cam"] = bpy.data.objects.new("Shot_Cam", bpy.data.cameras.new("Shot_Cam"))
    cam.data.lens = 35.0
    scene.collection.objects.link(cam)
    cam.location = (6, -6, 4)
    cam.rotation_euler = (Vector((0, 0, 0.5)) - cam.location).to_track_quat("-Z", "Y").to_euler()
    scene.camera = cam

    world = scene.world = with_nodes(bpy.data.worlds.new("Sky"))
    world.color = spec.WORLD_COLOR
    background = world.node_tree.nodes["Background"]
    background.inputs["Color"].default_value = (*spec.WORLD_COLOR, 1.0)
    background.inputs["Strength"].default_value = spec.WORLD_STRENGTH

    scene.frame_set(spec.FRAME_CURRENT)
    layer = bpy.context.view_layer
    for name in ("Crate", "Ball"):
        objects[name].select_set(True)
    layer.objects.active = ball
    return AnimatedScene(scene=scene, objects=objects)


@pytest.fixture
def animated_scene() -> AnimatedScene:
    return build_animated_scene()


@pytest.fixture(scope="session")
def sample_blend(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if bpy.app.version >= (5, 0, 0):
        return SAMPLE_BLEND
    spec = importlib.util.spec_from_file_location("make_sample_scene", ROOT / "scripts" / "make_sample_scene.py")
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    script.build_scene()
    script.set_render_settings(256)  # as main() leaves them in the saved file
    path = tmp_path_factory.mktemp("sample") / "scene.blend"
    bpy.ops.wm.save_as_mainfile(filepath=str(path), compress=True)
    return path


@pytest.fixture
def sample_scene(sample_blend: Path) -> Any:
    bpy.ops.wm.open_mainfile(filepath=str(sample_blend))
    return bpy.context.scene


def rna_values(struct: Any) -> dict[str, Any]:
    """Every plain (non-pointer, non-collection) property of an RNA struct, as comparable values."""
    out = {}
    for prop in struct.bl_rna.properties:
        if prop.identifier == "rna_type" or prop.type in {"POINTER", "COLLECTION"}:
            continue
        value = getattr(struct, prop.identifier)
        out[prop.identifier] = tuple(value) if hasattr(value, "__len__") and not isinstance(value, str) else value
    return out


def datablock_counts() -> dict[str, int]:
    """How many of each kind of data-block `bpy.data` holds (objects, cameras, images, ...)."""
    return {
        name: len(getattr(bpy.data, name))
        for name in dir(bpy.data)
        if isinstance(getattr(bpy.data, name, None), bpy.types.bpy_prop_collection)
    }


def state(scene: Any) -> dict[str, Any]:
    layer = bpy.context.view_layer
    structs = {
        "render": scene.render,
        "image_settings": scene.render.image_settings,
        "view_settings": scene.view_settings,
        "display": scene.display,
        "shading": scene.display.shading,
        "cycles": getattr(scene, "cycles", None),
        "eevee": getattr(scene, "eevee", None),
    }
    return {
        "frame": (scene.frame_current, scene.frame_subframe),
        "camera": scene.camera.name if scene.camera else None,
        "active": layer.objects.active.name if layer.objects.active else None,
        "selected": sorted(o.name for o in layer.objects if o.select_get()),
        "objects": {
            o.name: [tuple(round(v, 6) for v in row) for row in o.matrix_world] + [tuple(o.location)]
            for o in scene.objects
        },
        "images": sorted(i.name for i in bpy.data.images),
        "datablocks": datablock_counts(),
        **{name: rna_values(s) for name, s in structs.items() if s is not None},
    }


@pytest.fixture
def scene_state() -> Callable[[Any], dict[str, Any]]:
    return state


# ---------------------------------------------------------------------- a real evlm-server
ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:  # the shared helpers in tests/
    sys.path.insert(0, str(ROOT))
from tests.server_process import serving  # noqa: E402


@pytest.fixture(scope="session")
def endpoint(tmp_path_factory):  # noqa: ANN001, ANN201
    """One evlm-server process with the tiny random checkpoint for the whole Blender session."""
    model = tmp_path_factory.getbasetemp() / "tiny-qwen2-vl"
    subprocess.run(
        [str(ROOT / ".venv/bin/python"), "scripts/make_tiny_checkpoint.py", "--out", str(model)],
        cwd=ROOT, check=True, capture_output=True,
    )  # fmt: skip
    args = ("--model", str(model), "--device", "cpu", "--max-reasoning-tokens", "32", "--max-answer-tokens", "300")
    with serving(tmp_path_factory.mktemp("server"), *args) as endpoint:
        yield endpoint

"""blender_addon.capture in real Blender: the scene graph, the rendered views and their marks, and
a scene left exactly as it was. Small renders (64-128 px) keep it fast."""

from __future__ import annotations

import colorsys
import io
import itertools
import json
import math
from collections.abc import Callable
from typing import Any

# isort: off
import bpy  # first: bmesh comes with it
import bmesh

# isort: on
import numpy as np
import pytest
from conftest import SAMPLE_BLEND, AnimatedScene, box, material, mesh_object
from mathutils import Matrix
from PIL import Image

from blender_addon import capture as capture_module
from blender_addon.capture import Capture, CaptureRun, CaptureSettings, capture, extract_scene_graph
from blender_addon.nodes import with_nodes
from evlm.views import camera_intrinsics, frame_samples, project_box

StateFn = Callable[[Any], dict[str, Any]]  # the scene_state fixture


def rgb(blob: bytes) -> np.ndarray:
    img = Image.open(io.BytesIO(blob), formats=["PNG"])
    assert img.mode == "RGB"
    return np.asarray(img).astype(int)


def colour_mask(img: np.ndarray, name: str) -> np.ndarray:
    """Pixels clearly of a material's hue (Workbench shades them, so compare channels, not values)."""
    r, g, b = img[..., 0], img[..., 1], img[..., 2]
    if name == "Crate_Red":
        return (r > g + 60) & (r > b + 60)
    if name == "Ball_Blue":
        return (b > r + 60) & (b > g + 40)
    raise ValueError(name)


def pixel_box(box: list[float], width: int, height: int, pad: int = 2) -> tuple[int, int, int, int]:
    x0, y0, x1, y1 = box
    return (
        max(int(math.floor(x0 * width)) - pad, 0),
        max(int(math.floor(y0 * height)) - pad, 0),
        min(int(math.ceil(x1 * width)) + pad, width),
        min(int(math.ceil(y1 * height)) + pad, height),
    )


# ---------------------------------------------------------------- scene graph


def test_scene_graph_matches_the_scene(animated_scene: AnimatedScene) -> None:
    spec, objects = AnimatedScene, animated_scene.objects
    graph = extract_scene_graph(animated_scene.scene)
    assert graph.name == animated_scene.scene.name and graph.frame_current == spec.FRAME_CURRENT
    assert sorted(graph.object_names()) == sorted(objects)

    crate = graph.get_object("Crate")
    assert crate.type == "MESH" and crate.parent is None
    assert crate.location == pytest.approx([1, 0.5, 0.5]) and crate.scale == pytest.approx([1.2, 1, 1])
    assert crate.rotation == pytest.approx([0, 0, math.radians(30)], abs=1e-6)
    assert crate.modifiers[0].model_dump() == {"name": "Bevel", "type": "BEVEL"}
    assert crate.materials == ["Crate_Red"]
    # World bounds of the rotated, scaled 1 m cube: half extents 0.6 cos30 + 0.5 sin30, 0.6 sin30 + 0.5 cos30,
    # less what the 5 cm bevel cuts off the corners: the box of the evaluated vertices, not of the bounding box.
    hx, hy = 0.6 * math.cos(math.pi / 6) + 0.5 * 0.5, 0.6 * 0.5 + 0.5 * math.cos(math.pi / 6)
    assert crate.bbox_min[2] == pytest.approx(0, abs=1e-6) and crate.bbox_max[2] == pytest.approx(1, abs=1e-6)
    for lo, hi, half, centre in (
        (crate.bbox_min[0], crate.bbox_max[0], hx, 1),
        (crate.bbox_min[1], crate.bbox_max[1], hy, 0.5),
    ):
        assert centre - half < lo < centre - half + 0.05 and centre + half - 0.05 < hi < centre + half
    mesh = objects["Crate"].evaluated_get(bpy.context.evaluated_depsgraph_get()).to_mesh()
    world = np.array([objects["Crate"].matrix_world @ v.co for v in mesh.vertices])
    assert crate.bbox_min == pytest.approx(world.min(axis=0).tolist(), abs=1e-5)
    assert crate.bbox_max == pytest.approx(world.max(axis=0).tolist(), abs=1e-5)
    assert crate.dimensions == pytest.approx((world.max(axis=0) - world.min(axis=0)).tolist(), abs=1e-5)

    lid = graph.get_object("Crate_Lid")
    assert lid.parent == "Crate"
    expected = objects["Crate"].matrix_world @ Matrix.Translation((0, 0, 0.6))
    assert lid.location == pytest.approx(list(expected.translation), abs=1e-6)  # world, not local
    assert lid.location == pytest.approx([1, 0.5, 1.1], abs=1e-6)

    ball = graph.get_object("Ball")  # at frame 5, between its keys
    assert ball.location == pytest.approx(list(objects["Ball"].matrix_world.translation), abs=1e-6)
    assert ball.dimensions == pytest.approx([0.6, 0.6, 0.6], abs=1e-3)

    assert [graph.get_object(n).visible for n in ("Hidden_Box", "Spare_Box", "Ground")] == [False, False, True]
    assert graph.get_object("Spare_Box").location == pytest.approx([1.5, -1.5, 0.15])  # not evaluated, still right
    marks = {o.name: o.mark for o in graph.objects if o.mark is not None}
    assert marks == {"Ball": 1, "Crate": 2, "Crate_Lid": 3, "Ground": 4}  # visible geometry, numbered by name

    materials = {m.name: m for m in graph.materials}
    assert sorted(materials) == sorted(spec.COLORS)  # the materials in the scene's slots
    red = materials["Crate_Red"]
    assert red.base_color == pytest.approx([0.8, 0.05, 0.03, 1])
    assert (red.roughness, red.metallic, red.alpha) == pytest.approx((0.3, 0.2, 0.9))
    assert red.emission_color == pytest.approx([0.1, 0.2, 0.3]) and red.emission_strength == pytest.approx(1.5)
    grey = materials["Ground_Grey"]  # no Principled BSDF: the viewport values
    assert grey.base_color == pytest.approx([0.35, 0.35, 0.35, 1]) and grey.roughness == pytest.approx(0.7)

    lights = {light.name: light for light in graph.lights}
    assert (lights["Key_Light"].type, lights["Key_Light"].energy) == ("AREA", 500)
    assert lights["Key_Light"].color == pytest.approx([1, 0.9, 0.8])
    assert (lights["Sun"].type, lights["Sun"].energy) == ("SUN", 3)
    assert [(c.name, c.focal_length, c.sensor_width) for c in graph.cameras] == [("Shot_Cam", 35, 36)]
    assert graph.world.color == pytest.approx(list(spec.WORLD_COLOR)) and graph.world.strength == pytest.approx(0.8)

    anim = graph.animation
    assert (anim.frame_start, anim.frame_end, anim.fps) == (1, 24, pytest.approx(spec.FPS))
    assert [a.object for a in anim.objects] == ["Ball"]
    channels = {(c.path, c.index): c for c in anim.objects[0].channels}
    assert sorted(channels) == [("location", 0), ("location", 2)]
    for index, keys in ((2, spec.BALL_Z_KEYS), (0, spec.BALL_X_KEYS)):
        got = [(k.frame, k.value, k.interpolation, k.easing) for k in channels[("location", index)].keyframes]
        assert got == [(f, pytest.approx(v), i, e) for f, v, i, e in keys]


def test_scene_graph_of_the_sample_matches_its_json(sample_scene: bpy.types.Scene) -> None:
    """The sample's scene.json was written by scripts/make_sample_scene.py: the same scene, read apart."""
    expected = json.loads((SAMPLE_BLEND.parent / "scene.json").read_text())
    graph = extract_scene_graph(sample_scene).model_dump()
    assert [o["name"] for o in graph["objects"]] == [o["name"] for o in expected["objects"]]
    for ours, theirs in zip(graph["objects"], expected["objects"], strict=True):
        for key in ("type", "parent", "visible", "materials", "modifiers", "mark"):
            assert ours[key] == theirs[key], (ours["name"], key)
        for key in ("location", "rotation", "scale", "bbox_min", "bbox_max"):
            assert ours[key] == pytest.approx(theirs[key], abs=2e-4), (ours["name"], key)
    for kind in ("materials", "lights", "cameras"):  # materials come in slot order here, by name there
        by_name = {item["name"]: item for item in graph[kind]}
        assert sorted(by_name) == sorted(item["name"] for item in expected[kind])
        for theirs in expected[kind]:
            ours = by_name[theirs["name"]]
            assert ours.keys() == theirs.keys()
            for key, value in theirs.items():
                assert ours[key] == (value if isinstance(value, str) else pytest.approx(value, abs=1e-4)), key
    assert graph["world"]["color"] == pytest.approx(expected["world"]["color"], abs=1e-4)
    assert graph["world"]["strength"] == pytest.approx(expected["world"]["strength"])
    keys = graph["animation"]["objects"][0]["channels"][0]["keyframes"]
    assert [(k["frame"], round(k["value"], 4)) for k in keys] == [
        (k["frame"], k["value"]) for k in expected["animation"]["objects"][0]["channels"][0]["keyframes"]
    ]


@pytest.mark.skipif(bpy.app.version < (5, 0, 0), reason="Blender before 5 cuts names at 63 bytes itself")
def test_names_longer_than_the_contract_are_refused(factory_scene: bpy.types.Scene) -> None:
    obj = bpy.data.objects.new("x" * 200, None)  # Blender 5 names hold 255 bytes, as the contract's
    factory_scene.collection.objects.link(obj)
    assert extract_scene_graph(factory_scene).objects[0].name == "x" * 200
    factory_scene.name = "s" * 70  # a scene name is at most 63 characters in the contract
    with pytest.raises(ValueError, match="scene name 's+' is longer than 63 characters"):
        extract_scene_graph(factory_scene)


# ---------------------------------------------------------------- views


def test_orbit_views_show_the_objects_where_the_marks_say(animated_scene: AnimatedScene) -> None:
    size = 128
    result = capture(animated_scene.scene, CaptureSettings(views=4, resolution=size, marks=True))
    assert isinstance(result, Capture) and len(result.views) == 4
    assert set(result.timings) == {"scene_graph", "plan", "render", "ids", "marks", "encode", "total"}
    k = camera_intrinsics(size, size, 50)
    for i, (view, blob) in enumerate(result.views):
        assert (view.label, view.frame, view.width, view.height) == (
            f"orbit {i}",
            AnimatedScene.FRAME_CURRENT,
            128,
            128,
        )
        assert view.intrinsics == pytest.approx(k)
        rot = np.array(view.pose).reshape(4, 4)[:3, :3]
        np.testing.assert_allclose(rot @ rot.T, np.eye(3), atol=1e-6)
        img = rgb(blob)
        assert img.shape == (size, size, 3)
        marks = {m.object: m for m in view.marks}
        assert sorted(marks) == ["Ball", "Crate", "Crate_Lid", "Ground"]  # all show; hidden ones never
        assert {m.index for m in view.marks} == {result.scene.get_object(n).mark for n in marks}
        for obj, mat_name in (("Crate", "Crate_Red"), ("Ball", "Ball_Blue")):
            mask = colour_mask(img, mat_name)
            x0, y0, x1, y1 = pixel_box(marks[obj].box, size, size)
            inside = mask[y0:y1, x0:x1].sum()
            assert inside > 20, (view.label, obj)  # the object is drawn inside its box...
            assert inside == mask.sum(), (view.label, obj)  # ...and nowhere else
            cx, cy = marks[obj].center
            assert x0 <= cx * size <= x1 and y0 <= cy * size <= y1
    # Different azimuths see different pictures.
    assert len({blob for _, blob in result.views}) == 4


def test_marks_are_drawn_at_their_centres(animated_scene: AnimatedScene) -> None:
    settings = dict(views=2, resolution=128)
    plain = capture(animated_scene.scene, CaptureSettings(marks=False, **settings))
    marked = capture(animated_scene.scene, CaptureSettings(marks=True, **settings))
    for (view_p, a), (view, b) in zip(plain.views, marked.views, strict=True):
        assert view_p.marks == [] and view.marks  # no table for numbers that are not drawn
        diff = (rgb(a) != rgb(b)).any(axis=2)
        assert diff.any()
        ys, xs = np.nonzero(diff)
        near_a_mark = np.zeros_like(diff)
        for m in view.marks:  # 7x(5..9) px labels at scale 1, maybe nudged by one label size
            cx, cy = int(m.center[0] * 128), int(m.center[1] * 128)
            near_a_mark[max(cy - 12, 0) : cy + 13, max(cx - 14, 0) : cx + 15] = True
        assert near_a_mark[ys, xs].all()  # nothing changed away from the marks
        label = rgb(b)[diff]
        assert ((label == 0).all(axis=1) | (label == 255).all(axis=1)).all()  # black and white only


def test_active_camera_view(animated_scene: AnimatedScene) -> None:
    scene = animated_scene.scene
    settings = dict(views=0, resolution=96, include_active_camera=True)
    [(_, blob)] = capture(scene, CaptureSettings(marks=False, **settings)).views  # pixels without labels
    [(view, _)] = capture(scene, CaptureSettings(marks=True, **settings)).views  # the mark table
    assert view.label == "active camera"
    assert (view.width, view.height) == (96, 54)  # the scene's 16:9, long side = resolution
    assert rgb(blob).shape == (54, 96, 3)
    cam = animated_scene.objects["Shot_Cam"]
    assert view.pose == pytest.approx([v for row in cam.matrix_world for v in row], abs=1e-6)
    assert view.intrinsics == pytest.approx(camera_intrinsics(96, 54, 35))
    ball = next(m for m in view.marks if m.object == "Ball")
    mask = colour_mask(rgb(blob), "Ball_Blue")
    x0, y0, x1, y1 = pixel_box(ball.box, 96, 54)
    assert mask[y0:y1, x0:x1].sum() == mask.sum() > 5


def test_animation_gives_frames_times_views(animated_scene: AnimatedScene) -> None:
    scene = animated_scene.scene
    settings = CaptureSettings(views=2, resolution=64, frames=3, include_active_camera=True)
    result = capture(scene, settings)
    frames = frame_samples(1, 24, 3)
    assert frames == [1, 13, 24]
    assert [(v.frame, v.label) for v, _ in result.views] == [
        (f, label) for f in frames for label in ("orbit 0", "orbit 1", "active camera")
    ]
    assert result.scene.frame_current == AnimatedScene.FRAME_CURRENT  # the graph is of the current frame
    # The same orbit poses at every frame, and the ball where its keys put it: high at 12-13, low at 1 and 24.
    by_frame = {f: [v for v, _ in result.views if v.frame == f] for f in frames}
    assert by_frame[1][0].pose == by_frame[13][0].pose == by_frame[24][0].pose
    ball_y = {f: next(m for m in by_frame[f][0].marks if m.object == "Ball").center[1] for f in frames}
    assert ball_y[13] < ball_y[1] - 0.05 and ball_y[13] < ball_y[24] - 0.05  # higher up: smaller y
    for view, blob in result.views:
        assert rgb(blob).shape == (view.height, view.width, 3)


# ---------------------------------------------------------------- the scene is left alone


def test_scene_is_unchanged_after_capture(animated_scene: AnimatedScene, scene_state: StateFn) -> None:
    scene = animated_scene.scene
    ball = animated_scene.objects["Ball"]
    ball.location.x = 0.123  # an unkeyed tweak of an animated value: frame changes would lose it
    scene.render.engine = "CYCLES"
    scene.render.image_settings.file_format = "OPEN_EXR"
    scene.render.image_settings.color_depth = "32"
    scene.render.filepath = "//renders/shot_"
    scene.view_settings.view_transform = "AgX"
    bpy.context.view_layer.update()
    before = scene_state(scene)
    capture(scene, CaptureSettings(views=3, resolution=64, frames=3, include_active_camera=True))
    after = scene_state(scene)
    assert after == before
    assert ball.location.x == pytest.approx(0.123)
    assert "Render Result" not in bpy.data.images
    assert not [o for o in bpy.data.objects if o.name.startswith("EVLM")]


def test_scene_is_unchanged_when_capture_fails_midway(
    animated_scene: AnimatedScene,
    scene_state: StateFn,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    scene = animated_scene.scene
    before = scene_state(scene)
    calls = []

    def failing_encode(image: np.ndarray) -> bytes:
        calls.append(1)
        if len(calls) == 3:
            raise OSError("disk on fire")
        return b""

    monkeypatch.setattr(capture_module, "encode_png", failing_encode)
    with pytest.raises(OSError, match="disk on fire"):
        capture(scene, CaptureSettings(views=2, resolution=64, frames=2))
    assert scene_state(scene) == before


def test_capture_keeps_an_existing_render_result(factory_scene: bpy.types.Scene, scene_state: StateFn) -> None:
    scene = factory_scene
    mesh = bpy.data.meshes.new("m")
    mesh.from_pydata([(0, 0, 0), (1, 0, 0), (0, 1, 0)], [], [(0, 1, 2)])
    scene.collection.objects.link(bpy.data.objects.new("Tri", mesh))
    cam = bpy.data.objects.new("Cam", bpy.data.cameras.new("Cam"))
    scene.collection.objects.link(cam)
    cam.location = (0, 0, 5)
    scene.camera = cam
    scene.render.resolution_x = scene.render.resolution_y = 16
    scene.render.engine = "BLENDER_WORKBENCH"  # EEVEE compiles shaders for half a minute on this CPU
    bpy.ops.render.render()  # the user rendered before: "Render Result" exists and stays
    assert "Render Result" in bpy.data.images
    before = scene_state(scene)
    result = capture(scene, CaptureSettings(views=1, resolution=32))
    assert scene_state(scene) == before
    assert len(result.views) == 1 and result.views[0][0].marks[0].object == "Tri"


# ---------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"views": -1}, "views must be an integer"),
        ({"views": 97}, "views must be an integer"),
        ({"views": 2.0}, "views must be an integer"),
        ({"views": True}, "views must be an integer"),
        ({"resolution": 8}, "resolution must be an integer"),
        ({"resolution": 2049}, "resolution must be an integer"),
        ({"frames": 0}, "frames must be an integer"),
        ({"engine": "POV"}, "engine must be one of"),
        ({"marks": "yes"}, "marks must be True or False"),
        ({"include_active_camera": 1}, "include_active_camera must be True or False"),
        ({"views": 0}, "nothing to capture"),
        ({"views": 32, "frames": 3, "include_active_camera": True}, "99 images asked for"),
        ({"samples": 0}, "samples must be an integer"),
    ],
)
def test_bad_settings_are_rejected(kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        CaptureSettings(**kwargs)


def test_bad_capture_calls_are_rejected(animated_scene: AnimatedScene) -> None:
    scene = animated_scene.scene
    with pytest.raises(TypeError, match="CaptureSettings"):
        capture(scene, {"views": 2})
    with pytest.raises(TypeError, match="bpy.types.Scene"):
        capture("Scene", CaptureSettings())
    settings = CaptureSettings(views=2, resolution=64)
    settings.resolution = 3  # changed after construction: checked again
    with pytest.raises(ValueError, match="resolution"):
        capture(scene, settings)
    scene.camera = None
    with pytest.raises(ValueError, match="no active camera"):
        capture(scene, CaptureSettings(views=1, resolution=64, include_active_camera=True))


def test_empty_scene_has_nothing_to_frame(factory_scene: bpy.types.Scene, scene_state: StateFn) -> None:
    before = scene_state(factory_scene)
    with pytest.raises(ValueError, match="no visible geometry"):
        capture(factory_scene, CaptureSettings(views=2, resolution=64))
    assert scene_state(factory_scene) == before


def test_unavailable_engine_is_refused(animated_scene: AnimatedScene, scene_state: StateFn) -> None:
    before = scene_state(animated_scene.scene)
    other_eevee = "BLENDER_EEVEE_NEXT" if bpy.app.version >= (5, 0, 0) else "BLENDER_EEVEE"  # 4.2-4.5: EEVEE_NEXT
    with pytest.raises(ValueError, match="not available in this Blender"):
        capture(animated_scene.scene, CaptureSettings(views=1, resolution=64, engine=other_eevee))
    assert scene_state(animated_scene.scene) == before


def test_orthographic_active_camera_has_no_pinhole_but_has_marks(animated_scene: AnimatedScene) -> None:
    animated_scene.objects["Shot_Cam"].data.type = "ORTHO"
    result = capture(animated_scene.scene, CaptureSettings(views=1, resolution=64, include_active_camera=True))
    orbit, active = (view for view, _ in result.views)
    assert orbit.intrinsics is not None and orbit.marks
    assert active.label == "active camera" and active.intrinsics is None
    assert {m.object for m in active.marks} >= {"Ball", "Crate"}  # the ID pass needs no pinhole


def test_cycles_capture_restores_its_samples(animated_scene: AnimatedScene, scene_state: StateFn) -> None:
    scene = animated_scene.scene
    scene.cycles.samples = 512
    before = scene_state(scene)
    result = capture(scene, CaptureSettings(views=1, resolution=32, engine="CYCLES", samples=2, marks=False))
    img = rgb(result.views[0][1])
    assert img.shape == (32, 32, 3) and img.std() > 5  # a picture, not a flat frame
    assert scene_state(scene) == before and scene.cycles.samples == 512


# ---------------------------------------------------------------- what the views show


def _srgb8(linear: Any) -> np.ndarray:
    c = np.clip(np.asarray(linear, dtype=np.float64), 0, 1)
    return 255 * np.where(c <= 0.0031308, 12.92 * c, 1.055 * c ** (1 / 2.4) - 0.055)


def colours_scene() -> Any:
    """Four cubes in a row, each material coloured a different way an artist may colour it."""
    bpy.ops.wm.read_factory_settings(use_empty=True)
    scene = bpy.context.scene

    def node_colour(name: str, rgb: tuple) -> Any:  # the usual way: the Principled BSDF's Base Color only
        return material(name, rgb, viewport=False)

    viewport = with_nodes(bpy.data.materials.new("Viewport_Blue"))  # viewport colour set, node colour default
    viewport.diffuse_color = (0.05, 0.1, 0.8, 1.0)
    no_bsdf = with_nodes(bpy.data.materials.new("Viewport_Only_Yellow"))  # no Principled BSDF: the viewport colour
    no_bsdf.diffuse_color = (0.8, 0.6, 0.02, 1.0)
    no_bsdf.node_tree.nodes.remove(no_bsdf.node_tree.nodes["Principled BSDF"])
    for i, mat in enumerate(
        [node_colour("Node_Red", (0.8, 0.05, 0.03)), node_colour("Node_Green", (0.04, 0.6, 0.05)), viewport, no_bsdf]
    ):
        mesh_object(scene, mat.name.split("_")[-1], box((0.8, 0.8, 0.8), (1.3 * i, 0, 0.4)), mat)
    scene.world = bpy.data.worlds.new("World")
    scene.world.color = (0.05, 0.05, 0.05)
    bpy.context.view_layer.update()
    return scene


def test_views_show_the_base_colour_the_scene_graph_reports(scene_state: StateFn) -> None:
    scene = colours_scene()
    before = scene_state(scene)
    settings = dict(views=3, resolution=128)
    result = capture(scene, CaptureSettings(**settings))
    clean = capture(scene, CaptureSettings(marks=False, **settings))  # the same pixels without labels
    assert scene_state(scene) == before  # every material's viewport colour is back
    graph = {m.name: m for m in result.scene.materials}
    # What the scene graph says: the node colour where there is a Principled BSDF (the viewport
    # colour of Viewport_Blue is not what a render shows), else the viewport colour.
    expected = {
        "Red": graph["Node_Red"].base_color[:3],
        "Green": graph["Node_Green"].base_color[:3],
        "Blue": graph["Viewport_Blue"].base_color[:3],
        "Yellow": graph["Viewport_Only_Yellow"].base_color[:3],
    }
    assert expected["Red"] == pytest.approx([0.8, 0.05, 0.03]) and expected["Green"] == pytest.approx([0.04, 0.6, 0.05])
    assert expected["Blue"] == pytest.approx([0.8, 0.8, 0.8])  # the node's default grey
    assert expected["Yellow"] == pytest.approx([0.8, 0.6, 0.02])
    checked = 0
    for (view, _), (_, blob) in zip(result.views, clean.views, strict=True):
        img = rgb(blob)
        for mark in view.marks:  # at the mark, a pixel deep inside the object: its shaded colour
            x, y = int(mark.center[0] * view.width), int(mark.center[1] * view.height)
            h, sat, _ = colorsys.rgb_to_hsv(*(img[y, x] / 255))
            h0, s0, _ = colorsys.rgb_to_hsv(*(_srgb8(expected[mark.object]) / 255))
            if s0 < 0.1:
                assert sat < 0.1, (view.label, mark.object, img[y, x])
            else:
                assert sat > 0.5 and min(abs(h - h0), 1 - abs(h - h0)) < 0.03, (view.label, mark.object, img[y, x])
            checked += 1
    assert checked == 12  # every cube in every view


def test_views_show_the_world_background(animated_scene: AnimatedScene) -> None:
    """Workbench draws the world's viewport colour; the views draw the scene graph's world colour
    times its strength, as the training renderer does."""
    [(view, blob)] = capture(animated_scene.scene, CaptureSettings(views=1, resolution=64, marks=False)).views
    corner = rgb(blob)[0, 0]
    want = _srgb8(np.array(AnimatedScene.WORLD_COLOR) * AnimatedScene.WORLD_STRENGTH)
    assert corner == pytest.approx(want, abs=2)


def occlusion_scene() -> Any:
    """A wall with a ball behind it as orbit view 0 sees it (and in front of it for view 2), and a ring."""
    bpy.ops.wm.read_factory_settings(use_empty=True)
    scene = bpy.context.scene

    def add(name: str, build: Callable[[Any], None], location: tuple, rgb: tuple, rotation_z: float = 0.0) -> None:
        obj = mesh_object(scene, name, build, material(name, rgb, viewport=False))
        obj.location, obj.rotation_euler.z = location, rotation_z

    # View 0 looks from azimuth -45 degrees: the wall faces it, the ball sits on the far side.
    add("Wall", lambda bm: bmesh.ops.create_cube(bm, size=1.0, matrix=Matrix.Diagonal((2.0, 0.3, 1.6, 1))),
        (0, 0, 0.8), (0.8, 0.8, 0.8), math.radians(45))  # fmt: skip
    add("Ball", lambda bm: bmesh.ops.create_uvsphere(bm, u_segments=16, v_segments=8, radius=0.2),
        (-0.45, 0.45, 0.2), (0.03, 0.1, 0.8))  # fmt: skip
    add("Ring", lambda bm: bmesh.ops.create_circle(bm, segments=3, radius=0.01), (0, 0, 0), (0.8, 0.05, 0.03))
    ring = bpy.data.objects["Ring"]  # a torus from the data API: a ring of 24 tubes of 8 sides
    bm = bmesh.new()
    major, minor = 0.4, 0.06
    verts = [
        [bm.verts.new((math.cos(a) * (major + minor * math.cos(b)), math.sin(a) * (major + minor * math.cos(b)),
                       minor * math.sin(b))) for b in np.linspace(0, 2 * math.pi, 8, endpoint=False)]
        for a in np.linspace(0, 2 * math.pi, 24, endpoint=False)
    ]  # fmt: skip
    for i in range(24):
        for j in range(8):
            bm.faces.new([verts[i][j], verts[(i + 1) % 24][j], verts[(i + 1) % 24][(j + 1) % 8], verts[i][(j + 1) % 8]])
    bm.to_mesh(ring.data)
    bm.free()
    ring.location = (1.3, 1.3, 0.06)
    bpy.context.view_layer.update()
    return scene


def test_marks_only_where_an_object_shows(scene_state: StateFn) -> None:
    scene = occlusion_scene()
    result = capture(scene, CaptureSettings(views=4, resolution=128))
    clean = capture(scene, CaptureSettings(views=4, resolution=128, marks=False))
    marked = [{m.object: m for m in view.marks} for view, _ in result.views]
    assert "Ball" not in marked[0]  # behind the wall: no mark (its projected box is in the frame)
    assert "Ball" in marked[2]  # in front of it from the other side
    k = camera_intrinsics(128, 128, 50)
    corners = np.array(list(itertools.product((-0.65, -0.25), (0.25, 0.65), (0.0, 0.4))))
    assert project_box(corners, result.views[0][0].pose, k, 128, 128) is not None
    for (view, _), (_, blob), marks in zip(result.views, clean.views, marked, strict=True):
        img = rgb(blob)
        for name in ("Ring", "Ball"):  # the centre is on the object: the ring, not its hole
            if name in marks:
                x, y = int(marks[name].center[0] * 128), int(marks[name].center[1] * 128)
                r, g, b = img[y, x]
                assert (r > g + 40) if name == "Ring" else (b > r + 40), (view.label, name, img[y, x])
        assert "Ring" in marks and "Wall" in marks


def test_capture_steps_leave_the_scene_alone_between_steps(
    animated_scene: AnimatedScene, scene_state: StateFn, renders: list[str]
) -> None:
    scene = animated_scene.scene
    settings = CaptureSettings(views=2, resolution=64, frames=2, include_active_camera=True)
    before = scene_state(scene)
    run = CaptureRun(scene, settings)
    assert (run.done, run.total, run.finished) == (0, 6, False)
    progress = []
    while True:
        n = len(renders)
        finished = run.step()
        assert len(renders) - n <= 1  # one Workbench render per step
        assert scene_state(scene) == before  # between two steps the scene is the artist's own
        progress.append(run.done)
        if finished:
            break
    assert len(renders) == 12 and progress == [0] + [x for d in range(6) for x in (d, d + 1)]
    assert run.step() is True and len(renders) == 12  # nothing left to do
    stepped = run.result()
    together = capture(scene, settings)
    assert [v for v, _ in stepped.views] == [v for v, _ in together.views]
    assert [b for _, b in stepped.views] == [b for _, b in together.views]


def test_a_capture_dropped_midway_leaves_nothing(animated_scene: AnimatedScene, scene_state: StateFn) -> None:
    scene = animated_scene.scene
    before = scene_state(scene)
    run = CaptureRun(scene, CaptureSettings(views=3, resolution=64))
    for _ in range(3):
        run.step()
    assert 0 < run.done < run.total
    with pytest.raises(RuntimeError, match="not finished: 1 of 3"):
        run.result()
    del run
    assert scene_state(scene) == before
    assert "Render Result" not in bpy.data.images and not [o for o in bpy.data.objects if o.name.startswith("EVLM")]
    run = CaptureRun(scene, CaptureSettings(views=3, resolution=64))
    run.step()
    bpy.data.objects.remove(animated_scene.objects["Crate_Lid"])  # the artist deletes an object mid-capture
    with pytest.raises(ValueError, match="'Crate_Lid' left the scene"):
        while not run.step():
            pass


def test_subdivision_is_capped_at_the_viewport_level(animated_scene: AnimatedScene, scene_state: StateFn) -> None:
    scene = animated_scene.scene
    sub = animated_scene.objects["Ball"].modifiers.new("Subdivision", "SUBSURF")
    sub.levels, sub.render_levels = 1, 3
    before = scene_state(scene)
    seen = []

    def look(*_: Any) -> None:
        seen.append((scene.render.use_simplify, scene.render.simplify_subdivision_render))

    bpy.app.handlers.render_pre.append(look)
    try:
        capture(scene, CaptureSettings(views=1, resolution=32))
    finally:
        bpy.app.handlers.render_pre.remove(look)
    assert len(seen) == 2 and set(seen) == {(True, 1)}  # the picture and its ID pass
    assert scene_state(scene) == before and scene.render.use_simplify is False


def test_views_take_the_studio_light_the_renderer_imitates(animated_scene: AnimatedScene, scene_state: StateFn) -> None:
    scene = animated_scene.scene
    shading = scene.display.shading
    shading.use_world_space_lighting, shading.show_specular_highlight, shading.show_shadows = True, False, True
    before = scene_state(scene)
    seen = []

    def look(*_: Any) -> None:
        seen.append((shading.light, shading.studio_light, shading.use_world_space_lighting,
                     shading.show_specular_highlight, shading.show_shadows))  # fmt: skip

    bpy.app.handlers.render_pre.append(look)
    try:
        capture(scene, CaptureSettings(views=1, resolution=32))
    finally:
        bpy.app.handlers.render_pre.remove(look)
    assert seen == [("STUDIO", "Default", False, True, False), ("FLAT", "Default", False, True, False)]
    assert scene_state(scene) == before and shading.use_world_space_lighting and shading.show_shadows

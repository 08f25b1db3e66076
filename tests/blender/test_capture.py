"""blender_addon.capture in real Blender: the scene graph, the rendered views and their marks, and
a scene left exactly as it was. Small renders (64-128 px) keep it fast."""

from __future__ import annotations

import io
import json
import math
from collections.abc import Callable
from typing import Any

import bpy
import numpy as np
import pytest
from conftest import SAMPLE_BLEND, AnimatedScene
from mathutils import Matrix
from PIL import Image

from blender_addon import capture as capture_module
from blender_addon.capture import Capture, CaptureSettings, capture, extract_scene_graph
from evlm.views import camera_intrinsics, frame_samples

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
    # World bounds of the rotated, scaled 1 m cube: half extents 0.6 cos30 + 0.5 sin30, 0.6 sin30 + 0.5 cos30.
    hx, hy = 0.6 * math.cos(math.pi / 6) + 0.5 * 0.5, 0.6 * 0.5 + 0.5 * math.cos(math.pi / 6)
    assert crate.bbox_min == pytest.approx([1 - hx, 0.5 - hy, 0], abs=1e-5)
    assert crate.bbox_max == pytest.approx([1 + hx, 0.5 + hy, 1], abs=1e-5)
    assert crate.dimensions == pytest.approx([2 * hx, 2 * hy, 1], abs=1e-5)

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
    assert sorted(marks) == ["Ball", "Crate", "Crate_Lid", "Ground"]  # visible geometry only
    assert sorted(marks.values()) == [1, 2, 3, 4]

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
    obj = bpy.data.objects.new("x" * 70, None)
    factory_scene.collection.objects.link(obj)
    with pytest.raises(ValueError, match="longer than 63 characters"):
        extract_scene_graph(factory_scene)


# ---------------------------------------------------------------- views


def test_orbit_views_show_the_objects_where_the_marks_say(animated_scene: AnimatedScene) -> None:
    size = 128
    result = capture(animated_scene.scene, CaptureSettings(views=4, resolution=size, marks=True))
    assert isinstance(result, Capture) and len(result.views) == 4
    assert set(result.timings) == {"scene_graph", "render", "encode", "total"}
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
        assert sorted(marks) == ["Ball", "Crate", "Crate_Lid", "Ground"]  # all in frame; hidden ones never
        assert {m.index for m in view.marks} == {result.scene.get_object(n).mark for n in marks}
        for obj, material in (("Crate", "Crate_Red"), ("Ball", "Ball_Blue")):
            mask = colour_mask(img, material)
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
        ({"views": 65}, "views must be an integer"),
        ({"views": 2.0}, "views must be an integer"),
        ({"views": True}, "views must be an integer"),
        ({"resolution": 8}, "resolution must be an integer"),
        ({"resolution": 4096}, "resolution must be an integer"),
        ({"frames": 0}, "frames must be an integer"),
        ({"engine": "POV"}, "engine must be one of"),
        ({"marks": "yes"}, "marks must be True or False"),
        ({"include_active_camera": 1}, "include_active_camera must be True or False"),
        ({"views": 0}, "nothing to capture"),
        ({"views": 64, "frames": 20}, "images asked for"),
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


def test_orthographic_active_camera_has_no_pinhole(animated_scene: AnimatedScene) -> None:
    animated_scene.objects["Shot_Cam"].data.type = "ORTHO"
    result = capture(animated_scene.scene, CaptureSettings(views=1, resolution=64, include_active_camera=True))
    orbit, active = (view for view, _ in result.views)
    assert orbit.intrinsics is not None and orbit.marks
    assert active.label == "active camera" and active.intrinsics is None and active.marks == []


def test_cycles_capture_restores_its_samples(animated_scene: AnimatedScene, scene_state: StateFn) -> None:
    scene = animated_scene.scene
    scene.cycles.samples = 512
    before = scene_state(scene)
    result = capture(scene, CaptureSettings(views=1, resolution=32, engine="CYCLES", samples=2, marks=False))
    img = rgb(result.views[0][1])
    assert img.shape == (32, 32, 3) and img.std() > 5  # a picture, not a flat frame
    assert scene_state(scene) == before and scene.cycles.samples == 512

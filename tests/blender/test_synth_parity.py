"""Synthetic scenes rebuilt in real Blender (bpy 5.0.1).

1. What capture sees is what the generator wrote: `extract_scene_graph` of the rebuilt scene
   equals the synthetic scene graph (names, scene order, types, parents, world transforms and
   bounds, visibility, marks, material slots and values, modifiers, lights, cameras, world, keys),
   so the model trains on scene graphs in the form it is served.
2. Gold plans do in Blender what their reasoning says: applied with `blender_addon.apply`, the
   vase rests on the table top, the lamp stands beside the sofa with a gap, the copy stands beside
   its original, the camera frames its subject, the rim light is behind it.

The scenes come from the main venv (`training.synth.export`, which needs trimesh and pyrender).
"""

from __future__ import annotations

import json
import math
import os
import subprocess
from pathlib import Path
from typing import Any

import numpy as np
import pytest

bpy = pytest.importorskip("bpy")
from mathutils import Euler, Matrix  # noqa: E402

from blender_addon.apply import apply_suggestion  # noqa: E402
from blender_addon.capture import extract_scene_graph  # noqa: E402
from blender_addon.fcurves import fcurves  # noqa: E402
from blender_addon.nodes import with_nodes  # noqa: E402
from evlm.edits import Suggestion  # noqa: E402
from evlm.scene import SceneGraph  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
MAIN_PYTHON = ROOT / ".venv" / "bin" / "python"
SEEDS = list(range(30))  # enough scenes for two tasks of every kind
TOL = 2e-3  # the generator writes 4 decimals; Blender keeps float32


@pytest.fixture(scope="module")
def specs(tmp_path_factory: pytest.TempPathFactory) -> list[dict]:
    if not MAIN_PYTHON.exists():
        pytest.skip("the main venv (.venv) writes the synthetic scenes")
    out = tmp_path_factory.mktemp("synth") / "specs.json"
    env = {**os.environ, "PYTHONPATH": str(ROOT), "PYOPENGL_PLATFORM": "osmesa"}
    subprocess.run(
        [str(MAIN_PYTHON), "-m", "training.synth.export", "--seeds", *map(str, SEEDS), "--out", str(out)],
        check=True, cwd=ROOT, env=env, timeout=600,
    )  # fmt: skip
    return json.loads(out.read_text())


# ---------------------------------------------------------------- rebuilding a scene
def _material(m: dict) -> Any:
    mat = with_nodes(bpy.data.materials.new(m["name"]))
    mat.diffuse_color = m["base_color"]
    bsdf = mat.node_tree.nodes["Principled BSDF"]
    bsdf.inputs["Base Color"].default_value = m["base_color"]
    bsdf.inputs["Roughness"].default_value = mat.roughness = m["roughness"]
    bsdf.inputs["Metallic"].default_value = mat.metallic = m["metallic"]
    bsdf.inputs["Emission Color"].default_value = (*m["emission_color"], 1.0)
    bsdf.inputs["Emission Strength"].default_value = m["emission_strength"]
    bsdf.inputs["Alpha"].default_value = m["alpha"]
    return mat


def _modifier(obj: Any, m: dict) -> None:
    """The modifier, set so it does not change the bounds (the graph lists name and type only,
    and the synthetic mesh is already what an array makes)."""
    mod = obj.modifiers.new(m["name"], m["type"])
    if m["type"] == "SUBSURF":
        mod.levels = mod.render_levels = 0
    elif m["type"] == "ARRAY":
        mod.count = 1
    elif m["type"] == "BEVEL":
        mod.width = 0.001


def build(spec: dict) -> Any:
    bpy.ops.wm.read_factory_settings(use_empty=True)
    scene = bpy.context.scene
    graph = spec["graph"]
    mats = {m["name"]: _material(m) for m in graph["materials"]}
    objs: dict[str, Any] = {}
    for o in spec["objects"]:
        if o["type"] == "MESH":
            mesh = bpy.data.meshes.new(o["name"])
            mesh.from_pydata(o["vertices"], [], o["faces"])
            for name in o["materials"]:
                mesh.materials.append(mats[name])
            if o["materials"]:
                mesh.polygons.foreach_set("material_index", o["face_slots"])
            mesh.update()
            obj = bpy.data.objects.new(o["name"], mesh)
            obj.location, obj.rotation_euler, obj.scale = o["rest_location"], (0.0, 0.0, o["rotation_z"]), o["scale"]
            for m in o["modifiers"]:
                _modifier(obj, m)
        elif o["type"] == "LIGHT":
            data = bpy.data.lights.new(o["name"], o["light"]["type"])
            data.energy, data.color = o["light"]["energy"], o["light"]["color"]
            obj = bpy.data.objects.new(o["name"], data)
            obj.location, obj.rotation_euler = o["location"], o["rotation"]
        elif o["type"] == "CAMERA":
            data = bpy.data.cameras.new(o["name"])
            data.lens, data.sensor_width = o["camera"]["focal_length"], o["camera"]["sensor_width"]
            obj = bpy.data.objects.new(o["name"], data)
            obj.matrix_world = Matrix(o["pose"])
        else:
            obj = bpy.data.objects.new(o["name"], None)
            obj.location = o["location"]
        obj.hide_render = not o["visible"]
        scene.collection.objects.link(obj)
        objs[o["name"]] = obj
    for o in spec["objects"]:  # parents keep the children where they are at rest
        if o["parent"]:
            child, parent = objs[o["name"]], objs[o["parent"]]
            child.parent = parent
            child.matrix_parent_inverse = parent.matrix_basis.inverted()
    world = with_nodes(bpy.data.worlds.new("World"))
    scene.world = world
    world.color = graph["world"]["color"]
    background = world.node_tree.nodes["Background"]
    background.inputs["Color"].default_value = (*graph["world"]["color"], 1.0)
    background.inputs["Strength"].default_value = graph["world"]["strength"]
    anim = graph["animation"]
    scene.frame_start, scene.frame_end = anim["frame_start"], anim["frame_end"]
    scene.render.fps = round(anim["fps"])
    scene.render.fps_base = round(anim["fps"]) / anim["fps"]
    for track in anim["objects"]:
        obj = objs[track["object"]]
        for ch in track["channels"]:
            for k in ch["keyframes"]:
                getattr(obj, ch["path"])[ch["index"]] = k["value"]
                obj.keyframe_insert(ch["path"], index=ch["index"], frame=k["frame"])
        for ch in track["channels"]:
            (fc,) = fcurves(obj, ch["path"], ch["index"])
            for point, k in zip(fc.keyframe_points, ch["keyframes"], strict=True):
                point.interpolation, point.easing = k["interpolation"], k["easing"]
    scene.frame_set(graph["frame_current"])
    return scene


# ---------------------------------------------------------------- 1. capture sees what the generator wrote
def _rotation(euler: list[float]) -> np.ndarray:
    return np.array(Euler(euler, "XYZ").to_matrix())


def test_capture_of_the_rebuilt_scene_is_the_synthetic_graph(specs: list[dict]) -> None:
    for spec in specs:
        want = SceneGraph.model_validate(spec["graph"])
        got = extract_scene_graph(build(spec))
        assert got.object_names() == want.object_names(), spec["seed"]
        for g, w in zip(got.objects, want.objects, strict=True):
            where = f"seed {spec['seed']}, {w.name}"
            assert (g.type, g.parent, g.visible, g.mark, g.materials) == (
                w.type,
                w.parent,
                w.visible,
                w.mark,
                w.materials,
            ), where
            assert [m.model_dump() for m in g.modifiers] == [m.model_dump() for m in w.modifiers], where
            for field in ("location", "scale", "dimensions", "bbox_min", "bbox_max"):
                assert np.allclose(getattr(g, field), getattr(w, field), atol=TOL), (
                    where,
                    field,
                    getattr(g, field),
                    getattr(w, field),
                )
            assert np.allclose(_rotation(g.rotation), _rotation(w.rotation), atol=TOL), where
        assert got.material_names() == want.material_names()
        for g, w in zip(got.materials, want.materials, strict=True):
            for field in ("base_color", "roughness", "metallic", "emission_color", "emission_strength", "alpha"):
                assert np.allclose(getattr(g, field), getattr(w, field), atol=1e-4), (w.name, field)
        assert [(lt.name, lt.type) for lt in got.lights] == [(lt.name, lt.type) for lt in want.lights]
        for g, w in zip(got.lights, want.lights, strict=True):
            assert np.allclose(g.color, w.color, atol=1e-4) and g.energy == pytest.approx(w.energy, abs=1e-3)
        assert [(c.name, c.focal_length, c.sensor_width) for c in got.cameras] == [
            (c.name, pytest.approx(c.focal_length), pytest.approx(c.sensor_width)) for c in want.cameras
        ]
        assert np.allclose(got.world.color, want.world.color, atol=1e-4)
        assert got.world.strength == pytest.approx(want.world.strength)
        ga, wa = got.animation, want.animation
        assert (ga.frame_start, ga.frame_end) == (wa.frame_start, wa.frame_end) and ga.fps == pytest.approx(wa.fps)
        assert [a.object for a in ga.objects] == [a.object for a in wa.objects]
        for g, w in zip(ga.objects, wa.objects, strict=True):
            for gc, wc in zip(g.channels, w.channels, strict=True):
                assert (gc.path, gc.index) == (wc.path, wc.index)
                for gk, wk in zip(gc.keyframes, wc.keyframes, strict=True):
                    assert (gk.interpolation, gk.easing) == (wk.interpolation, wk.easing)
                    assert gk.frame == pytest.approx(wk.frame) and gk.value == pytest.approx(wk.value, abs=1e-4)


# ---------------------------------------------------------------- 2. gold plans do what they say
def _bounds(scene: Any, names: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """World bounds of the named objects as capture measures them (the scene graph's boxes)."""
    graph = extract_scene_graph(scene)
    boxes = [graph.get_object(name) for name in names]
    return np.min([b.bbox_min for b in boxes], axis=0), np.max([b.bbox_max for b in boxes], axis=0)


def _group(scene: Any, name: str) -> list[str]:
    return [name] + [c.name for c in scene.objects[name].children_recursive if c.type == "MESH"]


def _other(task: dict, word: str, scene: Any) -> str:
    """The object the plan's summary relates the target to ("Move Vase onto Table.")."""
    return next(o.name for o in scene.objects if task["reasoning"].endswith(f"{word} {o.name}."))


def _check(kind: str, scene: Any, task: dict, before: dict) -> None:
    target = task["targets"][0] if task["targets"] else None
    if kind == "put_on":
        support = _other(task, "onto", scene)
        lo, hi = _bounds(scene, _group(scene, target))
        slo, shi = _bounds(scene, [support])
        assert lo[2] == pytest.approx(shi[2], abs=TOL)
        centre = (lo + hi) / 2
        assert slo[0] - TOL <= centre[0] <= shi[0] + TOL and slo[1] - TOL <= centre[1] <= shi[1] + TOL
    elif kind == "next_to":
        anchor = _other(task, "beside", scene)
        lo, hi = _bounds(scene, _group(scene, target))
        alo, ahi = _bounds(scene, _group(scene, anchor))
        gap = np.maximum(alo[:2] - hi[:2], lo[:2] - ahi[:2]).max()
        assert gap == pytest.approx(0.15, abs=TOL)
    elif kind == "drop":
        lo, _ = _bounds(scene, _group(scene, target))
        assert lo[2] == pytest.approx(0.0, abs=TOL)
    elif kind == "line_up":
        centres = [np.add(*_bounds(scene, _group(scene, t))) / 2 for t in task["targets"]]
        assert min(np.ptp([c[0] for c in centres]), np.ptp([c[1] for c in centres])) < TOL
    elif kind == "duplicate":
        copies = [o.name for o in scene.objects if o.name not in before["names"]]
        assert copies
        lo, hi = _bounds(scene, task["suggestion"]["ops"][0]["targets"])  # the object and its children
        clo, chi = _bounds(scene, [c for c in copies if scene.objects[c].type == "MESH"])
        gap = np.maximum(lo[:2] - chi[:2], clo[:2] - hi[:2]).max()
        assert gap == pytest.approx(0.15, abs=TOL)
    elif kind in ("frame", "closer_on"):
        camera = scene.objects[task["suggestion"]["ops"][0]["camera"]]
        subject = task["suggestion"]["ops"][0]["target"]
        lo, hi = _bounds(scene, _group(scene, subject))  # what must fit
        centre = np.add(*_bounds(scene, [subject])) / 2  # what camera_look_at aims at
        m = np.array(camera.matrix_world)
        to = centre - m[:3, 3]
        assert float(-m[:3, 2] @ to) / np.linalg.norm(to) > 0.9999  # it looks at the subject
        if kind == "frame":
            fov = 2 * math.atan(camera.data.sensor_width / 2 / camera.data.lens)
            radius = float(np.linalg.norm(hi - lo)) / 2
            assert radius / np.linalg.norm(to) == pytest.approx(math.tan(fov / 2) * 0.7, rel=0.01)
        else:
            assert np.linalg.norm(to) < before["camera_distance"] * 0.75
    elif kind == "rim":
        light = next(o for o in scene.objects if o.type == "LIGHT" and o.name not in before["names"])
        names = (
            _group(scene, target) if target else [o.name for o in scene.objects if o.type == "MESH" and o.visible_get()]
        )
        lo, hi = _bounds(scene, names)
        cam = np.array(scene.objects[before["main_camera"]].matrix_world)[:3, 3]
        centre = (lo + hi) / 2
        loc = np.array(light.matrix_world.translation)
        assert (loc[:2] - centre[:2]) @ (centre[:2] - cam[:2]) > 0 and loc[2] > hi[2]
    elif kind == "size_up":
        lo, hi = _bounds(scene, [target])
        factor = task["suggestion"]["ops"][0]["factor"][0]
        assert np.allclose(hi - lo, (before["size"]) * factor, rtol=1e-3, atol=TOL)


def test_gold_plans_do_in_blender_what_they_say(specs: list[dict]) -> None:
    done: set[str] = set()
    for spec in specs:
        for task in spec["tasks"]:
            scene = build(spec)
            target = task["targets"][0] if task["targets"] else None
            before = {"names": {o.name for o in scene.objects}, "main_camera": spec["main_camera"]}
            if task["kind"] == "size_up":
                lo, hi = _bounds(scene, [target])
                before["size"] = hi - lo
            if task["kind"] == "closer_on":
                ops = task["suggestion"]["ops"]
                lo, hi = _bounds(scene, [ops[0]["target"]])
                before["camera_distance"] = float(
                    np.linalg.norm((lo + hi) / 2 - np.array(scene.objects[ops[0]["camera"]].matrix_world.translation))
                )
            report = apply_suggestion(scene, Suggestion.model_validate(task["suggestion"]))
            assert report is not None
            bpy.context.view_layer.update()
            _check(task["kind"], scene, task, before)
            done.add(task["kind"])
    assert {"put_on", "next_to", "drop", "line_up", "duplicate", "frame", "closer_on", "rim", "size_up"} <= done, done

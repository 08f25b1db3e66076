"""blender_addon.apply in real Blender: every op changes what it should and nothing else; a plan
that cannot apply changes nothing; a failure midway leaves the scene exactly as it was; undo."""

from __future__ import annotations

import dataclasses
import json
import math
import random
import typing
from typing import Any

import bpy
import pytest
from conftest import AnimatedScene
from mathutils import Euler, Matrix, Vector

from blender_addon import fcurves
from blender_addon.apply import ApplyError, ApplyReport, apply_suggestion, check_suggestion, keys
from blender_addon.apply.objects import MODIFIERS as MODIFIER_TABLE
from blender_addon.apply.registry import RULES
from blender_addon.apply.run import Run
from blender_addon.capture import extract_scene_graph
from blender_addon.nodes import surface_node
from evlm import keyframes as kf
from evlm.edits import OP_CLASSES, OPS, PlanError, Suggestion, validate_plan

Snapshot = dict[tuple, Any]


# ---------------------------------------------------------------- helpers
def suggestion(*ops: dict) -> Suggestion:
    """A suggestion as plans arrive: JSON, validated by the contract."""
    return Suggestion.model_validate_json(json.dumps({"title": "t", "rationale": "", "confidence": 0.5, "ops": ops}))


def _plain(value: Any) -> Any:
    if isinstance(value, bpy.types.ID):
        return value.name
    if isinstance(value, (str, bytes, bpy.types.bpy_struct)) or not hasattr(value, "__len__"):
        return value
    return tuple(_plain(v) for v in value)


def _props(struct: Any) -> dict[str, Any]:
    """Every plain property of an RNA struct (pointers and collections left out)."""
    return {
        p.identifier: _plain(getattr(struct, p.identifier))
        for p in struct.bl_rna.properties
        if p.identifier != "rna_type" and p.type not in ("POINTER", "COLLECTION")
    }


def _keys_raw(fc: bpy.types.FCurve) -> dict[str, tuple]:
    return {k: tuple(v) for k, v in keys.raw_keys(fc).items()}


def _channel_sets(action: bpy.types.Action) -> list:
    """Everything in the action that holds F-curves: its channelbags (layered actions), or itself."""
    if not fcurves.LAYERED:
        return [action]
    return [bag for layer in action.layers for strip in layer.strips for bag in strip.channelbags]


def snapshot(scene: bpy.types.Scene) -> Snapshot:
    """Everything an op can touch, flat: (kind, name, property) -> value; compared exactly."""
    s: Snapshot = {}
    layers = list(scene.view_layers)
    for o in bpy.data.objects:
        k = ("object", o.name)
        for attr in ("type", "rotation_mode", "hide_viewport", "hide_render", "location", "rotation_euler",
                     "rotation_quaternion", "rotation_axis_angle", "scale", "matrix_parent_inverse"):  # fmt: skip
            s[k + (attr,)] = _plain(getattr(o, attr))
        s[k + ("data",)] = o.data.name if o.data else None
        s[k + ("parent",)] = o.parent.name if o.parent else None
        s[k + ("eye",)] = tuple(o.hide_get(view_layer=v) if v.objects.get(o.name) else None for v in layers)
        s[k + ("selected",)] = tuple(o.select_get(view_layer=v) if v.objects.get(o.name) else None for v in layers)
        s[k + ("collections",)] = tuple(sorted(c.name for c in o.users_collection))
        s[k + ("slots",)] = tuple((sl.link, sl.material.name if sl.material else None) for sl in o.material_slots)
        s[k + ("modifiers",)] = tuple(m.name for m in o.modifiers)
        for m in o.modifiers:
            s[k + ("modifier", m.name)] = _props(m)
        anim = o.animation_data
        slot = getattr(anim, "action_slot", None)  # layered actions only
        s[k + ("animation",)] = (
            (anim.action.name if anim.action else None, slot.identifier if slot else None) if anim else None
        )
    for m in bpy.data.materials:
        k = ("material", m.name)
        s[k + ("viewport",)] = (tuple(m.diffuse_color), m.roughness, m.metallic)
        bsdf = surface_node(m, "BSDF_PRINCIPLED")
        for socket in ("Base Color", "Roughness", "Metallic", "Alpha", "Emission Color", "Emission Strength"):
            s[k + (socket,)] = _plain(bsdf.inputs[socket].default_value) if bsdf else None
    for light in bpy.data.lights:
        s[("light", light.name)] = (light.type, tuple(light.color), light.energy)
    for cam in bpy.data.cameras:
        s[("camera", cam.name)] = (cam.type, cam.lens)
    for w in bpy.data.worlds:
        bg = surface_node(w, "BACKGROUND")
        s[("world", w.name)] = (
            tuple(w.color),
            tuple(bg.inputs["Color"].default_value),
            bg.inputs["Strength"].default_value,
        )
    for me in bpy.data.meshes:
        s[("mesh", me.name, "attributes")] = tuple(sorted(a.name for a in me.attributes))
        sharp = me.attributes.get("sharp_face")
        s[("mesh", me.name, "sharp_face")] = tuple(d.value for d in sharp.data) if sharp else None
    for a in bpy.data.actions:
        if fcurves.LAYERED:
            s[("action", a.name, "slots")] = tuple(sl.identifier for sl in a.slots)
            s[("action", a.name, "layers")] = tuple(len(layer.strips) for layer in a.layers)
        for found in _channel_sets(a):
            s[("action", a.name, "groups")] = tuple(g.name for g in found.groups)
            for fc in found.fcurves:
                k = ("fcurve", a.name, fc.data_path, fc.array_index)
                s[k + ("extrapolation",)] = fc.extrapolation
                for prop, values in _keys_raw(fc).items():
                    s[k + (prop,)] = values
    s[("scene", "range")] = (scene.frame_start, scene.frame_end, scene.frame_current)
    s[("scene", "fps")] = (scene.render.fps, scene.render.fps_base)
    s[("scene", "world")] = scene.world.name if scene.world else None
    s[("scene", "camera")] = scene.camera.name if scene.camera else None
    for c in (scene.collection, *scene.collection.children_recursive):
        s[("collection", c.name)] = tuple(o.name for o in c.objects)  # in order: marks are numbered by it
    for v in layers:
        s[("view layer", v.name, "active")] = v.objects.active.name if v.objects.active else None
    for kind in ("objects", "meshes", "materials", "lights", "cameras", "worlds", "actions"):
        s[("count", kind)] = len(getattr(bpy.data, kind))
    return s


def changed(before: Snapshot, after: Snapshot) -> set[tuple]:
    return {k for k in before.keys() | after.keys() if before.get(k, "<absent>") != after.get(k, "<absent>")}


def run(scene: bpy.types.Scene, *ops: dict) -> tuple[ApplyReport, set[tuple], Snapshot, Snapshot]:
    before = snapshot(scene)
    report = apply_suggestion(scene, suggestion(*ops))
    after = snapshot(scene)
    return report, changed(before, after), before, after


def refused(scene: bpy.types.Scene, code: str, *ops: dict) -> ApplyError:
    """The suggestion is refused with `code` and the scene is exactly as it was."""
    before = snapshot(scene)
    with pytest.raises(ApplyError) as info:
        apply_suggestion(scene, suggestion(*ops))
    assert info.value.code == code, info.value
    assert changed(before, snapshot(scene)) == set()
    return info.value


def only(keys: set[tuple], *prefixes: tuple) -> bool:
    return all(any(k[: len(p)] == p for p in prefixes) for k in keys)


def world_matrix(obj: bpy.types.Object) -> Matrix:
    bpy.context.view_layer.update()
    return obj.matrix_world.copy()


def channel(obj: bpy.types.Object, path: str, index: int) -> bpy.types.FCurve:
    (fc,) = fcurves.fcurves(obj, path, index)
    return fc


def frames_of(fc: bpy.types.FCurve) -> list[float]:
    return [k.co[0] for k in fc.keyframe_points]


def trajectory(scene: bpy.types.Scene, obj: bpy.types.Object, frames=(1, 3, 8, 12, 18, 24, 30)) -> list[tuple]:
    """The object's evaluated location over frames (the animation as played), current frame kept."""
    current = scene.frame_current
    out = []
    for f in frames:
        scene.frame_set(f)
        out.append(tuple(round(v, 5) for v in obj.matrix_world.translation))
    scene.frame_set(current)
    return out


@pytest.fixture
def sc(animated_scene: AnimatedScene) -> AnimatedScene:
    return animated_scene


# ---------------------------------------------------------------- the tables
def test_every_op_has_a_handler_and_every_modifier_setting_a_property() -> None:
    assert set(RULES) == set(OP_CLASSES)
    settings = typing.get_args(OPS["add_modifier"].model_fields["modifier"].annotation)
    assert set(MODIFIER_TABLE) == set(settings)
    for cls, (kind, _, table) in MODIFIER_TABLE.items():
        assert kind == cls.model_fields["type"].annotation.__args__[0]
        assert set(table) == set(cls.model_fields) - {"type"}, kind


def test_bad_arguments_are_rejected(sc: AnimatedScene) -> None:
    s = suggestion({"op": "translate", "targets": ["Crate"], "vector": [0, 0, 1]})
    with pytest.raises(TypeError, match="bpy.types.Scene"):
        apply_suggestion("Scene", s)
    with pytest.raises(TypeError, match="Suggestion"):
        apply_suggestion(sc.scene, {"ops": []})
    with pytest.raises(ValueError, match="unknown ApplyError code"):
        ApplyError("oops", "x")


# ---------------------------------------------------------------- transforms
def test_translate_relative_world_moves_only_that_object(sc: AnimatedScene) -> None:
    lid_world = world_matrix(sc.objects["Crate_Lid"])
    report, diff, before, after = run(sc.scene, {"op": "translate", "targets": ["Crate"], "vector": [0, 0, 1]})
    assert diff == {("object", "Crate", "location")}
    assert after[("object", "Crate", "location")] == pytest.approx((1, 0.5, 1.5))
    assert report.lines == ["Crate: location +[0, 0, 1] (world)"]
    # the child follows in the world, its own transform untouched
    assert tuple(world_matrix(sc.objects["Crate_Lid"]).translation) == pytest.approx(
        tuple(lid_world.translation + Vector((0, 0, 1)))
    )


def test_translate_local_follows_the_objects_axes(sc: AnimatedScene) -> None:
    _, diff, _, after = run(sc.scene, {"op": "translate", "targets": ["Crate"], "vector": [1, 0, 0], "space": "local"})
    c, s = math.cos(math.radians(30)), math.sin(math.radians(30))
    assert diff == {("object", "Crate", "location")}
    assert after[("object", "Crate", "location")] == pytest.approx((1 + c, 0.5 + s, 0.5), abs=1e-6)


def test_translate_absolute_world_of_a_child(sc: AnimatedScene) -> None:
    lid = sc.objects["Crate_Lid"]
    _, diff, _, _ = run(
        sc.scene, {"op": "translate", "targets": ["Crate_Lid"], "vector": [0, 0, 3], "mode": "absolute"}
    )
    assert diff == {("object", "Crate_Lid", "location")}
    assert tuple(world_matrix(lid).translation) == pytest.approx((0, 0, 3), abs=1e-5)
    _, diff, _, after = run(
        sc.scene,
        {"op": "translate", "targets": ["Crate_Lid"], "vector": [0, 0, 1], "mode": "absolute", "space": "local"},
    )
    assert after[("object", "Crate_Lid", "location")] == (0, 0, 1)


def test_rotate_world_and_local(sc: AnimatedScene) -> None:
    crate, lid = sc.objects["Crate"], sc.objects["Crate_Lid"]
    crate.scale = (1.2, 1.2, 1.2)  # a non-uniform parent scale shears its children: no pure world rotation
    lid_before = world_matrix(lid)
    _, diff, _, _ = run(sc.scene, {"op": "rotate", "targets": ["Crate_Lid"], "degrees": [90, 0, 0]})
    assert diff == {("object", "Crate_Lid", "rotation_euler")}
    lid_after = world_matrix(lid)
    turn = Euler((math.radians(90), 0, 0)).to_quaternion()
    assert lid_after.to_quaternion().rotation_difference(turn @ lid_before.to_quaternion()).angle == pytest.approx(
        0, abs=1e-5
    )
    assert tuple(lid_after.translation) == pytest.approx(
        tuple(lid_before.translation), abs=1e-6
    )  # about its own origin
    _, diff, _, after = run(sc.scene, {"op": "rotate", "targets": ["Crate"], "degrees": [0, 0, 15], "space": "local"})
    assert after[("object", "Crate", "rotation_euler")] == pytest.approx((0, 0, math.radians(45)), abs=1e-6)
    _, _, _, after = run(
        sc.scene, {"op": "rotate", "targets": ["Crate"], "degrees": [0, 0, 370], "mode": "absolute", "space": "local"}
    )
    assert after[("object", "Crate", "rotation_euler")] == pytest.approx((0, 0, math.radians(370)), abs=1e-6)
    _, _, _, _ = run(sc.scene, {"op": "rotate", "targets": ["Crate_Lid"], "degrees": [0, 0, 90], "mode": "absolute"})
    want = Euler((0, 0, math.radians(90))).to_quaternion()
    assert world_matrix(lid).to_quaternion().rotation_difference(want).angle == pytest.approx(0, abs=1e-5)
    assert crate.scale[:] == pytest.approx((1.2, 1.2, 1.2))


def test_scale_relative_and_absolute(sc: AnimatedScene) -> None:
    report, diff, _, after = run(sc.scene, {"op": "scale", "targets": ["Crate", "Ball"], "factor": [2, 2, 0.5]})
    assert diff == {("object", "Crate", "scale"), ("object", "Ball", "scale")}
    assert after[("object", "Crate", "scale")] == pytest.approx((2.4, 2, 0.5))
    assert len(report.lines) == 2
    _, _, _, after = run(sc.scene, {"op": "scale", "targets": ["Crate"], "factor": [1, 1, 1], "mode": "absolute"})
    assert after[("object", "Crate", "scale")] == (1, 1, 1)


def test_moving_an_animated_object_moves_its_animation(sc: AnimatedScene) -> None:
    scene, ball = sc.scene, sc.objects["Ball"]
    path = trajectory(scene, ball)
    _, diff, _, after = run(scene, {"op": "translate", "targets": ["Ball"], "vector": [0, 2, 0.5]})
    action = ball.animation_data.action.name
    assert only(diff, ("object", "Ball", "location"), ("fcurve", action, "location", 2))  # y is not animated
    assert trajectory(scene, ball) == [pytest.approx((x, y + 2, z + 0.5), abs=1e-5) for x, y, z in path]


# ---------------------------------------------------------------- materials
def test_set_base_color_edits_the_slot_material_and_its_viewport_color(sc: AnimatedScene) -> None:
    report, diff, before, after = run(sc.scene, {"op": "set_base_color", "targets": ["Crate"], "color": [0, 1, 0]})
    assert diff == {("material", "Crate_Red", "Base Color"), ("material", "Crate_Red", "viewport")}
    assert after[("material", "Crate_Red", "Base Color")] == (0, 1, 0, 1)
    assert after[("material", "Crate_Red", "viewport")][0] == (0, 1, 0, 1)
    assert report.lines == ["Crate: material 'Crate_Red' base color → [0, 1, 0]"]


def test_a_shared_material_changes_for_every_object_using_it(sc: AnimatedScene) -> None:
    sc.objects["Ball"].material_slots[0].material = bpy.data.materials["Crate_Red"]
    report, diff, _, _ = run(sc.scene, {"op": "set_roughness", "targets": ["Crate"], "value": 0.9})
    assert diff == {("material", "Crate_Red", "Roughness"), ("material", "Crate_Red", "viewport")}
    assert report.lines == ["Crate: material 'Crate_Red' roughness → 0.9 (shared: also on Ball)"]
    report, diff, _, _ = run(sc.scene, {"op": "set_metallic", "targets": ["Crate", "Ball"], "value": 1.0})
    assert report.lines == ["Crate, Ball: material 'Crate_Red' metallic → 1"]  # one edit, one line


def test_alpha_and_emission(sc: AnimatedScene) -> None:
    _, diff, _, after = run(
        sc.scene,
        {"op": "set_alpha", "targets": ["Ball"], "value": 0.25},
        {"op": "set_emission", "targets": ["Ball"], "color": [1, 0.5, 0], "strength": 4},
    )
    k = ("material", "Ball_Blue")
    assert diff == {k + ("Alpha",), k + ("viewport",), k + ("Emission Color",), k + ("Emission Strength",)}
    assert after[k + ("Alpha",)] == 0.25 and after[k + ("viewport",)][0][3] == 0.25
    assert after[k + ("Emission Color",)] == (1, 0.5, 0, 1) and after[k + ("Emission Strength",)] == 4


def test_an_object_without_material_gets_one(sc: AnimatedScene) -> None:
    report, diff, _, after = run(sc.scene, {"op": "set_base_color", "targets": ["Hidden_Box"], "color": [1, 0, 0]})
    assert after[("object", "Hidden_Box", "slots")] == (("DATA", "Hidden_Box_Material"),)
    assert after[("material", "Hidden_Box_Material", "Base Color")] == (1, 0, 0, 1)
    assert only(diff, ("object", "Hidden_Box", "slots"), ("material", "Hidden_Box_Material"), ("count", "materials"))
    assert report.lines[0] == "Hidden_Box: new material 'Hidden_Box_Material' in slot 0"


def test_assign_material(sc: AnimatedScene) -> None:
    report, diff, _, after = run(
        sc.scene,
        {"op": "assign_material", "targets": ["Crate", "Ball"], "name": "Gold", "base_color": [1, 0.8, 0.2],
         "roughness": 0.2, "metallic": 1.0},
    )  # fmt: skip
    assert after[("object", "Crate", "slots")] == (("DATA", "Gold"),) == after[("object", "Ball", "slots")]
    assert after[("material", "Gold", "viewport")][0] == pytest.approx((1, 0.8, 0.2, 1))
    assert after[("material", "Gold", "viewport")][1:] == pytest.approx((0.2, 1.0))
    assert after[("material", "Gold", "Base Color")] == pytest.approx((1, 0.8, 0.2, 1))
    assert only(diff, ("object", "Crate", "slots"), ("object", "Ball", "slots"), ("material", "Gold"), ("count",))
    assert after[("material", "Crate_Red", "Base Color")][:3] == pytest.approx(AnimatedScene.COLORS["Crate_Red"])


def test_material_ops_that_cannot_apply(sc: AnimatedScene) -> None:
    e = refused(sc.scene, "not_applicable", {"op": "set_roughness", "targets": ["Ground"], "value": 0.1})
    assert "Principled" in e.message and e.op_index == 0
    e = refused(sc.scene, "not_applicable", {"op": "set_metallic", "targets": ["Crate"], "value": 0.1, "slot": 3})
    assert "no slot 3" in e.message
    refused(sc.scene, "wrong_kind", {"op": "set_base_color", "targets": ["Key_Light"], "color": [1, 0, 0]})
    tree = bpy.data.materials["Crate_Red"].node_tree
    texture = tree.nodes.new("ShaderNodeTexNoise")
    tree.links.new(texture.outputs["Color"], surface_node(bpy.data.materials["Crate_Red"], "BSDF_PRINCIPLED").inputs[0])
    e = refused(sc.scene, "not_applicable", {"op": "set_base_color", "targets": ["Crate"], "color": [1, 0, 0]})
    assert "Base Color" in e.message and "node tree" in e.message
    # after assign_material in the same plan, the fresh material is what gets edited
    report, _, _, after = run(
        sc.scene,
        {"op": "assign_material", "targets": ["Crate"], "name": "Fresh", "base_color": [0, 0, 1]},
        {"op": "set_base_color", "targets": ["Crate"], "color": [1, 1, 0]},
    )
    assert after[("material", "Fresh", "Base Color")] == (1, 1, 0, 1)


# ---------------------------------------------------------------- lights, world, camera
def test_light_ops(sc: AnimatedScene) -> None:
    report, diff, _, after = run(
        sc.scene,
        {"op": "set_light_color", "targets": ["Key_Light"], "color": [1, 0.5, 0.2]},
        {"op": "set_light_energy", "targets": ["Key_Light", "Sun"], "value": 2},
        {"op": "set_light_energy", "targets": ["Sun"], "value": 7, "mode": "absolute"},
        {"op": "set_light_type", "targets": ["Key_Light"], "type": "SPOT"},
    )
    assert diff == {("light", "Key_Light"), ("light", "Sun")}
    assert after[("light", "Key_Light")] == ("SPOT", pytest.approx((1, 0.5, 0.2)), 1000)
    assert after[("light", "Sun")] == ("SUN", (1, 1, 1), 7)
    assert report.lines[1:3] == ["Key_Light: light energy 500 → 1000 W", "Sun: light energy 3 → 6 W"]


def test_add_light(sc: AnimatedScene) -> None:
    _, diff, _, after = run(
        sc.scene, {"op": "add_light", "name": "Fill", "type": "AREA", "location": [1, 2, 3], "energy": 50}
    )
    assert after[("light", "Fill")] == ("AREA", (1, 1, 1), 50)
    assert after[("object", "Fill", "location")] == (1, 2, 3)
    assert sc.scene.objects.get("Fill") is not None
    assert only(diff, ("light", "Fill"), ("object", "Fill"), ("count",), ("collection", sc.scene.collection.name))


def test_world_ops(sc: AnimatedScene) -> None:
    _, diff, _, after = run(
        sc.scene, {"op": "set_world_color", "color": [0.1, 0.2, 0.3]}, {"op": "set_world_strength", "value": 2}
    )
    assert diff == {("world", "Sky")}
    assert after[("world", "Sky")] == (pytest.approx((0.1, 0.2, 0.3)), pytest.approx((0.1, 0.2, 0.3, 1)), 2)


def test_world_is_made_when_missing(factory_scene: bpy.types.Scene) -> None:
    assert factory_scene.world is None
    report, _, _, after = run(factory_scene, {"op": "set_world_strength", "value": 3})
    assert after[("scene", "world")] == "World" and after[("world", "World")][2] == 3
    assert report.lines == ["Scene: new world 'World'", "World: strength 1 → 3"]


def test_camera_ops(sc: AnimatedScene) -> None:
    cam = sc.objects["Shot_Cam"]
    _, diff, _, after = run(
        sc.scene,
        {"op": "set_focal_length", "camera": "Shot_Cam", "value": 85},
        {"op": "move_camera", "camera": "Shot_Cam", "vector": [0, 0, 1]},
    )
    assert diff == {("camera", "Shot_Cam"), ("object", "Shot_Cam", "location")}
    assert after[("camera", "Shot_Cam")] == ("PERSP", 85) and after[("object", "Shot_Cam", "location")] == (6, -6, 5)
    run(sc.scene, {"op": "move_camera", "camera": "Shot_Cam", "vector": [3, -3, 2], "mode": "absolute"})
    _, diff, _, _ = run(sc.scene, {"op": "camera_look_at", "camera": "Shot_Cam", "target": "Ball"})
    assert diff == {("object", "Shot_Cam", "rotation_euler")}
    m = world_matrix(cam)
    ball = world_matrix(sc.objects["Ball"]).translation  # a sphere: its bounds' centre is its origin
    looking = (m.to_3x3() @ Vector((0, 0, -1))).normalized()
    assert looking.dot((ball - m.translation).normalized()) == pytest.approx(1, abs=1e-6)
    assert (m.to_3x3() @ Vector((1, 0, 0))).z == pytest.approx(0, abs=1e-6)  # no roll: horizon level
    assert tuple(m.translation) == pytest.approx((3, -3, 2))


def test_camera_refusals(sc: AnimatedScene) -> None:
    sc.objects["Shot_Cam"].data.type = "ORTHO"
    refused(sc.scene, "not_applicable", {"op": "set_focal_length", "camera": "Shot_Cam", "value": 50})
    refused(sc.scene, "wrong_kind", {"op": "set_focal_length", "camera": "Crate", "value": 50})
    refused(sc.scene, "not_applicable", {"op": "camera_look_at", "camera": "Shot_Cam", "target": "Shot_Cam"})


# ---------------------------------------------------------------- objects
def test_visibility(sc: AnimatedScene) -> None:
    _, diff, _, after = run(sc.scene, {"op": "set_visibility", "targets": ["Crate"], "visible": False})
    # Crate was selected: Blender reports a hidden object as not selected
    assert diff == {
        ("object", "Crate", "hide_viewport"),
        ("object", "Crate", "hide_render"),
        ("object", "Crate", "selected"),
    }
    sc.objects["Hidden_Box"].hide_set(True)
    report, diff, _, after = run(sc.scene, {"op": "set_visibility", "targets": ["Hidden_Box"], "visible": True})
    assert diff == {("object", "Hidden_Box", "hide_render"), ("object", "Hidden_Box", "eye")}
    assert report.lines == ["Hidden_Box: shown (viewport and render)"]


def test_duplicate_copies_data_and_animation(sc: AnimatedScene) -> None:
    scene, ball = sc.scene, sc.objects["Ball"]
    path = trajectory(scene, ball)
    report, diff, before, after = run(scene, {"op": "duplicate", "targets": ["Crate", "Ball"], "offset": [1, 0, 0]})
    crate2, ball2 = scene.objects["Crate.001"], scene.objects["Ball.001"]
    assert crate2.data != sc.objects["Crate"].data and crate2.data.name == "Crate.001"
    assert [m.name for m in crate2.modifiers] == ["Bevel"]
    assert after[("object", "Crate.001", "location")] == pytest.approx((2, 0.5, 0.5))
    assert crate2.users_collection[0] == scene.collection
    assert ball2.animation_data.action != ball.animation_data.action
    assert trajectory(scene, ball2) == [pytest.approx((x + 1, y, z), abs=1e-5) for x, y, z in path]
    assert trajectory(scene, ball) == path  # the original's animation is untouched
    assert not any(k[:2] in {("object", "Crate"), ("object", "Ball")} for k in diff)
    assert report.lines == [
        "Crate: duplicated as Crate.001, offset [1, 0, 0]",
        "Ball: duplicated as Ball.001, offset [1, 0, 0]",
    ]


def test_delete_keeps_children_in_place(sc: AnimatedScene) -> None:
    lid_world = world_matrix(sc.objects["Crate_Lid"])
    report, diff, _, after = run(sc.scene, {"op": "delete", "targets": ["Crate"]})
    assert "Crate" not in bpy.data.objects and sc.scene.objects.get("Crate") is None
    lid = sc.scene.objects["Crate_Lid"]
    assert lid.parent is None
    assert tuple(world_matrix(lid).translation) == pytest.approx(tuple(lid_world.translation), abs=1e-6)
    assert world_matrix(lid).to_quaternion().rotation_difference(lid_world.to_quaternion()).angle < 1e-5
    assert report.lines == ["Crate: deleted"]


def test_ops_after_a_delete_of_the_same_object_are_refused(sc: AnimatedScene) -> None:
    e = refused(
        sc.scene,
        "not_applicable",
        {"op": "delete", "targets": ["Crate"]},
        {"op": "translate", "targets": ["Crate"], "vector": [1, 0, 0]},
    )
    assert e.op_index == 1 and "deleted by an earlier op" in e.message


def test_shading(sc: AnimatedScene) -> None:
    mesh = sc.objects["Crate"].data.name
    _, diff, _, after = run(sc.scene, {"op": "set_shading", "targets": ["Crate"], "smooth": True})
    assert diff == {("mesh", mesh, "attributes"), ("mesh", mesh, "sharp_face")}
    assert after[("mesh", mesh, "sharp_face")] is None
    _, _, _, after = run(sc.scene, {"op": "set_shading", "targets": ["Crate"], "smooth": False})
    assert set(after[("mesh", mesh, "sharp_face")]) == {True}
    refused(sc.scene, "wrong_kind", {"op": "set_shading", "targets": ["Sun"], "smooth": True})


MODIFIERS = [
    ({"type": "BEVEL", "width": 0.1, "segments": 3}, {"width": 0.1, "segments": 3}),
    ({"type": "SUBSURF", "levels": 2}, {"levels": 2, "render_levels": 2}),
    (
        {"type": "ARRAY", "count": 4, "relative_offset": [0, 1.5, 0]},
        {"count": 4, "relative_offset_displace": (0, 1.5, 0)},
    ),
    ({"type": "SOLIDIFY", "thickness": 0.2}, {"thickness": 0.2}),
    ({"type": "MIRROR", "axes": [False, True, True]}, {"use_axis": (False, True, True)}),
    ({"type": "DECIMATE", "ratio": 0.25}, {"ratio": 0.25}),
    ({"type": "WIREFRAME", "thickness": 0.05}, {"thickness": 0.05}),
]


@pytest.mark.parametrize(("settings", "expected"), MODIFIERS, ids=[m[0]["type"] for m in MODIFIERS])
def test_add_modifier(sc: AnimatedScene, settings: dict, expected: dict) -> None:
    report, diff, _, after = run(sc.scene, {"op": "add_modifier", "targets": ["Ball"], "modifier": settings})
    (name,) = after[("object", "Ball", "modifiers")]
    props = after[("object", "Ball", "modifier", name)]
    assert props["type"] == settings["type"]
    for attr, value in expected.items():
        assert props[attr] == pytest.approx(value), attr
    assert diff == {("object", "Ball", "modifiers"), ("object", "Ball", "modifier", name)}
    assert report.lines[0].startswith(f"Ball: added {settings['type']} modifier {name!r}")


def test_adjust_modifier_changes_only_what_the_plan_names(sc: AnimatedScene) -> None:
    segments = sc.objects["Crate"].modifiers["Bevel"].segments
    plan = {"op": "adjust_modifier", "targets": ["Crate"], "name": "Bevel", "modifier": {"type": "BEVEL", "width": 0.2}}
    report, diff, before, after = run(sc.scene, plan)
    props = after[("object", "Crate", "modifier", "Bevel")]
    assert props["width"] == pytest.approx(0.2) and props["segments"] == segments
    assert changed({"m": before[("object", "Crate", "modifier", "Bevel")]}, {"m": props}) == {"m"}
    assert diff == {("object", "Crate", "modifier", "Bevel")}
    assert report.lines == ["Crate: modifier 'Bevel' → width 0.2"]
    refused(
        sc.scene, "wrong_kind",
        {"op": "adjust_modifier", "targets": ["Crate"], "name": "Bevel", "modifier": {"type": "SUBSURF", "levels": 1}},
    )  # fmt: skip
    refused(
        sc.scene, "missing_target",
        {"op": "adjust_modifier", "targets": ["Ball"], "name": "Bevel", "modifier": {"type": "BEVEL", "width": 1}},
    )  # fmt: skip


def test_remove_modifier(sc: AnimatedScene) -> None:
    _, diff, _, after = run(sc.scene, {"op": "remove_modifier", "targets": ["Crate"], "name": "Bevel"})
    assert after[("object", "Crate", "modifiers")] == ()
    assert diff == {("object", "Crate", "modifiers"), ("object", "Crate", "modifier", "Bevel")}
    refused(sc.scene, "missing_target", {"op": "remove_modifier", "targets": ["Crate"], "name": "Bevel"})


# ---------------------------------------------------------------- animation
def ball_action(sc: AnimatedScene) -> str:
    return sc.objects["Ball"].animation_data.action.name


def test_retime(sc: AnimatedScene) -> None:
    ball = sc.objects["Ball"]
    z = channel(ball, "location", 2)
    handles = [tuple(k.handle_right) for k in z.keyframe_points]
    report, diff, _, _ = run(sc.scene, {"op": "retime", "targets": ["Ball"], "factor": 2, "pivot_frame": 1})
    assert frames_of(z) == [1, 23, 47] and frames_of(channel(ball, "location", 0)) == [1, 47]
    assert [k.interpolation for k in z.keyframe_points] == ["BEZIER", "LINEAR", "CONSTANT"]
    assert [k.handle_right[0] for k in z.keyframe_points] == pytest.approx([1 + 2 * (h[0] - 1) for h in handles])
    assert only(diff, ("fcurve", ball_action(sc)), ("object", "Ball", "location"))
    assert report.lines == ["Ball: retimed ×2 about frame 1 (5 keys, frames 1–24 → 1–47)"]
    twin = bpy.data.objects.new("Twin", None)  # animated by the same action and slot
    sc.scene.collection.objects.link(twin)
    twin.animation_data_create()
    twin.animation_data.action = ball.animation_data.action
    if fcurves.LAYERED:
        twin.animation_data.action_slot = ball.animation_data.action_slot
    report, _, _, _ = run(sc.scene, {"op": "shift_keys", "targets": ["Ball"], "frames": 1})
    assert report.lines == [
        "Ball: keys shifted +1 frames (5 keys, frames 1–47 → 2–48) (shared action: also moves Twin)"
    ]


def test_shift_scale_amplitude_and_interpolation(sc: AnimatedScene) -> None:
    ball = sc.objects["Ball"]
    z = channel(ball, "location", 2)
    run(sc.scene, {"op": "shift_keys", "targets": ["Ball"], "frames": 5})
    assert frames_of(z) == [6, 17, 29]
    _, diff, _, _ = run(
        sc.scene, {"op": "scale_amplitude", "targets": ["Ball"], "channel": "location", "index": 2, "factor": 0.5}
    )
    assert [k.co[1] for k in z.keyframe_points] == pytest.approx([0.3, 0.9, 0.3])
    assert [k.co[1] for k in channel(ball, "location", 0).keyframe_points] == pytest.approx([-1.2, -0.2])
    assert only(diff, ("fcurve", ball_action(sc), "location", 2), ("object", "Ball", "location"))
    run(sc.scene, {"op": "set_interpolation", "targets": ["Ball"], "interpolation": "BEZIER", "easing": "EASE_IN_OUT"})
    for k in z.keyframe_points:
        assert (k.interpolation, k.easing, k.handle_left_type, k.handle_right_type) == (
            "BEZIER", "EASE_IN_OUT", "ALIGNED", "ALIGNED",
        )  # fmt: skip
        assert k.handle_left[1] == k.handle_right[1] == k.co[1]  # flat: slow in and out
    run(sc.scene, {"op": "set_interpolation", "targets": ["Ball"], "interpolation": "CONSTANT"})
    assert {k.interpolation for k in z.keyframe_points} == {"CONSTANT"}


def test_insert_and_delete_keyframes(sc: AnimatedScene) -> None:
    ball = sc.objects["Ball"]
    z = channel(ball, "location", 2)
    report, diff, _, _ = run(
        sc.scene,
        {"op": "insert_keyframe", "target": "Ball", "channel": "location", "index": 2, "frame": 30, "value": 0.6},
    )
    assert frames_of(z) == [1, 12, 24, 30] and z.keyframe_points[3].co[1] == pytest.approx(0.6)
    assert z.keyframe_points[3].interpolation == "CONSTANT"  # that of the key before it
    assert report.lines == ["Ball: location[2] new key at frame 30 = 0.6"]
    _, diff, _, _ = run(
        sc.scene, {"op": "delete_keyframe", "target": "Ball", "channel": "location", "index": 2, "frame": 12}
    )
    assert frames_of(z) == [1, 24, 30] and [k.co[1] for k in z.keyframe_points] == pytest.approx([0.3, 0.3, 0.6])
    run(sc.scene, {"op": "delete_keyframe", "target": "Ball", "channel": "location", "index": -1, "frame": 24.2})
    assert frames_of(z) == [1, 30] and frames_of(channel(ball, "location", 0)) == [1]
    e = refused(
        sc.scene, "not_applicable",
        {"op": "delete_keyframe", "target": "Ball", "channel": "location", "index": 2, "frame": 15},
    )  # fmt: skip
    assert "no location key near frame 15" in e.message


def test_insert_keyframe_on_an_object_without_animation(sc: AnimatedScene) -> None:
    crate = sc.objects["Crate"]
    _, diff, _, after = run(
        sc.scene,
        {"op": "insert_keyframe", "target": "Crate", "channel": "rotation_euler", "index": 2, "frame": 1, "value": 0},
        {"op": "insert_keyframe", "target": "Crate", "channel": "rotation_euler", "index": 2, "frame": 9, "value": 1},
        {"op": "retime", "targets": ["Crate"], "factor": 0.5, "pivot_frame": 1},  # animated now: accepted
    )
    fc = channel(crate, "rotation_euler", 2)
    assert frames_of(fc) == [1, 5] and [k.co[1] for k in fc.keyframe_points] == [0, 1]
    assert fc.group.name == "Object Transforms"
    assert crate.rotation_euler.z == pytest.approx(1.0)  # the animation drives it now (frame 5)
    refused(sc.scene, "wrong_kind", {"op": "retime", "targets": ["Sun"], "factor": 2})
    refused(sc.scene, "not_applicable", {"op": "scale_amplitude", "targets": ["Ball"], "channel": "scale", "factor": 2})


def test_set_frame_range(sc: AnimatedScene) -> None:
    report, diff, _, after = run(sc.scene, {"op": "set_frame_range", "start": 30, "length": 100, "fps": 25})
    assert diff == {("scene", "range"), ("scene", "fps")}
    assert after[("scene", "range")] == (30, 129, 5) and after[("scene", "fps")] == (25, 1)
    assert report.lines == ["Scene: frames 1–24 at 29.97 fps → 30–129 at 25 fps"]
    run(sc.scene, {"op": "set_frame_range", "start": 1, "length": 10, "fps": 23.976})
    assert sc.scene.render.fps == 24 and sc.scene.render.fps / sc.scene.render.fps_base == pytest.approx(23.976)


POINTS = [(0, 0), (10, 1), (11, 10), (20, 4), (26, 4.5), (40, -2)]
AUTO = [kf.Key(f, v) for f, v in POINTS]
HANDLE_CASES = {
    "auto clamped": AUTO,
    "auto": [kf.Key(f, v, left_type="AUTO", right_type="AUTO") for f, v in POINTS],
    "vector": [kf.Key(f, v, left_type="VECTOR", right_type="VECTOR") if f == 20 else kf.Key(f, v) for f, v in POINTS],
    # a clamped automatic handle moves the key's other handle, even a FREE one
    "mixed": [kf.Key(10, 1, right=(10.5, 7), right_type="FREE") if f == 10 else kf.Key(f, v) for f, v in POINTS],
    **{easing: kf.set_interpolation(AUTO, "BEZIER", easing) for easing in ("EASE_IN", "EASE_OUT", "EASE_IN_OUT")},
}


@pytest.mark.parametrize("extrapolation", ["CONSTANT", "LINEAR"])
@pytest.mark.parametrize("case", list(HANDLE_CASES))
def test_blenders_handles_match_the_pure_model(factory_scene: bpy.types.Scene, case: str, extrapolation: str) -> None:
    # With auto smoothing "None", Blender's handle recalculation (FCurve.update) is kf.auto_handles.
    wanted = HANDLE_CASES[case]
    if case.startswith("EASE"):
        wanted = kf.set_interpolation(AUTO, "BEZIER", case, extrapolation)
    obj = bpy.data.objects.new("E", None)
    factory_scene.collection.objects.link(obj)
    run_ = Run(factory_scene)
    fc = fcurves.ensure_fcurve(obj, "location", 0, run_.journal.on_undo)
    fc.auto_smoothing, fc.extrapolation = "NONE", extrapolation
    fc.keyframe_points.add(len(wanted))
    run_.write_keys(fc, wanted, keys.raw_keys(fc))  # writes, then lets Blender recalculate
    got, _ = keys.read(fc)
    want = kf.auto_handles(wanted, extrapolation)
    for g, w in zip(got, want, strict=True):
        assert (g.left_type, g.right_type) == (w.left_type, w.right_type)
        assert g.left == pytest.approx(w.left, abs=1e-4) and g.right == pytest.approx(w.right, abs=1e-4), g.frame
    if case.startswith("EASE"):
        assert want == wanted  # eased keys stay as eased


def test_generative_edit_is_a_hand_off(sc: AnimatedScene) -> None:
    op = {"op": "generative_edit", "modality": "image", "prompt": "a cosy rug", "mask": {"objects": ["Ground"]}}
    report, diff, _, _ = run(sc.scene, op)
    assert diff == set()
    assert report.lines == ["Hand-off to a image generative editor (scene unchanged): 'a cosy rug' on Ground"]
    assert report.handoffs[0].prompt == "a cosy rug"


# ---------------------------------------------------------------- refusals change nothing
def test_missing_and_wrong_kind_targets(sc: AnimatedScene) -> None:
    ok = {"op": "translate", "targets": ["Crate"], "vector": [0, 0, 1]}
    e = refused(
        sc.scene, "missing_target", ok, {"op": "set_visibility", "targets": ["Crate", "Nope"], "visible": False}
    )
    assert e.op_index == 1 and "'Nope'" in e.message and str(e).startswith("missing_target: op 1: set_visibility")
    e = refused(sc.scene, "wrong_kind", ok, {"op": "set_light_energy", "targets": ["Crate"], "value": 2})
    assert "'Crate' is a mesh object, not a light" in e.message
    refused(sc.scene, "wrong_kind", {"op": "move_camera", "camera": "Sun", "vector": [0, 0, 1]})
    refused(sc.scene, "wrong_kind", {"op": "shift_keys", "targets": ["Crate"], "frames": 3})
    refused(sc.scene, "missing_target", {"op": "remove_modifier", "targets": ["Ball"], "name": "Bevel"})
    # an object in another scene is not in this one
    other = bpy.data.scenes.new("Other")
    other.collection.objects.link(bpy.data.objects.new("Elsewhere", None))
    refused(sc.scene, "missing_target", {"op": "delete", "targets": ["Elsewhere"]})
    with pytest.raises(ApplyError):  # check_suggestion alone says the same
        check_suggestion(sc.scene, suggestion({"op": "delete", "targets": ["Elsewhere"]}))


def test_out_of_range_values_never_reach_apply(sc: AnimatedScene) -> None:
    before = snapshot(sc.scene)
    graph = extract_scene_graph(sc.scene)
    plan = {"reasoning": "", "suggestions": [{"title": "t", "rationale": "", "confidence": 0.5, "ops": [
        {"op": "set_roughness", "targets": ["Crate"], "value": 1.5}]}]}  # fmt: skip
    with pytest.raises(PlanError) as info:
        validate_plan(plan, graph)
    assert info.value.code == "out_of_range"
    # a Suggestion built without validation is refused before anything changes
    bad = Suggestion.model_construct(
        title="t", rationale="", confidence=0.5,
        ops=[OPS["scale"].model_construct(op="scale", targets=["Crate"], factor=[0, 0, 0], mode="absolute")],
    )  # fmt: skip
    with pytest.raises(ValueError, match="does not validate"):
        apply_suggestion(sc.scene, bad)
    assert changed(before, snapshot(sc.scene)) == set()


# ---------------------------------------------------------------- all or nothing
def _fail_after(monkeypatch: pytest.MonkeyPatch, op: str) -> None:
    """Make `op`'s handler fail after doing its real work."""
    cls = OPS[op]
    real = RULES[cls]

    def failing(run_: Any, op_: Any) -> None:
        real.handler(run_, op_)
        raise RuntimeError("injected failure")

    monkeypatch.setitem(RULES, cls, dataclasses.replace(real, handler=failing))


ROLLBACK_PLANS = {
    "objects and animation": [
        {"op": "retime", "targets": ["Ball"], "factor": 1.5, "pivot_frame": 3},
        {"op": "insert_keyframe", "target": "Crate", "channel": "location", "index": 0, "frame": 3, "value": 2},
        {"op": "translate", "targets": ["Crate", "Crate_Lid"], "vector": [1, 2, 3]},
        {"op": "add_modifier", "targets": ["Crate"], "modifier": {"type": "ARRAY", "count": 3}},
        {"op": "duplicate", "targets": ["Ball"], "offset": [0, 1, 0]},
        {"op": "delete", "targets": ["Crate_Lid", "Sun"]},
        {"op": "set_visibility", "targets": ["Hidden_Box"], "visible": True},
        {"op": "set_frame_range", "start": 5, "length": 50, "fps": 60},
    ],
    "materials, lights, world, camera": [
        {"op": "set_base_color", "targets": ["Hidden_Box"], "color": [1, 0, 0]},
        {"op": "assign_material", "targets": ["Crate"], "name": "Gold", "base_color": [1, 0.8, 0.2]},
        {"op": "set_emission", "targets": ["Ball"], "color": [1, 1, 0], "strength": 3},
        {"op": "add_light", "name": "Fill", "type": "POINT", "location": [0, 0, 2]},
        {"op": "set_world_color", "color": [0, 0, 0]},
        {"op": "camera_look_at", "camera": "Shot_Cam", "target": "Crate"},
        {"op": "set_shading", "targets": ["Crate", "Ball"], "smooth": True},
        {"op": "remove_modifier", "targets": ["Crate"], "name": "Bevel"},
    ],
    "keys and data": [
        {"op": "set_light_type", "targets": ["Key_Light"], "type": "POINT"},
        {"op": "set_light_energy", "targets": ["Key_Light"], "value": 3},
        {"op": "set_focal_length", "camera": "Shot_Cam", "value": 20},
        {"op": "rotate", "targets": ["Crate_Lid", "Ball"], "degrees": [10, 20, 30]},
        {"op": "set_interpolation", "targets": ["Ball"], "interpolation": "BEZIER", "easing": "EASE_IN"},
        {"op": "delete_keyframe", "target": "Ball", "channel": "location", "index": -1, "frame": 24},
        {"op": "adjust_modifier", "targets": ["Crate"], "name": "Bevel", "modifier": {"type": "BEVEL", "segments": 5}},
        {"op": "scale_amplitude", "targets": ["Ball"], "channel": "location", "factor": 3},
    ],
}


@pytest.mark.parametrize("name", list(ROLLBACK_PLANS))
def test_a_failure_midway_restores_the_scene_exactly(
    sc: AnimatedScene, monkeypatch: pytest.MonkeyPatch, name: str
) -> None:
    scene, ops = sc.scene, ROLLBACK_PLANS[name]
    plan = suggestion(*ops)
    _fail_after(monkeypatch, ops[-1]["op"])
    ball_path = trajectory(scene, sc.objects["Ball"])
    before = snapshot(scene)
    with pytest.raises(ApplyError) as info:
        apply_suggestion(scene, plan)
    assert info.value.code == "failed" and info.value.op_index == len(ops) - 1
    assert "injected failure" in info.value.message and "could not be fully restored" not in info.value.message
    assert changed(before, snapshot(scene)) == set()
    assert trajectory(scene, sc.objects["Ball"]) == ball_path  # the evaluated animation too
    monkeypatch.undo()
    report = apply_suggestion(scene, plan)  # the same plan applies once nothing fails
    assert len(report.lines) >= len(ops)


def test_a_real_failure_midway_restores_the_scene(sc: AnimatedScene) -> None:
    # the key is looked for at apply time, after two ops changed the scene
    e = refused(
        sc.scene, "not_applicable",
        {"op": "shift_keys", "targets": ["Ball"], "frames": 10},
        {"op": "add_light", "name": "Fill", "type": "SPOT", "location": [0, 0, 2]},
        {"op": "delete_keyframe", "target": "Ball", "channel": "location", "index": 2, "frame": 12},
    )  # fmt: skip
    assert e.op_index == 2


def test_a_refused_delete_restores_every_collections_order(sc: AnimatedScene, monkeypatch: pytest.MonkeyPatch) -> None:
    # Objects deleted from the middle of their collections (Crate from two), then a view-layer
    # update (the child's world matrix), then a failure: each comes back at its place, not last,
    # and as selected, hidden and active as it was (Blender drops that state with the object's base).
    scene, layer = sc.scene, bpy.context.view_layer
    props = bpy.data.collections.new("Props")
    scene.collection.children.link(props)
    for name in ("Sun", "Crate", "Shot_Cam"):
        props.objects.link(sc.objects[name])
    sc.objects["Key_Light"].hide_set(True)
    assert [o.name for o in scene.collection.objects].index("Crate") < len(scene.collection.objects) - 3
    _fail_after(monkeypatch, "set_frame_range")
    refused(
        scene, "failed",
        {"op": "delete", "targets": ["Crate", "Ball", "Key_Light"]},
        {"op": "translate", "targets": ["Crate_Lid"], "vector": [0, 0, 1]},
        {"op": "set_frame_range", "start": 1, "length": 10},
    )  # fmt: skip
    assert layer.objects.active == sc.objects["Ball"] and sc.objects["Crate"].select_get()
    assert sc.objects["Key_Light"].hide_get()


def test_world_creation_is_rolled_back(factory_scene: bpy.types.Scene, monkeypatch: pytest.MonkeyPatch) -> None:
    _fail_after(monkeypatch, "set_world_color")
    refused(factory_scene, "failed", {"op": "set_world_color", "color": [1, 0, 0]})
    assert factory_scene.world is None and len(bpy.data.worlds) == 0


# ---------------------------------------------------------------- undo, and the sample scene
def test_one_undo_step_restores_the_scene(sc: AnimatedScene) -> None:
    scene = sc.scene
    before = snapshot(scene)
    bpy.ops.ed.undo_push(message="before EVLM")
    apply_suggestion(scene, suggestion(*ROLLBACK_PLANS["objects and animation"]))
    bpy.ops.ed.undo_push(message="EVLM: apply")
    assert changed(before, snapshot(scene))
    assert bpy.ops.ed.undo() == {"FINISHED"}
    scene = bpy.context.scene  # undo reloads the data: old references are gone
    assert changed(before, snapshot(scene)) == set()


def test_a_validated_plan_applies_to_the_sample_scene(sample_scene: bpy.types.Scene) -> None:
    graph = extract_scene_graph(sample_scene)
    ops = [
        {"op": "retime", "targets": ["Sphere.001"], "factor": 1.5, "pivot_frame": 1},
        {"op": "set_base_color", "targets": ["chair_02"], "color": [0.6, 0.1, 0.1]},
        {"op": "set_light_energy", "targets": ["Lamp_Light"], "value": 0.5},
        {"op": "set_world_strength", "value": 0.3},
        {"op": "adjust_modifier", "targets": ["Table"], "name": "Bevel", "modifier": {"type": "BEVEL", "width": 0.03}},
    ]
    plan = validate_plan(
        {"reasoning": "", "suggestions": [{"title": "t", "rationale": "", "confidence": 0.5, "ops": ops}]}, graph
    )
    report = apply_suggestion(sample_scene, plan.suggestions[0])
    assert len(report.lines) == 5
    assert bpy.data.objects["Lamp_Light"].data.energy == pytest.approx(75)
    assert frames_of(channel(bpy.data.objects["Sphere.001"], "location", 2))[-1] == pytest.approx(71.5)


# ---------------------------------------------------------------- random plans
def random_op(rng: random.Random, scene: bpy.types.Scene) -> dict:
    """A valid op with random values and targets picked from the live scene (any kind, or a stray name)."""
    names = [o.name for o in scene.objects] + ["Nope"]
    cameras = [o.name for o in scene.objects if o.type == "CAMERA"] or names

    def vec(lo: float, hi: float) -> list[float]:
        return [round(rng.uniform(lo, hi), 3) for _ in range(3)]

    def unit() -> float:
        return round(rng.random(), 3)

    targets = rng.sample(names, min(len(names), rng.randint(1, 3)))
    name = rng.choice(names)
    modifier = rng.choice([{"type": "BEVEL", "width": unit()}, {"type": "SUBSURF", "levels": rng.randint(0, 2)},
                           {"type": "ARRAY", "count": rng.randint(1, 3)}, {"type": "SOLIDIFY"},
                           {"type": "MIRROR"}, {"type": "DECIMATE", "ratio": unit()}, {"type": "WIREFRAME"}])  # fmt: skip
    channel = rng.choice(["location", "rotation_euler", "scale"])
    modes = {"mode": rng.choice(["relative", "absolute"]), "space": rng.choice(["world", "local"])}
    ops = {
        "translate": {"targets": targets, "vector": vec(-3, 3), **modes},
        "rotate": {"targets": targets, "degrees": vec(-180, 180), **modes},
        "scale": {"targets": targets, "factor": vec(0.2, 3), "mode": modes["mode"]},
        "set_base_color": {"targets": targets, "color": vec(0, 1), "slot": rng.choice([0, 0, 1])},
        "set_roughness": {"targets": targets, "value": unit()},
        "set_metallic": {"targets": targets, "value": unit()},
        "set_emission": {"targets": targets, "color": vec(0, 1), "strength": rng.uniform(0, 5)},
        "set_alpha": {"targets": targets, "value": unit()},
        "assign_material": {"targets": targets, "name": "M", "base_color": vec(0, 1)},
        "set_light_color": {"targets": targets, "color": vec(0, 1)},
        "set_light_energy": {
            "targets": targets,
            "value": rng.uniform(0, 3),
            "mode": rng.choice(["absolute", "multiply"]),
        },
        "set_light_type": {"targets": targets, "type": rng.choice(["POINT", "SUN", "SPOT", "AREA"])},
        "add_light": {"name": rng.choice(["Fill", "Sun"]), "type": "POINT", "location": vec(-3, 3)},
        "set_world_color": {"color": vec(0, 1)},
        "set_world_strength": {"value": rng.uniform(0, 3)},
        "set_focal_length": {"camera": rng.choice(cameras), "value": rng.uniform(10, 200)},
        "move_camera": {"camera": rng.choice(cameras), "vector": vec(-3, 3), "mode": modes["mode"]},
        "camera_look_at": {"camera": rng.choice(cameras), "target": name},
        "set_visibility": {"targets": targets, "visible": rng.random() < 0.5},
        "duplicate": {"targets": targets, "offset": vec(-2, 2)},
        "delete": {"targets": targets},
        "set_shading": {"targets": targets, "smooth": rng.random() < 0.5},
        "add_modifier": {"targets": targets, "modifier": modifier},
        "adjust_modifier": {
            "targets": targets,
            "name": rng.choice(["Bevel", "Subdivision", "Array"]),
            "modifier": modifier,
        },
        "remove_modifier": {"targets": targets, "name": rng.choice(["Bevel", "Subdivision"])},
        "retime": {"targets": targets, "factor": rng.uniform(0.25, 4), "pivot_frame": rng.uniform(-10, 30)},
        "shift_keys": {"targets": targets, "frames": rng.uniform(-10, 10)},
        "scale_amplitude": {"targets": targets, "channel": channel, "index": rng.randint(-1, 2), "factor": unit() * 3},
        "set_interpolation": {
            "targets": targets,
            "interpolation": rng.choice(["CONSTANT", "LINEAR", "BEZIER"]),
            "easing": rng.choice(["AUTO", "EASE_IN", "EASE_OUT", "EASE_IN_OUT"]),
        },  # fmt: skip
        "insert_keyframe": {
            "target": name,
            "channel": channel,
            "index": rng.randint(0, 2),
            "frame": rng.randint(0, 40),
            "value": rng.uniform(-2, 2),
        },  # fmt: skip
        "delete_keyframe": {
            "target": name,
            "channel": channel,
            "index": rng.randint(-1, 2),
            "frame": rng.randint(0, 30),
        },
        "set_frame_range": {
            "start": rng.randint(0, 50),
            "length": rng.randint(1, 100),
            "fps": rng.choice([24, 25, 30]),
        },
        "generative_edit": {"modality": "image", "prompt": "p", "mask": {}},
    }
    op = rng.choice(sorted(ops))
    return {"op": op, **ops[op]}


def test_random_plans_apply_fully_or_not_at_all(sc: AnimatedScene, monkeypatch: pytest.MonkeyPatch) -> None:
    # Random valid plans on the live scene; in half of them the last op fails after doing its work.
    rng = random.Random(7)
    scene, outcomes = sc.scene, {"applied": 0}
    for _ in range(150):
        plan = suggestion(*(random_op(rng, scene) for _ in range(rng.randint(1, 5))))
        if rng.random() < 0.5:
            _fail_after(monkeypatch, plan.ops[-1].op)
        before = snapshot(scene)
        try:
            apply_suggestion(scene, plan)
            outcomes["applied"] += 1
        except ApplyError as e:
            assert "could not be fully restored" not in e.message
            assert changed(before, snapshot(scene)) == set(), e
            outcomes[e.code] = outcomes.get(e.code, 0) + 1
        monkeypatch.undo()
    assert outcomes["applied"] >= 10 and outcomes.get("failed", 0) >= 10, outcomes
    assert outcomes.get("missing_target") and outcomes.get("wrong_kind"), outcomes

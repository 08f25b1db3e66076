"""Apply one suggestion of an edit plan to the live Blender scene: all of it, or nothing.

Three steps:

1. `check_suggestion` re-checks every op against the live scene before anything changes: each
   named object is in this scene and of the right kind (a light op on a light, a camera op on a
   camera, a material op on an object that can hold materials, an animation op on an animated
   object), named modifiers and animation channels exist, the material slot exists or can be made.
   Ops are checked in order, carrying along what earlier ops do that later checks depend on (a
   deleted object, a removed modifier, a fresh material, a new channel). It raises `ApplyError`
   naming the op and the target.
2. Each op's handler then changes the scene through a `_Journal`, which keeps, for every change,
   how to undo it: a property's old value, a created datablock to remove, an F-curve's keys (raw)
   to write back, a mesh attribute. Handlers destroy nothing: `delete` unlinks the objects from
   this scene's collections (reversible) and `remove_modifier` marks the modifier.
3. If every op succeeded, the commit frees the deleted objects (their children keep their place in
   the world) and removes the marked modifiers: the only irreversible steps, and they cannot fail
   on a checked plan. If an op raised, the journal is replayed backwards instead: every touched
   property gets its old value back, created datablocks are removed, unlinked objects come back;
   `ApplyError` names the op that failed.

Only the data API is used (no bpy.ops), so this works in background mode and inside an operator;
the add-on's operator (bl_options {'REGISTER', 'UNDO'}) makes a whole suggestion one undo step.
Nothing from the plan runs as code or picks an attribute: ops are dispatched through `_HANDLERS`,
modifier settings through `_MODIFIER_SETTINGS`, channels through `_CHANNELS`; names from the plan
only look up objects and modifiers, or name new datablocks.

Decisions:
- A material op edits the material in the object's slot. A material shared by several objects
  changes on all of them ("make the chairs red" means the chairs' material) and the report names
  the others; `assign_material` is how a plan gives objects a material of their own. An object
  with no material slot gets a new material in slot 0; a slot past the object's last is refused.
  Colours and values go to the Principled BSDF and to the material's viewport settings
  (`diffuse_color`, `roughness`, `metallic`), which Workbench shows.
- Data shared by several objects (a mesh, light, camera or action) is edited once per op.
- Moving, rotating or scaling an object whose transform is animated moves the animation with it
  (keys offset, or multiplied for scale), so the change survives the next frame change. Animation
  ops edit the object's action (Blender 5 layered actions, through its slot's channelbag); keys are
  computed by `evlm.keyframes` and Blender then recomputes automatic handles.
- World-space transforms account for parents (not for constraints; under a non-uniformly scaled
  parent a world rotation is approximate, as the child is sheared).
- `delete` keeps the children of a deleted parent where they are in the world; a rolled-back
  delete links the objects back into their collections (last in each).
- `generative_edit` changes nothing in the scene: it is reported as a hand-off (and returned in
  `ApplyReport.handoffs`), never as a failure.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from functools import partial

import bpy
from bpy_extras import anim_utils
from mathutils import Euler, Matrix, Quaternion, Vector
from pydantic import ValidationError

from evlm import keyframes as kf
from evlm.edits import GenerativeEdit, Suggestion
from evlm.scene import GEOMETRY_TYPES

ERROR_CODES = ("missing_target", "wrong_kind", "not_applicable", "failed")


class ApplyError(Exception):
    """A suggestion that cannot be applied. `code` is one of ERROR_CODES; `op_index` is the op's place."""

    def __init__(self, code: str, message: str, op_index: int | None = None) -> None:
        if code not in ERROR_CODES:
            raise ValueError(f"unknown ApplyError code {code!r}")
        super().__init__(code, message, op_index)
        self.code, self.message, self.op_index = code, message, op_index

    def __str__(self) -> str:
        where = f"op {self.op_index}: " if self.op_index is not None else ""
        return f"{self.code}: {where}{self.message}"


@dataclass
class ApplyReport:
    """What changed: one readable line per change ("Cube: location +[0, 0, 1]")."""

    lines: list[str]
    handoffs: list[GenerativeEdit] = field(default_factory=list)  # edits for a generative editor

    def __str__(self) -> str:
        return "\n".join(self.lines)


# ---------------------------------------------------------------- fixed tables
_EULER_MODES = frozenset({"XYZ", "XZY", "YXZ", "YZX", "ZXY", "ZYX"})
_MODIFIABLE = frozenset({"MESH", "CURVE", "SURFACE", "FONT"})
_CHANNELS = {"location": "location", "rotation_euler": "rotation_euler", "scale": "scale"}
_TRANSFORM = ("location", "rotation_euler", "rotation_quaternion", "rotation_axis_angle", "scale")
_MODIFIER_NAMES = {
    "BEVEL": "Bevel", "SUBSURF": "Subdivision", "ARRAY": "Array", "SOLIDIFY": "Solidify", "MIRROR": "Mirror",
    "DECIMATE": "Decimate", "WIREFRAME": "Wireframe",
}  # fmt: skip
# plan setting -> the modifier properties it sets
_MODIFIER_SETTINGS: dict[str, dict[str, tuple[str, ...]]] = {
    "BEVEL": {"width": ("width",), "segments": ("segments",)},
    "SUBSURF": {"levels": ("levels", "render_levels")},
    "ARRAY": {"count": ("count",), "relative_offset": ("relative_offset_displace",)},
    "SOLIDIFY": {"thickness": ("thickness",)},
    "MIRROR": {"axes": ("use_axis",)},
    "DECIMATE": {"ratio": ("ratio",)},
    "WIREFRAME": {"thickness": ("thickness",)},
}
# material op -> the Principled BSDF inputs it sets (each must not be driven by a node link)
_MATERIAL_INPUTS = {
    "set_base_color": ("Base Color",),
    "set_roughness": ("Roughness",),
    "set_metallic": ("Metallic",),
    "set_alpha": ("Alpha",),
    "set_emission": ("Emission Color", "Emission Strength"),
    "assign_material": (),
}

# Keyframe points are read and written in bulk (foreach_get/set): raw, exact, and free of the
# handle-type rewriting that setting one key's handles through RNA triggers.
_KEY_VEC = ("co", "handle_left", "handle_right")
_KEY_ENUM = ("interpolation", "easing", "handle_left_type", "handle_right_type", "type")
_KEY_FLOAT = ("amplitude", "back", "period")
_KEY_BOOL = ("select_control_point", "select_left_handle", "select_right_handle")
_KEY_EXTRA = ("type", *_KEY_FLOAT, *_KEY_BOOL)  # kept per key; not part of kf.Key
_ENUM_VALUE = {
    p: {i.identifier: i.value for i in bpy.types.Keyframe.bl_rna.properties[p].enum_items} for p in _KEY_ENUM
}
_ENUM_NAME = {p: {v: k for k, v in values.items()} for p, values in _ENUM_VALUE.items()}
# what a key new to Blender gets (fcurve.keyframe_points.insert gives these)
_NEW_KEY = {
    "type": _ENUM_VALUE["type"]["KEYFRAME"], "amplitude": 0.8, "back": 1.70158, "period": 4.1,
    "select_control_point": False, "select_left_handle": False, "select_right_handle": False,
}  # fmt: skip


# ---------------------------------------------------------------- public API
def check_suggestion(scene: bpy.types.Scene, suggestion: Suggestion) -> None:
    """Raise ApplyError if any op of `suggestion` cannot apply to the live `scene`; change nothing."""
    _check_args(scene, suggestion)
    planned = _Planned()
    for i, op in enumerate(suggestion.ops):
        try:
            _check_op(scene, op, planned)
        except ApplyError as e:
            e.op_index = i
            raise
        planned.record(op)


def apply_suggestion(scene: bpy.types.Scene, suggestion: Suggestion) -> ApplyReport:
    """Check, then apply every op of `suggestion` to `scene`; on any failure restore the scene and raise."""
    check_suggestion(scene, suggestion)
    run = _Run(scene)
    for i, op in enumerate(suggestion.ops):
        try:
            _HANDLERS[op.op](run, op)
        except Exception as e:  # any failure: put everything back, then say which op failed
            problems = run.journal.rollback()
            _update(scene)
            code = e.code if isinstance(e, ApplyError) else "failed"
            message = e.message if isinstance(e, ApplyError) else f"{op.op}: {type(e).__name__}: {e}"
            if problems:
                message += f"; the scene could not be fully restored: {'; '.join(problems)}"
            raise ApplyError(code, message, i) from e
    try:
        run.commit()
    except Exception as e:  # not expected after the checks; say plainly what state the scene is in
        raise ApplyError("failed", f"removing deleted objects or modifiers failed, the rest is applied: {e}") from e
    _update(scene)
    return ApplyReport(run.lines, run.handoffs)


def _check_args(scene: object, suggestion: object) -> None:
    if not isinstance(scene, bpy.types.Scene):
        raise TypeError(f"scene must be a bpy.types.Scene, got {type(scene).__name__}")
    if not isinstance(suggestion, Suggestion):
        raise TypeError(f"suggestion must be an evlm.edits.Suggestion, got {type(suggestion).__name__}")
    try:  # a Suggestion built without validation (model_construct) must not slip unchecked values in
        Suggestion.model_validate_json(suggestion.model_dump_json())
    except ValidationError as e:
        err = e.errors(include_url=False)[0]
        where = ".".join(str(p) for p in err["loc"])
        raise ValueError(f"suggestion does not validate: {err['msg']} (at {where})") from None


# ---------------------------------------------------------------- the journal
class _Journal:
    """How to undo every change made so far, newest last."""

    def __init__(self) -> None:
        self._undo: list[Callable[[], object]] = []
        self._saved: set[tuple[str, int]] = set()

    def set(self, owner: bpy.types.bpy_struct, attr: str, value: object) -> None:
        old = _plain(getattr(owner, attr))
        setattr(owner, attr, value)
        self._undo.append(partial(setattr, owner, attr, old))

    def on_undo(self, fn: Callable[..., object], *args: object, **kwargs: object) -> None:
        self._undo.append(partial(fn, *args, **kwargs))

    def save_transform(self, obj: bpy.types.Object) -> None:
        if self._first(("transform", obj.as_pointer())):
            values = {attr: tuple(getattr(obj, attr)) for attr in _TRANSFORM}
            self._undo.append(partial(_restore_transform, obj, values))

    def save_fcurve(self, fc: bpy.types.FCurve) -> None:
        if self._first(("fcurve", fc.as_pointer())):
            self._undo.append(partial(_restore_fcurve, fc, _raw_keys(fc)))

    def save_attribute(self, mesh: bpy.types.Mesh, name: str) -> None:
        if not self._first((f"attribute {name}", mesh.as_pointer())):
            return
        attr = mesh.attributes.get(name)
        saved = None
        if attr is not None:
            values = [False] * len(attr.data) if attr.data_type == "BOOLEAN" else [0.0] * len(attr.data)
            attr.data.foreach_get("value", values)
            saved = (attr.domain, attr.data_type, values)
        self._undo.append(partial(_restore_attribute, mesh, name, saved))

    def rollback(self) -> list[str]:
        """Undo everything, newest first; returns what could not be undone (nothing, normally)."""
        problems = []
        while self._undo:
            fn = self._undo.pop()
            try:
                fn()
            except Exception as e:  # keep going: restore as much as possible
                problems.append(f"{type(e).__name__}: {e}")
        return problems

    def _first(self, key: tuple[str, int]) -> bool:
        fresh = key not in self._saved
        self._saved.add(key)
        return fresh


def _plain(value: object) -> object:
    """A copy of a property value that does not follow later changes (vectors are live views)."""
    if isinstance(value, (str, bytes, bpy.types.bpy_struct)) or not hasattr(value, "__len__"):
        return value
    return tuple(value)


def _restore_transform(obj: bpy.types.Object, values: dict[str, tuple]) -> None:
    for attr, value in values.items():
        setattr(obj, attr, value)


def _restore_fcurve(fc: bpy.types.FCurve, raw: dict[str, list]) -> None:
    _set_raw(fc, raw)
    fc.id_data.update_tag()  # the evaluated copy of the action must see the restored keys


def _restore_attribute(mesh: bpy.types.Mesh, name: str, saved: tuple | None) -> None:
    attr = mesh.attributes.get(name)
    if saved is None:
        if attr is not None:
            mesh.attributes.remove(attr)
        return
    domain, data_type, values = saved
    if attr is None:
        attr = mesh.attributes.new(name, data_type, domain)
    attr.data.foreach_set("value", values)
    mesh.update()


def _remove_id(datablock: bpy.types.ID) -> None:
    try:
        datablock.as_pointer()
    except ReferenceError:  # already gone: removing a mesh also removes the objects that use it
        return
    bpy.data.batch_remove((datablock,))


def _remove_group(bag: bpy.types.ActionChannelbag, name: str) -> None:
    group = bag.groups.get(name)
    if group is not None:  # Blender drops a group with its last F-curve
        bag.groups.remove(group)


# ---------------------------------------------------------------- one run
class _Run:
    def __init__(self, scene: bpy.types.Scene) -> None:
        self.scene = scene
        self.journal = _Journal()
        self.lines: list[str] = []
        self.handoffs: list[GenerativeEdit] = []
        self.doomed: list[bpy.types.Object] = []  # unlinked by delete; freed at commit
        self.doomed_modifiers: list[tuple[bpy.types.Object, str]] = []

    def obj(self, name: str) -> bpy.types.Object:
        return self.scene.objects[name]

    def commit(self) -> None:
        """The irreversible part, once every op succeeded: free deleted objects, remove modifiers."""
        for obj, name in self.doomed_modifiers:
            modifier = obj.modifiers.get(name)
            if modifier is not None:
                obj.modifiers.remove(modifier)
        doomed = [o for o in self.doomed if not o.users_collection]  # still in another scene: keep
        gone = {o.as_pointer() for o in doomed}
        if not doomed:
            return
        _update(self.scene)
        children = [(c, c.matrix_world.copy()) for o in doomed for c in o.children if c.as_pointer() not in gone]
        for obj in doomed:
            bpy.data.objects.remove(obj)
        for child, world in children:
            if child.parent is None:  # Blender would leave it at its local transform
                child.matrix_world = world

    # -- transforms
    def set_transform(
        self,
        obj: bpy.types.Object,
        location: Vector | None = None,
        rotation: Quaternion | Euler | None = None,
        scale: Iterable[float] | None = None,
    ) -> None:
        """Set the object's own (basis) transform; animated channels are moved along."""
        self.journal.save_transform(obj)
        before = {attr: tuple(getattr(obj, attr)) for attr in _CHANNELS.values()}
        if location is not None:
            obj.location = location
        if rotation is not None:
            _set_rotation(obj, rotation)
        if scale is not None:
            obj.scale = tuple(scale)
        self._move_animation(obj, before)

    def _move_animation(self, obj: bpy.types.Object, before: dict[str, tuple]) -> None:
        bag = _channelbag(obj)
        if bag is None:
            return
        for fc in bag.fcurves:
            attr = _CHANNELS.get(fc.data_path)
            if attr is None or not 0 <= fc.array_index < 3 or (attr == "rotation_euler" and not _euler(obj)):
                continue
            old, new = before[attr][fc.array_index], getattr(obj, attr)[fc.array_index]
            if old == new or not len(fc.keyframe_points):
                continue
            keys, raw = _read(fc)
            if attr == "scale" and old != 0:
                moved = kf.scale_values(keys, new / old, 0.0)
            else:
                moved = kf.offset_values(keys, new - old)
            self.write_keys(fc, moved, raw)

    # -- keys
    def write_keys(
        self,
        fc: bpy.types.FCurve,
        keys: list[kf.Key],
        raw: dict[str, list],
        insert_at: int | None = None,
        remove_at: int | None = None,
    ) -> None:
        """Write `keys` over `fc`, whose keys were `raw`, with one key inserted or removed at most."""
        self.journal.save_fcurve(fc)
        extra = {p: list(raw[p]) for p in _KEY_EXTRA}
        for p, values in extra.items():
            if remove_at is not None:
                del values[remove_at]
            if insert_at is not None:
                values.insert(insert_at, _NEW_KEY[p])
        _set_raw(fc, _raw_from_keys(keys) | extra)
        fc.update()  # sort, and recompute automatic handles with the curve's own smoothing

    def animated(self, names: list[str]) -> list[tuple[str, bpy.types.ActionChannelbag, str]]:
        """The targets' channelbags, each once, with a note naming other objects animated by it."""
        out, seen = [], set()
        for name in names:
            bag = _channelbag(self.obj(name))
            if bag is None or bag.as_pointer() in seen:
                continue
            seen.add(bag.as_pointer())
            users = [o for o in self.scene.objects if (b := _channelbag(o)) is not None and b == bag]
            for obj in users:  # the re-evaluated animation rewrites their animated channels
                self.journal.save_transform(obj)
            others = [o.name for o in users if o.name not in names]
            out.append((name, bag, f" (shared action: also moves {', '.join(others)})" if others else ""))
        return out


# ---------------------------------------------------------------- keyframe IO
def _raw_keys(fc: bpy.types.FCurve) -> dict[str, list]:
    points, n = fc.keyframe_points, len(fc.keyframe_points)
    raw: dict[str, list] = {}
    for props, size, zero in ((_KEY_VEC, 2, 0.0), (_KEY_ENUM, 1, 0), (_KEY_FLOAT, 1, 0.0), (_KEY_BOOL, 1, False)):
        for p in props:
            raw[p] = [zero] * (n * size)
            points.foreach_get(p, raw[p])
    return raw


def _set_raw(fc: bpy.types.FCurve, raw: dict[str, list]) -> None:
    points, n = fc.keyframe_points, len(raw["interpolation"])
    while len(points) > n:
        points.remove(points[len(points) - 1], fast=True)
    if len(points) < n:
        points.add(n - len(points))
    for p, values in raw.items():
        points.foreach_set(p, values)


def _read(fc: bpy.types.FCurve) -> tuple[list[kf.Key], dict[str, list]]:
    raw = _raw_keys(fc)
    co, hl, hr = raw["co"], raw["handle_left"], raw["handle_right"]
    keys = [
        kf.Key(
            co[2 * i],
            co[2 * i + 1],
            (hl[2 * i], hl[2 * i + 1]),
            (hr[2 * i], hr[2 * i + 1]),
            interpolation=_ENUM_NAME["interpolation"][raw["interpolation"][i]],
            easing=_ENUM_NAME["easing"][raw["easing"][i]],
            left_type=_ENUM_NAME["handle_left_type"][raw["handle_left_type"][i]],
            right_type=_ENUM_NAME["handle_right_type"][raw["handle_right_type"][i]],
        )
        for i in range(len(co) // 2)
    ]
    return keys, raw


def _raw_from_keys(keys: list[kf.Key]) -> dict[str, list]:
    return {
        "co": [x for k in keys for x in (k.frame, k.value)],
        "handle_left": [x for k in keys for x in k.left],
        "handle_right": [x for k in keys for x in k.right],
        "interpolation": [_ENUM_VALUE["interpolation"][k.interpolation] for k in keys],
        "easing": [_ENUM_VALUE["easing"][k.easing] for k in keys],
        "handle_left_type": [_ENUM_VALUE["handle_left_type"][k.left_type] for k in keys],
        "handle_right_type": [_ENUM_VALUE["handle_right_type"][k.right_type] for k in keys],
    }


def _channelbag(obj: bpy.types.Object) -> bpy.types.ActionChannelbag | None:
    anim = obj.animation_data
    if anim is None or anim.action is None:
        return None
    return anim_utils.action_get_channelbag_for_slot(anim.action, anim.action_slot)


def _fcurves(obj: bpy.types.Object, path: str, index: int = -1) -> list[bpy.types.FCurve]:
    bag = _channelbag(obj)
    if bag is None:
        return []
    return [fc for fc in bag.fcurves if fc.data_path == path and (index < 0 or fc.array_index == index)]


def _ensure_fcurve(run: _Run, obj: bpy.types.Object, path: str, index: int) -> bpy.types.FCurve:
    """The object's F-curve for path[index], creating whatever is missing on the way (journaled)."""
    j = run.journal
    anim = obj.animation_data
    if anim is None:
        anim = obj.animation_data_create()
        j.on_undo(obj.animation_data_clear)
    if anim.action is None:
        action = bpy.data.actions.new(f"{obj.name}Action")
        j.on_undo(_remove_id, action)
        j.set(anim, "action", action)
    action = anim.action
    if anim.action_slot is None:
        slot = action.slots.new(id_type="OBJECT", name=obj.name)
        j.on_undo(action.slots.remove, slot)
        j.set(anim, "action_slot", slot)
    bag = anim_utils.action_get_channelbag_for_slot(action, anim.action_slot)
    if bag is None:
        had_layer = len(action.layers) > 0
        had_strip = had_layer and len(action.layers[0].strips) > 0
        bag = anim_utils.action_ensure_channelbag_for_slot(action, anim.action_slot)
        if not had_layer:
            j.on_undo(lambda: action.layers.remove(action.layers[0]))
        elif not had_strip:
            j.on_undo(lambda: action.layers[0].strips.remove(action.layers[0].strips[0]))
        else:
            j.on_undo(action.layers[0].strips[0].channelbags.remove, bag)
    fc = bag.fcurves.find(path, index=index)
    if fc is None:
        group = "Object Transforms"  # where Blender's own keying puts transform channels
        had_group = bag.groups.get(group) is not None
        fc = bag.fcurves.new(path, index=index, group_name=group)
        if not had_group:
            j.on_undo(_remove_group, bag, group)
        j.on_undo(bag.fcurves.remove, fc)
    return fc


# ---------------------------------------------------------------- scene helpers
def _update(scene: bpy.types.Scene) -> None:
    """Evaluate the scene so world matrices are current (and animation edits take effect)."""
    layer = getattr(bpy.context, "view_layer", None)
    if layer is None or getattr(bpy.context, "scene", None) != scene:
        layer = scene.view_layers[0]
    layer.update()


def _parent_matrix(scene: bpy.types.Scene, obj: bpy.types.Object) -> Matrix:
    """What lies between the object's own transform and the world (its parent and parent inverse)."""
    if obj.parent is None:
        return Matrix.Identity(4)
    _update(scene)
    return obj.matrix_world @ obj.matrix_basis.inverted_safe()


def _world_matrix(scene: bpy.types.Scene, obj: bpy.types.Object) -> Matrix:
    return _parent_matrix(scene, obj) @ obj.matrix_basis


def _world_center(scene: bpy.types.Scene, obj: bpy.types.Object) -> Vector:
    """Where a camera should look to see the object: its bounding-box centre, or its origin."""
    world = _world_matrix(scene, obj)
    if obj.type in GEOMETRY_TYPES:
        _update(scene)
        corners = [Vector(c) for c in obj.bound_box]
        return world @ (sum(corners, Vector()) / len(corners))
    return world.to_translation()


def _basis_rotation(obj: bpy.types.Object) -> Quaternion:
    if obj.rotation_mode == "QUATERNION":
        return obj.rotation_quaternion.normalized()
    if obj.rotation_mode == "AXIS_ANGLE":
        angle, *axis = obj.rotation_axis_angle
        return Quaternion(Vector(axis), angle)
    return obj.rotation_euler.to_quaternion()


def _set_rotation(obj: bpy.types.Object, rotation: Quaternion | Euler) -> None:
    """Set the basis rotation in the object's own rotation mode (Eulers kept continuous)."""
    if isinstance(rotation, Euler) and obj.rotation_mode == rotation.order:
        obj.rotation_euler = rotation
        return
    q = rotation.to_quaternion() if isinstance(rotation, Euler) else rotation
    if obj.rotation_mode == "QUATERNION":
        obj.rotation_quaternion = q
    elif obj.rotation_mode == "AXIS_ANGLE":
        axis, angle = q.to_axis_angle()
        obj.rotation_axis_angle = (angle, *axis)
    else:
        obj.rotation_euler = q.to_euler(obj.rotation_mode, obj.rotation_euler)


def _euler(obj: bpy.types.Object) -> bool:
    return obj.rotation_mode in _EULER_MODES


def _in_scene_collections(scene: bpy.types.Scene, obj: bpy.types.Object) -> list[bpy.types.Collection]:
    ours = {scene.collection.as_pointer(), *(c.as_pointer() for c in scene.collection.children_recursive)}
    return [c for c in obj.users_collection if c.as_pointer() in ours]


def _principled(material: bpy.types.Material) -> bpy.types.ShaderNode | None:
    """The Principled BSDF that feeds the material's output, else the first one in its tree."""
    tree = material.node_tree
    if tree is None:
        return None
    output = tree.get_output_node("ALL")
    if output is not None and output.inputs["Surface"].is_linked:
        node = output.inputs["Surface"].links[0].from_node
        if node.type == "BSDF_PRINCIPLED":
            return node
    return next((n for n in tree.nodes if n.type == "BSDF_PRINCIPLED"), None)


def _background(world: bpy.types.World) -> bpy.types.ShaderNode | None:
    tree = world.node_tree
    if tree is None:
        return None
    output = tree.get_output_node("ALL")
    if output is not None and output.inputs["Surface"].is_linked:
        node = output.inputs["Surface"].links[0].from_node
        if node.type == "BACKGROUND":
            return node
    return next((n for n in tree.nodes if n.type == "BACKGROUND"), None)


def _users(scene: bpy.types.Scene, material: bpy.types.Material) -> list[str]:
    return [o.name for o in scene.objects if any(s.material == material for s in o.material_slots)]


def _fmt(values: Iterable[float]) -> str:
    return "[" + ", ".join(f"{v:.4g}" for v in values) + "]"


def _signed(values: Iterable[float]) -> str:
    return "+" + _fmt(values)


# ---------------------------------------------------------------- checks
@dataclass
class _Planned:
    """What earlier ops of the suggestion will have done, as far as later checks care."""

    deleted: set[str] = field(default_factory=set)
    removed_modifiers: set[tuple[str, str]] = field(default_factory=set)
    fresh_slots: set[tuple[str, int]] = field(default_factory=set)
    channels: set[tuple[str, str, int]] = field(default_factory=set)

    def record(self, op: object) -> None:
        if op.op == "delete":
            self.deleted.update(op.targets)
        elif op.op == "remove_modifier":
            self.removed_modifiers.update((t, op.name) for t in op.targets)
        elif op.op == "assign_material":
            self.fresh_slots.update((t, op.slot) for t in op.targets)
        elif op.op == "insert_keyframe":
            self.channels.add((op.target, op.channel, op.index))


def _check_op(scene: bpy.types.Scene, op: object, planned: _Planned) -> None:
    for name_field, kind in getattr(type(op), "_refs", {}).items():  # the contract's table of named targets
        value = getattr(op, name_field)
        for name in value if isinstance(value, list) else [value]:
            if kind == "modifier":
                _check_modifier(scene, op, name, planned)
            else:
                _check_object(scene, op, name, kind, planned)
    extra = _EXTRA_CHECKS.get(op.op)
    if extra is not None:
        extra(scene, op, planned)


def _check_object(scene: bpy.types.Scene, op: object, name: str, kind: str, planned: _Planned) -> None:
    obj = scene.objects.get(name)
    if obj is None:
        raise ApplyError("missing_target", f"{op.op}: there is no object {name!r} in scene {scene.name!r}")
    if name in planned.deleted:
        raise ApplyError("not_applicable", f"{op.op}: {name!r} is deleted by an earlier op of this suggestion")
    wanted = {"geometry": "a geometry object", "light": "a light", "camera": "a camera"}.get(kind)
    if (
        (kind == "geometry" and obj.type not in GEOMETRY_TYPES)
        or (kind == "light" and obj.type != "LIGHT")
        or (kind == "camera" and obj.type != "CAMERA")
    ):
        raise ApplyError("wrong_kind", f"{op.op}: {name!r} is a {obj.type.lower()} object, not {wanted}")
    if kind == "animated":
        bag = _channelbag(obj)
        has_keys = bag is not None and len(bag.fcurves) > 0
        if not has_keys and not any(c[0] == name for c in planned.channels):
            raise ApplyError("wrong_kind", f"{op.op}: {name!r} has no animation")


def _check_modifier(scene: bpy.types.Scene, op: object, name: str, planned: _Planned) -> None:
    for target in op.targets:
        obj = scene.objects.get(target)
        if obj is None:
            continue  # reported by the targets check
        if obj.modifiers.get(name) is None or (target, name) in planned.removed_modifiers:
            raise ApplyError("missing_target", f"{op.op}: {target!r} has no modifier {name!r}")
        if op.op == "adjust_modifier" and obj.modifiers[name].type != op.modifier.type:
            raise ApplyError(
                "wrong_kind",
                f"{op.op}: modifier {name!r} on {target!r} is a {obj.modifiers[name].type}, not a {op.modifier.type}",
            )


def _check_material(scene: bpy.types.Scene, op: object, planned: _Planned) -> None:
    for name in op.targets:
        obj = scene.objects[name]
        if obj.data is None or not hasattr(obj.data, "materials"):
            raise ApplyError("wrong_kind", f"{op.op}: {name!r} ({obj.type.lower()}) cannot hold materials")
        count = len(obj.material_slots)
        if op.slot >= max(count, 1):
            raise ApplyError("not_applicable", f"{op.op}: {name!r} has {count} material slot(s), no slot {op.slot}")
        if op.slot >= count or (name, op.slot) in planned.fresh_slots:
            continue  # a new material will be made
        material = obj.material_slots[op.slot].material
        if material is None or not _MATERIAL_INPUTS[op.op]:
            continue
        bsdf = _principled(material)
        if bsdf is None:
            raise ApplyError(
                "not_applicable", f"{op.op}: material {material.name!r} of {name!r} has no Principled BSDF"
            )
        for socket in _MATERIAL_INPUTS[op.op]:
            if bsdf.inputs[socket].is_linked:
                source = bsdf.inputs[socket].links[0].from_node.name
                raise ApplyError(
                    "not_applicable",
                    f"{op.op}: {socket} of material {material.name!r} comes from node {source!r}; edit the node tree",
                )


def _check_world(scene: bpy.types.Scene, op: object, planned: _Planned) -> None:
    if scene.world is None:
        return  # a world will be made
    background = _background(scene.world)
    socket = "Color" if op.op == "set_world_color" else "Strength"
    if background is None:
        if op.op == "set_world_strength":
            raise ApplyError("not_applicable", f"{op.op}: world {scene.world.name!r} has no Background node")
    elif background.inputs[socket].is_linked:
        raise ApplyError("not_applicable", f"{op.op}: the world's {socket} comes from a node link; edit the node tree")


def _check_focal_length(scene: bpy.types.Scene, op: object, planned: _Planned) -> None:
    if scene.objects[op.camera].data.type == "ORTHO":
        raise ApplyError("not_applicable", f"{op.op}: {op.camera!r} is orthographic; it has no focal length")


def _check_rotation(scene: bpy.types.Scene, op: object, planned: _Planned) -> None:
    for name in getattr(op, "targets", None) or [op.camera]:
        obj = scene.objects[name]
        if not _euler(obj) and (_fcurves(obj, "rotation_quaternion") or _fcurves(obj, "rotation_axis_angle")):
            raise ApplyError(
                "not_applicable", f"{op.op}: {name!r} has animated {obj.rotation_mode.lower()} rotation; key it instead"
            )
    if op.op == "camera_look_at" and op.camera == op.target:
        raise ApplyError("not_applicable", f"{op.op}: camera {op.camera!r} cannot look at itself")


def _check_shading(scene: bpy.types.Scene, op: object, planned: _Planned) -> None:
    for name in op.targets:
        if scene.objects[name].type != "MESH":
            raise ApplyError(
                "wrong_kind", f"{op.op}: {name!r} is a {scene.objects[name].type.lower()} object, not a mesh"
            )


def _check_modifiable(scene: bpy.types.Scene, op: object, planned: _Planned) -> None:
    for name in op.targets:
        obj = scene.objects[name]
        if obj.type not in _MODIFIABLE:
            raise ApplyError("wrong_kind", f"{op.op}: {name!r} ({obj.type.lower()}) cannot take a {op.modifier.type}")


def _check_channel(scene: bpy.types.Scene, op: object, planned: _Planned) -> None:
    names = getattr(op, "targets", None) or [op.target]
    for name in names:
        obj = scene.objects[name]
        planned_here = (name, op.channel, op.index) in planned.channels or (
            op.index < 0 and any(c[:2] == (name, op.channel) for c in planned.channels)
        )
        if not _fcurves(obj, _CHANNELS[op.channel], op.index) and not planned_here:
            axis = "" if op.index < 0 else f"[{op.index}]"
            raise ApplyError("not_applicable", f"{op.op}: {name!r} has no animated {op.channel}{axis}")


def _check_insert(scene: bpy.types.Scene, op: object, planned: _Planned) -> None:
    obj = scene.objects[op.target]
    if op.channel == "rotation_euler" and not _euler(obj):
        raise ApplyError(
            "not_applicable", f"{op.op}: {op.target!r} rotates in {obj.rotation_mode} mode, not with Euler angles"
        )


_EXTRA_CHECKS: dict[str, Callable[[bpy.types.Scene, object, _Planned], None]] = {
    **{op: _check_material for op in _MATERIAL_INPUTS},
    "set_world_color": _check_world,
    "set_world_strength": _check_world,
    "set_focal_length": _check_focal_length,
    "rotate": _check_rotation,
    "camera_look_at": _check_rotation,
    "set_shading": _check_shading,
    "add_modifier": _check_modifiable,
    "adjust_modifier": _check_modifiable,
    "scale_amplitude": _check_channel,
    "delete_keyframe": _check_channel,
    "insert_keyframe": _check_insert,
}


# ---------------------------------------------------------------- handlers: transform
def _translate(run: _Run, op: object) -> None:
    for name in op.targets:
        obj = run.obj(name)
        if op.mode == "absolute" and op.space == "local":
            run.set_transform(obj, location=Vector(op.vector))
            run.lines.append(f"{name}: location → {_fmt(op.vector)} (local)")
            continue
        parent = _parent_matrix(run.scene, obj)
        if op.mode == "absolute":
            delta = Vector(op.vector) - (parent @ obj.matrix_basis).to_translation()
        elif op.space == "local":  # along the object's own axes, in metres
            delta = (parent @ obj.matrix_basis).to_quaternion() @ Vector(op.vector)
        else:
            delta = Vector(op.vector)
        run.set_transform(obj, location=obj.location + parent.to_3x3().inverted_safe() @ delta)
        what = f"→ {_fmt(op.vector)}" if op.mode == "absolute" else _signed(op.vector)
        run.lines.append(f"{name}: location {what} ({op.space})")


def _rotate(run: _Run, op: object) -> None:
    turn = Euler([math.radians(d) for d in op.degrees], "XYZ")
    for name in op.targets:
        obj = run.obj(name)
        if op.mode == "absolute" and op.space == "local":
            run.set_transform(obj, rotation=turn)
        elif op.space == "local":
            run.set_transform(obj, rotation=_basis_rotation(obj) @ turn.to_quaternion())
        else:
            parent = _parent_matrix(run.scene, obj).to_quaternion()
            world = (
                turn.to_quaternion() if op.mode == "absolute" else turn.to_quaternion() @ parent @ _basis_rotation(obj)
            )
            run.set_transform(obj, rotation=parent.inverted() @ world)
        what = f"→ {_fmt(op.degrees)}°" if op.mode == "absolute" else f"{_signed(op.degrees)}°"
        run.lines.append(f"{name}: rotation {what} ({op.space})")


def _scale(run: _Run, op: object) -> None:
    for name in op.targets:
        obj = run.obj(name)
        new = op.factor if op.mode == "absolute" else [s * f for s, f in zip(obj.scale, op.factor, strict=True)]
        run.set_transform(obj, scale=new)
        what = f"→ {_fmt(op.factor)}" if op.mode == "absolute" else f"×{_fmt(op.factor)}"
        run.lines.append(f"{name}: scale {what}")


# ---------------------------------------------------------------- handlers: material
def _slot_material(run: _Run, obj: bpy.types.Object, slot: int) -> bpy.types.Material:
    """The material in the object's slot; an empty slot (or an object without slots) gets a new one."""
    if slot < len(obj.material_slots) and obj.material_slots[slot].material is not None:
        return obj.material_slots[slot].material
    material = bpy.data.materials.new(f"{obj.name}_Material")
    run.journal.on_undo(_remove_id, material)
    _put_in_slot(run, obj, slot, material)
    run.lines.append(f"{obj.name}: new material {material.name!r} in slot {slot}")
    return material


def _put_in_slot(run: _Run, obj: bpy.types.Object, slot: int, material: bpy.types.Material) -> None:
    if slot < len(obj.material_slots):
        old = obj.material_slots[slot].material
        obj.material_slots[slot].material = material
        run.journal.on_undo(_set_slot, obj, slot, old)
    else:  # no slot yet (checked: slot 0 of an object without any)
        obj.data.materials.append(material)
        run.journal.on_undo(obj.data.materials.clear)  # pop() would leave the objects an empty slot


def _set_slot(obj: bpy.types.Object, slot: int, material: bpy.types.Material | None) -> None:
    obj.material_slots[slot].material = material


def _materials(run: _Run, op: object) -> list[tuple[bpy.types.Material, list[str]]]:
    """The materials the op edits, each once, with the targets that led to it."""
    found: dict[int, tuple[bpy.types.Material, list[str]]] = {}
    for name in op.targets:
        material = _slot_material(run, run.obj(name), op.slot)
        found.setdefault(material.as_pointer(), (material, []))[1].append(name)
    return list(found.values())


def _material_line(run: _Run, material: bpy.types.Material, names: list[str], change: str) -> str:
    others = [n for n in _users(run.scene, material) if n not in names]
    shared = f" (shared: also on {', '.join(others)})" if others else ""
    return f"{', '.join(names)}: material {material.name!r} {change}{shared}"


def _set_input(run: _Run, material: bpy.types.Material, socket: str, value: object) -> None:
    bsdf = _principled(material)
    if bsdf is not None:
        run.journal.set(bsdf.inputs[socket], "default_value", value)


def _set_base_color(run: _Run, op: object) -> None:
    for material, names in _materials(run, op):
        bsdf = _principled(material)
        alpha = bsdf.inputs["Base Color"].default_value[3] if bsdf is not None else 1.0
        _set_input(run, material, "Base Color", (*op.color, alpha))
        run.journal.set(material, "diffuse_color", (*op.color, material.diffuse_color[3]))
        run.lines.append(_material_line(run, material, names, f"base color → {_fmt(op.color)}"))


def _set_roughness(run: _Run, op: object) -> None:
    for material, names in _materials(run, op):
        _set_input(run, material, "Roughness", op.value)
        run.journal.set(material, "roughness", op.value)
        run.lines.append(_material_line(run, material, names, f"roughness → {op.value:.4g}"))


def _set_metallic(run: _Run, op: object) -> None:
    for material, names in _materials(run, op):
        _set_input(run, material, "Metallic", op.value)
        run.journal.set(material, "metallic", op.value)
        run.lines.append(_material_line(run, material, names, f"metallic → {op.value:.4g}"))


def _set_alpha(run: _Run, op: object) -> None:
    for material, names in _materials(run, op):
        _set_input(run, material, "Alpha", op.value)
        run.journal.set(material, "diffuse_color", (*material.diffuse_color[:3], op.value))
        run.lines.append(_material_line(run, material, names, f"alpha → {op.value:.4g}"))


def _set_emission(run: _Run, op: object) -> None:
    for material, names in _materials(run, op):
        _set_input(run, material, "Emission Color", (*op.color, 1.0))
        _set_input(run, material, "Emission Strength", op.strength)
        change = f"emission → {_fmt(op.color)} × {op.strength:.4g}"
        run.lines.append(_material_line(run, material, names, change))


def _assign_material(run: _Run, op: object) -> None:
    material = bpy.data.materials.new(op.name)
    run.journal.on_undo(_remove_id, material)
    material.diffuse_color = (*op.base_color, 1.0)
    material.roughness, material.metallic = op.roughness, op.metallic
    bsdf = _principled(material)
    if bsdf is not None:
        bsdf.inputs["Base Color"].default_value = (*op.base_color, 1.0)
        bsdf.inputs["Roughness"].default_value = op.roughness
        bsdf.inputs["Metallic"].default_value = op.metallic
    for name in op.targets:
        _put_in_slot(run, run.obj(name), op.slot, material)
    run.lines.append(
        f"{', '.join(op.targets)}: new material {material.name!r} in slot {op.slot} "
        f"(base color {_fmt(op.base_color)}, roughness {op.roughness:.4g}, metallic {op.metallic:.4g})"
    )


# ---------------------------------------------------------------- handlers: light and world
def _light_data(run: _Run, names: list[str]) -> list[tuple[bpy.types.Light, list[str]]]:
    found: dict[int, tuple[bpy.types.Light, list[str]]] = {}
    for name in names:
        data = run.obj(name).data
        found.setdefault(data.as_pointer(), (data, []))[1].append(name)
    return list(found.values())


def _set_light_color(run: _Run, op: object) -> None:
    for light, names in _light_data(run, op.targets):
        run.journal.set(light, "color", tuple(op.color))
        run.lines.append(f"{', '.join(names)}: light color → {_fmt(op.color)}")


def _set_light_energy(run: _Run, op: object) -> None:
    for light, names in _light_data(run, op.targets):
        old = light.energy
        run.journal.set(light, "energy", op.value if op.mode == "absolute" else old * op.value)
        run.lines.append(f"{', '.join(names)}: light energy {old:.4g} → {light.energy:.4g} W")


def _set_light_type(run: _Run, op: object) -> None:
    for light, names in _light_data(run, op.targets):
        old = light.type
        run.journal.set(light, "type", op.type)
        run.lines.append(f"{', '.join(names)}: light type {old} → {op.type}")


def _add_light(run: _Run, op: object) -> None:
    data = bpy.data.lights.new(op.name, op.type)
    run.journal.on_undo(_remove_id, data)
    data.color, data.energy = tuple(op.color), op.energy
    obj = bpy.data.objects.new(op.name, data)
    run.journal.on_undo(_remove_id, obj)
    run.scene.collection.objects.link(obj)
    obj.location = op.location
    run.lines.append(f"{obj.name}: new {op.type} light at {_fmt(op.location)}, {op.energy:.4g} W, {_fmt(op.color)}")


def _world(run: _Run) -> bpy.types.World:
    if run.scene.world is None:
        world = bpy.data.worlds.new("World")
        run.journal.on_undo(_remove_id, world)
        run.journal.set(run.scene, "world", world)
        run.lines.append(f"Scene: new world {world.name!r}")
    return run.scene.world


def _set_world_color(run: _Run, op: object) -> None:
    world = _world(run)
    run.journal.set(world, "color", tuple(op.color))  # what Workbench and the viewport show
    background = _background(world)
    if background is not None:
        run.journal.set(background.inputs["Color"], "default_value", (*op.color, 1.0))
    run.lines.append(f"World: color → {_fmt(op.color)}")


def _set_world_strength(run: _Run, op: object) -> None:
    world = _world(run)
    socket = _background(world).inputs["Strength"]
    old = socket.default_value
    run.journal.set(socket, "default_value", op.value)
    run.lines.append(f"World: strength {old:.4g} → {op.value:.4g}")


# ---------------------------------------------------------------- handlers: camera
def _set_focal_length(run: _Run, op: object) -> None:
    camera = run.obj(op.camera).data
    old = camera.lens
    run.journal.set(camera, "lens", op.value)
    run.lines.append(f"{op.camera}: focal length {old:.4g} → {op.value:.4g} mm")


def _move_camera(run: _Run, op: object) -> None:
    obj = run.obj(op.camera)
    parent = _parent_matrix(run.scene, obj)
    delta = Vector(op.vector)
    if op.mode == "absolute":
        delta = delta - (parent @ obj.matrix_basis).to_translation()
    run.set_transform(obj, location=obj.location + parent.to_3x3().inverted_safe() @ delta)
    what = f"→ {_fmt(op.vector)}" if op.mode == "absolute" else _signed(op.vector)
    run.lines.append(f"{op.camera}: camera location {what} (world)")


def _camera_look_at(run: _Run, op: object) -> None:
    camera = run.obj(op.camera)
    target = _world_center(run.scene, run.obj(op.target))
    direction = target - _world_matrix(run.scene, camera).to_translation()
    if direction.length < 1e-9:
        raise ApplyError("not_applicable", f"{op.op}: camera {op.camera!r} is at the centre of {op.target!r}")
    parent = _parent_matrix(run.scene, camera).to_quaternion()
    run.set_transform(camera, rotation=parent.inverted() @ direction.to_track_quat("-Z", "Y"))  # look down -Z
    run.lines.append(f"{op.camera}: aimed at {op.target} ({_fmt(target)})")


# ---------------------------------------------------------------- handlers: object
def _set_visibility(run: _Run, op: object) -> None:
    for name in op.targets:
        obj = run.obj(name)
        run.journal.set(obj, "hide_viewport", not op.visible)
        run.journal.set(obj, "hide_render", not op.visible)
        if op.visible:  # also the view layer's eye, else it stays hidden in the viewport
            for layer in run.scene.view_layers:
                if layer.objects.get(obj.name) is not None and obj.hide_get(view_layer=layer):
                    obj.hide_set(False, view_layer=layer)
                    run.journal.on_undo(obj.hide_set, True, view_layer=layer)
        run.lines.append(f"{name}: {'shown' if op.visible else 'hidden'} (viewport and render)")


def _duplicate(run: _Run, op: object) -> None:
    for name in op.targets:
        obj = run.obj(name)
        copy = obj.copy()
        run.journal.on_undo(_remove_id, copy)
        if obj.data is not None:
            copy.data = obj.data.copy()
            run.journal.on_undo(_remove_id, copy.data)
        anim = copy.animation_data
        if anim is not None and anim.action is not None:  # its own animation, moved with it
            anim.action = anim.action.copy()
            run.journal.on_undo(_remove_id, anim.action)
        for collection in _in_scene_collections(run.scene, obj):
            collection.objects.link(copy)
        parent = _parent_matrix(run.scene, obj)
        run.set_transform(copy, location=copy.location + parent.to_3x3().inverted_safe() @ Vector(op.offset))
        run.lines.append(f"{name}: duplicated as {copy.name}, offset {_fmt(op.offset)}")


def _delete(run: _Run, op: object) -> None:
    for name in op.targets:
        obj = run.obj(name)
        for collection in _in_scene_collections(run.scene, obj):
            collection.objects.unlink(obj)
            run.journal.on_undo(collection.objects.link, obj)
        run.doomed.append(obj)
        run.lines.append(f"{name}: deleted")


def _set_shading(run: _Run, op: object) -> None:
    done: set[int] = set()
    for name in op.targets:
        mesh = run.obj(name).data
        if mesh.as_pointer() not in done:
            done.add(mesh.as_pointer())
            run.journal.save_attribute(mesh, "sharp_face")
            if op.smooth:
                mesh.shade_smooth()
            else:
                mesh.shade_flat()
        run.lines.append(f"{name}: shading → {'smooth' if op.smooth else 'flat'}")


# ---------------------------------------------------------------- handlers: modifiers
def _modifier_settings(settings: object, only_given: bool) -> list[tuple[str, object]]:
    table = _MODIFIER_SETTINGS[settings.type]
    names = [f for f in table if not only_given or f in settings.model_fields_set]
    return [(f, getattr(settings, f)) for f in names]


def _configure(run: _Run, modifier: bpy.types.Modifier, settings: list[tuple[str, object]], kind: str) -> None:
    for setting, value in settings:
        for attr in _MODIFIER_SETTINGS[kind][setting]:
            run.journal.set(modifier, attr, tuple(value) if isinstance(value, list) else value)


def _describe(settings: list[tuple[str, object]]) -> str:
    return ", ".join(f"{k} {_fmt(v) if isinstance(v, list) else f'{v:.4g}'}" for k, v in settings)


def _add_modifier(run: _Run, op: object) -> None:
    kind = op.modifier.type
    for name in op.targets:
        obj = run.obj(name)
        modifier = obj.modifiers.new(_MODIFIER_NAMES[kind], kind)
        run.journal.on_undo(obj.modifiers.remove, modifier)
        settings = _modifier_settings(op.modifier, only_given=False)
        _configure(run, modifier, settings, kind)
        run.lines.append(f"{name}: added {kind} modifier {modifier.name!r} ({_describe(settings)})")


def _adjust_modifier(run: _Run, op: object) -> None:
    settings = _modifier_settings(op.modifier, only_given=True)  # leave what the plan did not mention
    for name in op.targets:
        _configure(run, run.obj(name).modifiers[op.name], settings, op.modifier.type)
        run.lines.append(f"{name}: modifier {op.name!r} → {_describe(settings) or 'unchanged'}")


def _remove_modifier(run: _Run, op: object) -> None:
    for name in op.targets:
        run.doomed_modifiers.append((run.obj(name), op.name))
        run.lines.append(f"{name}: removed modifier {op.name!r}")


# ---------------------------------------------------------------- handlers: animation
def _frames(keys: list[kf.Key]) -> str:
    return f"{keys[0].frame:g}–{keys[-1].frame:g}" if keys else "none"


def _each_curve(
    run: _Run, op: object, change: Callable[[list[kf.Key], bpy.types.FCurve], list[kf.Key]], what: str
) -> None:
    for name, bag, shared in run.animated(op.targets):
        count, before, after = 0, [], []
        for fc in bag.fcurves:
            keys, raw = _read(fc)
            if not keys:
                continue
            moved = change(keys, fc)
            run.write_keys(fc, moved, raw)
            count += len(keys)
            before += keys[:1] + keys[-1:]
            after += moved[:1] + moved[-1:]
        before.sort(key=lambda k: k.frame)
        after.sort(key=lambda k: k.frame)
        run.lines.append(f"{name}: {what} ({count} keys, frames {_frames(before)} → {_frames(after)}){shared}")


def _retime(run: _Run, op: object) -> None:
    _each_curve(
        run, op, lambda keys, fc: kf.retime(keys, op.factor, op.pivot_frame),
        f"retimed ×{op.factor:g} about frame {op.pivot_frame:g}",
    )  # fmt: skip


def _shift_keys(run: _Run, op: object) -> None:
    _each_curve(run, op, lambda keys, fc: kf.shift(keys, op.frames), f"keys shifted {op.frames:+g} frames")


def _set_interpolation(run: _Run, op: object) -> None:
    _each_curve(
        run, op, lambda keys, fc: kf.set_interpolation(keys, op.interpolation, op.easing, fc.extrapolation),
        f"interpolation → {op.interpolation}, easing {op.easing}",
    )  # fmt: skip


def _scale_amplitude(run: _Run, op: object) -> None:
    path = _CHANNELS[op.channel]
    for name, bag, shared in run.animated(op.targets):
        for fc in (f for f in bag.fcurves if f.data_path == path and op.index in (-1, f.array_index)):
            keys, raw = _read(fc)
            if keys:
                run.write_keys(fc, kf.scale_amplitude(keys, op.factor), raw)
                run.lines.append(
                    f"{name}: {path}[{fc.array_index}] amplitude ×{op.factor:g} about {keys[0].value:.4g}{shared}"
                )


def _insert_keyframe(run: _Run, op: object) -> None:
    obj = run.obj(op.target)
    run.journal.save_transform(obj)
    fc = _ensure_fcurve(run, obj, _CHANNELS[op.channel], op.index)
    keys, raw = _read(fc)
    new = kf.insert_key(keys, op.frame, op.value, fc.extrapolation)
    added = len(new) > len(keys)
    run.write_keys(fc, new, raw, insert_at=kf.find_key(new, op.frame, kf.SAME_FRAME) if added else None)
    verb = "new key" if added else "key set"
    run.lines.append(f"{op.target}: {op.channel}[{op.index}] {verb} at frame {op.frame:g} = {op.value:.4g}")


def _delete_keyframe(run: _Run, op: object) -> None:
    obj = run.obj(op.target)
    deleted = 0
    for fc in _fcurves(obj, _CHANNELS[op.channel], op.index):
        keys, raw = _read(fc)
        at = kf.find_key(keys, op.frame)
        if at is not None:
            run.journal.save_transform(obj)
            run.write_keys(fc, kf.delete_key(keys, op.frame, extrapolation=fc.extrapolation), raw, remove_at=at)
            run.lines.append(f"{op.target}: {op.channel}[{fc.array_index}] key at frame {keys[at].frame:g} deleted")
            deleted += 1
    if not deleted:
        raise ApplyError("not_applicable", f"{op.op}: {op.target!r} has no {op.channel} key near frame {op.frame:g}")


def _set_frame_range(run: _Run, op: object) -> None:
    scene, render = run.scene, run.scene.render
    old = (scene.frame_start, scene.frame_end, render.fps / render.fps_base)
    run.journal.on_undo(_set_range, scene, scene.frame_start, scene.frame_end)
    _set_range(scene, op.start, op.start + op.length - 1)
    fps = max(1, round(op.fps))
    run.journal.set(render, "fps", fps)
    run.journal.set(render, "fps_base", fps / op.fps)  # e.g. 24 / 1.001 for 23.976
    run.lines.append(
        f"Scene: frames {old[0]}–{old[1]} at {old[2]:.4g} fps → {scene.frame_start}–{scene.frame_end} at {op.fps:.4g} fps"
    )


def _set_range(scene: bpy.types.Scene, start: int, end: int) -> None:
    scene.frame_start = start  # may push the end up; the end is set next, and is >= start
    scene.frame_end = end


def _generative_edit(run: _Run, op: GenerativeEdit) -> None:
    run.handoffs.append(op)
    masked = ", ".join(op.mask.objects + [f"{len(op.mask.regions)} region(s)"] * bool(op.mask.regions))
    run.lines.append(
        f"Hand-off to a {op.modality} generative editor (scene unchanged): {op.prompt!r} on {masked or 'the whole view'}"
    )


_HANDLERS: dict[str, Callable[[_Run, object], None]] = {
    "translate": _translate,
    "rotate": _rotate,
    "scale": _scale,
    "set_base_color": _set_base_color,
    "set_roughness": _set_roughness,
    "set_metallic": _set_metallic,
    "set_emission": _set_emission,
    "set_alpha": _set_alpha,
    "assign_material": _assign_material,
    "set_light_color": _set_light_color,
    "set_light_energy": _set_light_energy,
    "set_light_type": _set_light_type,
    "add_light": _add_light,
    "set_world_color": _set_world_color,
    "set_world_strength": _set_world_strength,
    "set_focal_length": _set_focal_length,
    "move_camera": _move_camera,
    "camera_look_at": _camera_look_at,
    "set_visibility": _set_visibility,
    "duplicate": _duplicate,
    "delete": _delete,
    "set_shading": _set_shading,
    "add_modifier": _add_modifier,
    "adjust_modifier": _adjust_modifier,
    "remove_modifier": _remove_modifier,
    "retime": _retime,
    "shift_keys": _shift_keys,
    "scale_amplitude": _scale_amplitude,
    "set_interpolation": _set_interpolation,
    "insert_keyframe": _insert_keyframe,
    "delete_keyframe": _delete_keyframe,
    "set_frame_range": _set_frame_range,
    "generative_edit": _generative_edit,
}

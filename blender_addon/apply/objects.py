"""Handlers: visibility, duplicate, delete, shading and modifiers.

Nothing is destroyed here: `delete` unlinks the objects from this scene's collections (the journal
puts them back at their place) and `remove_modifier` marks the modifier; the run's commit frees
them once every op has succeeded. A deleted parent's children keep their place in the world.
"""

from __future__ import annotations

import bpy
from pydantic import BaseModel

from evlm import transforms
from evlm.edits import (
    AddModifier,
    AdjustModifier,
    Array,
    Bevel,
    Decimate,
    Delete,
    Duplicate,
    Mirror,
    RemoveModifier,
    SetShading,
    SetVisibility,
    Solidify,
    Subdivision,
    Wireframe,
)

from .journal import remove_id
from .registry import Planned, handles
from .report import ApplyError, fmt
from .run import Run
from .spatial import array, in_scene_collections, parent_matrix

_MODIFIABLE = frozenset({"MESH", "CURVE", "SURFACE", "FONT"})
# modifier settings class -> (Blender modifier type, default name, {plan setting: the properties it sets})
MODIFIERS: dict[type[BaseModel], tuple[str, str, dict[str, tuple[str, ...]]]] = {
    Bevel: ("BEVEL", "Bevel", {"width": ("width",), "segments": ("segments",)}),
    Subdivision: ("SUBSURF", "Subdivision", {"levels": ("levels", "render_levels")}),
    Array: ("ARRAY", "Array", {"count": ("count",), "relative_offset": ("relative_offset_displace",)}),
    Solidify: ("SOLIDIFY", "Solidify", {"thickness": ("thickness",)}),
    Mirror: ("MIRROR", "Mirror", {"axes": ("use_axis",)}),
    Decimate: ("DECIMATE", "Decimate", {"ratio": ("ratio",)}),
    Wireframe: ("WIREFRAME", "Wireframe", {"thickness": ("thickness",)}),
}


@handles(SetVisibility)
def _set_visibility(run: Run, op: SetVisibility) -> None:
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


@handles(Duplicate)
def _duplicate(run: Run, op: Duplicate) -> None:
    for name in op.targets:
        obj = run.obj(name)
        copy = obj.copy()
        run.journal.on_undo(remove_id, copy)
        if obj.data is not None:
            copy.data = obj.data.copy()
            run.journal.on_undo(remove_id, copy.data)
        anim = copy.animation_data
        if anim is not None and anim.action is not None:  # its own animation, moved with it
            anim.action = anim.action.copy()
            run.journal.on_undo(remove_id, anim.action)
        for collection in in_scene_collections(run.scene, obj):
            collection.objects.link(copy)
        parent = array(parent_matrix(run.scene, obj))
        location = transforms.translated(parent, array(copy.matrix_basis), op.offset, "relative", "world")
        run.set_transform(copy, location=location)
        run.lines.append(f"{name}: duplicated as {copy.name}, offset {fmt(op.offset)}")


def _plans_delete(planned: Planned, op: Delete) -> None:
    planned.deleted.update(op.targets)


@handles(Delete, plans=_plans_delete)
def _delete(run: Run, op: Delete) -> None:
    for name in op.targets:
        obj = run.obj(name)
        for collection in in_scene_collections(run.scene, obj):
            run.journal.unlink(run.scene, collection, obj)
        run.doomed.append(obj)
        run.lines.append(f"{name}: deleted")


def _check_shading(scene: bpy.types.Scene, op: SetShading, planned: Planned) -> None:
    for name in op.targets:
        if scene.objects[name].type != "MESH":
            raise ApplyError(
                "wrong_kind", f"{op.op}: {name!r} is a {scene.objects[name].type.lower()} object, not a mesh"
            )


@handles(SetShading, check=_check_shading)
def _set_shading(run: Run, op: SetShading) -> None:
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


# ---------------------------------------------------------------- modifiers
def _settings(settings: BaseModel, only_given: bool) -> list[tuple[str, object]]:
    table = MODIFIERS[type(settings)][2]
    names = [f for f in table if not only_given or f in settings.model_fields_set]
    return [(f, getattr(settings, f)) for f in names]


def _configure(run: Run, modifier: bpy.types.Modifier, settings: BaseModel, values: list[tuple[str, object]]) -> None:
    table = MODIFIERS[type(settings)][2]
    for setting, value in values:
        for attr in table[setting]:
            run.journal.set(modifier, attr, tuple(value) if isinstance(value, list) else value)


def _describe(values: list[tuple[str, object]]) -> str:
    return ", ".join(f"{k} {fmt(v) if isinstance(v, list) else f'{v:.4g}'}" for k, v in values)


def _check_modifiable(scene: bpy.types.Scene, op: AddModifier | AdjustModifier, planned: Planned) -> None:
    for name in op.targets:
        obj = scene.objects[name]
        if obj.type not in _MODIFIABLE:
            raise ApplyError("wrong_kind", f"{op.op}: {name!r} ({obj.type.lower()}) cannot take a {op.modifier.type}")


@handles(AddModifier, check=_check_modifiable)
def _add_modifier(run: Run, op: AddModifier) -> None:
    kind, default_name, _ = MODIFIERS[type(op.modifier)]
    for name in op.targets:
        obj = run.obj(name)
        modifier = obj.modifiers.new(default_name, kind)
        run.journal.on_undo(obj.modifiers.remove, modifier)
        values = _settings(op.modifier, only_given=False)
        _configure(run, modifier, op.modifier, values)
        run.lines.append(f"{name}: added {kind} modifier {modifier.name!r} ({_describe(values)})")


@handles(AdjustModifier, check=_check_modifiable)
def _adjust_modifier(run: Run, op: AdjustModifier) -> None:
    values = _settings(op.modifier, only_given=True)  # leave what the plan did not mention
    for name in op.targets:
        _configure(run, run.obj(name).modifiers[op.name], op.modifier, values)
        run.lines.append(f"{name}: modifier {op.name!r} → {_describe(values) or 'unchanged'}")


def _plans_removal(planned: Planned, op: RemoveModifier) -> None:
    planned.removed_modifiers.update((t, op.name) for t in op.targets)


@handles(RemoveModifier, plans=_plans_removal)
def _remove_modifier(run: Run, op: RemoveModifier) -> None:
    for name in op.targets:
        run.doomed_modifiers.append((run.obj(name), op.name))
        run.lines.append(f"{name}: removed modifier {op.name!r}")

"""F-curve access for capture and apply, across Blender's two action models: the one version gate.

Blender 4.4 made actions layered: an ID's F-curves live in the channelbag of its action slot
(`AnimData.action_slot`), reached with `anim_utils.action_get_channelbag_for_slot`, and Blender
5.0 removed the older `Action.fcurves`. Blender 4.2 LTS and 4.3 keep the F-curves and their
groups on the action itself. `LAYERED` says which model this Blender has, and nothing outside
this module asks: everywhere else a *channel set* is what holds an ID's F-curves (a channelbag, or
the action), with `.fcurves` (find / new / remove) and `.groups`, the same in both models.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import bpy
from bpy_extras import anim_utils

LAYERED = bpy.app.version >= (4, 4, 0)
TRANSFORM_GROUP = "Object Transforms"  # where Blender's own keying puts transform channels

ChannelSet = Any  # bpy.types.ActionChannelbag (Blender 4.4+) or bpy.types.Action (4.2, 4.3)
Undo = Callable[..., object]  # undo(fn, *args): call fn(*args) to take a step back


def channels(id_data: bpy.types.ID | None) -> ChannelSet | None:
    """What holds the F-curves of the ID's active action, or None if it has none."""
    anim = getattr(id_data, "animation_data", None)
    if anim is None or anim.action is None:
        return None
    if LAYERED:
        return anim_utils.action_get_channelbag_for_slot(anim.action, anim.action_slot)
    return anim.action


def fcurves(id_data: bpy.types.ID | None, path: str | None = None, index: int = -1) -> list[bpy.types.FCurve]:
    """The ID's F-curves, or those of `path` (and `index`, if >= 0)."""
    found = channels(id_data)
    if found is None:
        return []
    return [
        fc for fc in found.fcurves if (path is None or fc.data_path == path) and (index < 0 or fc.array_index == index)
    ]


def ensure_fcurve(obj: bpy.types.Object, path: str, index: int, undo: Undo) -> bpy.types.FCurve:
    """The object's F-curve for path[index], making whatever is missing on the way: animation data,
    an action, and (layered actions) a slot, a layer, a strip and a channelbag; a new F-curve goes
    in the group Blender's keying uses. Each step made is handed to `undo` with how to take it back.
    """
    anim = obj.animation_data
    if anim is None:
        anim = obj.animation_data_create()
        undo(obj.animation_data_clear)
    if anim.action is None:
        action = bpy.data.actions.new(f"{obj.name}Action")
        undo(bpy.data.actions.remove, action)
        undo(setattr, anim, "action", None)
        anim.action = action
    found = _ensure_channels(anim, obj.name, undo)
    fc = found.fcurves.find(path, index=index)
    if fc is None:
        had_group = found.groups.get(TRANSFORM_GROUP) is not None
        if LAYERED:
            fc = found.fcurves.new(path, index=index, group_name=TRANSFORM_GROUP)
        else:
            fc = found.fcurves.new(path, index=index, action_group=TRANSFORM_GROUP)
        if not had_group:
            undo(_remove_group, found, TRANSFORM_GROUP)
        undo(found.fcurves.remove, fc)
    return fc


def _ensure_channels(anim: bpy.types.AnimData, name: str, undo: Undo) -> ChannelSet:
    action = anim.action
    if not LAYERED:
        return action
    if anim.action_slot is None:
        slot = action.slots.new(id_type="OBJECT", name=name)
        undo(action.slots.remove, slot)
        undo(setattr, anim, "action_slot", None)
        anim.action_slot = slot
    found = anim_utils.action_get_channelbag_for_slot(action, anim.action_slot)
    if found is None:
        had_layer = len(action.layers) > 0
        had_strip = had_layer and len(action.layers[0].strips) > 0
        found = anim_utils.action_ensure_channelbag_for_slot(action, anim.action_slot)
        if not had_layer:
            undo(lambda: action.layers.remove(action.layers[0]))
        elif not had_strip:
            undo(lambda: action.layers[0].strips.remove(action.layers[0].strips[0]))
        else:
            undo(action.layers[0].strips[0].channelbags.remove, found)
    return found


def _remove_group(found: ChannelSet, name: str) -> None:
    group = found.groups.get(name)
    if group is not None:  # Blender may drop a group with its last F-curve
        found.groups.remove(group)

"""The journal: how to undo every change an apply run has made so far (imports bpy).

Handlers change the scene only through it, or register with it how to take a change back, so a
failed suggestion can be rolled back exactly: every touched property gets its old value back,
created data-blocks are removed, F-curves get their raw keys back, mesh attributes their values,
and objects unlinked by `delete` come back at their place in each collection, with their
selection, visibility and active state in every view layer.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

import bpy

from . import keys

_TRANSFORM = ("location", "rotation_euler", "rotation_quaternion", "rotation_axis_angle", "scale")


class Journal:
    """How to undo every change made so far, newest last."""

    def __init__(self) -> None:
        self._undo: list[Callable[[], object]] = []
        self._saved: set[tuple[str, int]] = set()

    def set(self, owner: bpy.types.bpy_struct, attr: str, value: object) -> None:
        """Set owner.attr = value, remembering the old value."""
        old = _plain(getattr(owner, attr))
        setattr(owner, attr, value)
        self._undo.append(partial(setattr, owner, attr, old))

    def on_undo(self, fn: Callable[..., object], *args: object, **kwargs: object) -> None:
        """Call fn(*args, **kwargs) when rolling back (a change made outside `set`)."""
        self._undo.append(partial(fn, *args, **kwargs))

    def save_transform(self, obj: bpy.types.Object) -> None:
        """Remember the object's own transform (once per run: the oldest is the one to restore)."""
        if self._first(("transform", obj.as_pointer())):
            values = {attr: tuple(getattr(obj, attr)) for attr in _TRANSFORM}
            self._undo.append(partial(_restore_transform, obj, values))

    def save_fcurve(self, fc: bpy.types.FCurve) -> None:
        """Remember an F-curve's keys exactly (once per run)."""
        if self._first(("fcurve", fc.as_pointer())):
            self._undo.append(partial(_restore_fcurve, fc, keys.raw_keys(fc)))

    def save_attribute(self, mesh: bpy.types.Mesh, name: str) -> None:
        """Remember a mesh attribute's values, or that it did not exist (once per run)."""
        if not self._first((f"attribute {name}", mesh.as_pointer())):
            return
        attr = mesh.attributes.get(name)
        saved = None
        if attr is not None:
            values = [False] * len(attr.data) if attr.data_type == "BOOLEAN" else [0.0] * len(attr.data)
            attr.data.foreach_get("value", values)
            saved = (attr.domain, attr.data_type, values)
        self._undo.append(partial(_restore_attribute, mesh, name, saved))

    def unlink(self, scene: bpy.types.Scene, collection: bpy.types.Collection, obj: bpy.types.Object) -> None:
        """Unlink the object from the collection; undone, it is back at its place in the collection's
        order, as selected, hidden and active in the scene's view layers as it was."""
        after = list(collection.objects)
        after = [o.as_pointer() for o in after[after.index(obj) + 1 :]]
        state = _layer_state(scene, obj)
        collection.objects.unlink(obj)
        self._undo.append(partial(_relink, scene, collection, obj, after, state))

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


def remove_id(datablock: bpy.types.ID) -> None:
    """Remove a data-block made during the run (undo of its creation)."""
    try:
        datablock.as_pointer()
    except ReferenceError:  # already gone: removing a mesh also removes the objects that use it
        return
    bpy.data.batch_remove((datablock,))


def _plain(value: object) -> object:
    """A copy of a property value that does not follow later changes (vectors are live views)."""
    if isinstance(value, (str, bytes, bpy.types.bpy_struct)) or not hasattr(value, "__len__"):
        return value
    return tuple(value)


def _restore_transform(obj: bpy.types.Object, values: dict[str, tuple]) -> None:
    for attr, value in values.items():
        setattr(obj, attr, value)


def _restore_fcurve(fc: bpy.types.FCurve, raw: keys.Raw) -> None:
    keys.set_raw(fc, raw)
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


LayerState = list[tuple[bpy.types.ViewLayer, bool, bool, bool]]  # (layer, selected, hidden, active)


def _layer_state(scene: bpy.types.Scene, obj: bpy.types.Object) -> LayerState:
    """How the object shows in each view layer of the scene that has it: kept by its base, which
    Blender drops when the object leaves the layer's collections."""
    return [
        (layer, obj.select_get(view_layer=layer), obj.hide_get(view_layer=layer), layer.objects.active == obj)
        for layer in scene.view_layers
        if layer.objects.get(obj.name) is not None
    ]


def _set_layer_state(obj: bpy.types.Object, state: LayerState) -> None:
    for layer, selected, hidden, active in state:
        if layer.objects.get(obj.name) is None:
            continue
        if obj.select_get(view_layer=layer) != selected:
            obj.select_set(selected, view_layer=layer)
        if obj.hide_get(view_layer=layer) != hidden:
            obj.hide_set(hidden, view_layer=layer)
        if active and layer.objects.active != obj:
            layer.objects.active = obj


def _relink(
    scene: bpy.types.Scene, collection: bpy.types.Collection, obj: bpy.types.Object, after: list[int], state: LayerState
) -> None:
    """Link the object back where it was: a link appends, so the objects that followed it are
    moved behind it again (unlinked and linked in their order, each keeping how it showed)."""
    collection.objects.link(obj)
    followers = set(after)
    tail = [o for o in collection.objects if o.as_pointer() in followers]
    kept = [(o, _layer_state(scene, o)) for o in tail]
    for o in tail:
        collection.objects.unlink(o)
        collection.objects.link(o)
    for o, o_state in [*kept, (obj, state)]:
        _set_layer_state(o, o_state)

"""One apply run: the scene, its journal, what the report will say, and what commit destroys."""

from __future__ import annotations

from collections.abc import Iterable

import bpy
from mathutils import Euler, Quaternion

from evlm import keyframes as kf
from evlm.edits import GenerativeEdit

from .. import fcurves
from . import keys
from .journal import Journal
from .spatial import is_euler, set_rotation, update

TRANSFORM_CHANNELS = ("location", "rotation_euler", "scale")  # the animation ops' channels: data paths


class Run:
    def __init__(self, scene: bpy.types.Scene) -> None:
        self.scene = scene
        self.journal = Journal()
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
        update(self.scene)
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
        location: Iterable[float] | None = None,
        rotation: Quaternion | Euler | None = None,
        scale: Iterable[float] | None = None,
    ) -> None:
        """Set the object's own (basis) transform; animated channels are moved along."""
        self.journal.save_transform(obj)
        before = {attr: tuple(getattr(obj, attr)) for attr in TRANSFORM_CHANNELS}
        if location is not None:
            obj.location = tuple(float(v) for v in location)
        if rotation is not None:
            set_rotation(obj, rotation)
        if scale is not None:
            obj.scale = tuple(float(v) for v in scale)
        self._move_animation(obj, before)

    def _move_animation(self, obj: bpy.types.Object, before: dict[str, tuple]) -> None:
        """Offset (scale: multiply) the keys of each animated channel the change moved, so the
        change survives the next frame change."""
        for fc in fcurves.fcurves(obj):
            attr = fc.data_path
            if attr not in TRANSFORM_CHANNELS or not 0 <= fc.array_index < 3:
                continue
            if attr == "rotation_euler" and not is_euler(obj):
                continue
            old, new = before[attr][fc.array_index], getattr(obj, attr)[fc.array_index]
            if old == new or not len(fc.keyframe_points):
                continue
            current, raw = keys.read(fc)
            if attr == "scale" and old != 0:
                moved = kf.scale_values(current, new / old, 0.0)
            else:
                moved = kf.offset_values(current, new - old)
            self.write_keys(fc, moved, raw)

    # -- keys
    def write_keys(
        self,
        fc: bpy.types.FCurve,
        new: list[kf.Key],
        raw: keys.Raw,
        insert_at: int | None = None,
        remove_at: int | None = None,
    ) -> None:
        """Write `new` over `fc` (whose keys were `raw`), journaled; see `keys.write`."""
        self.journal.save_fcurve(fc)
        keys.write(fc, new, raw, insert_at, remove_at)

    def animated(self, names: list[str]) -> list[tuple[str, fcurves.ChannelSet, str]]:
        """The targets' channel sets, each once, with a note naming other objects animated by it."""
        out, seen = [], set()
        for name in names:
            found = fcurves.channels(self.obj(name))
            if found is None or found.as_pointer() in seen:
                continue
            seen.add(found.as_pointer())
            users = [o for o in self.scene.objects if (c := fcurves.channels(o)) is not None and c == found]
            for obj in users:  # the re-evaluated animation rewrites their animated channels
                self.journal.save_transform(obj)
            others = [o.name for o in users if o.name not in names]
            out.append((name, found, f" (shared action: also moves {', '.join(others)})" if others else ""))
        return out

"""Handlers: lights and the world. Light data shared by several lamps is edited once per op."""

from __future__ import annotations

import bpy

from evlm.edits import AddLight, SetLightColor, SetLightEnergy, SetLightType, SetWorldColor, SetWorldStrength

from ..nodes import surface_node, with_nodes
from .journal import remove_id
from .registry import Planned, handles
from .report import ApplyError, fmt
from .run import Run


def _light_data(run: Run, names: list[str]) -> list[tuple[bpy.types.Light, list[str]]]:
    found: dict[int, tuple[bpy.types.Light, list[str]]] = {}
    for name in names:
        data = run.obj(name).data
        found.setdefault(data.as_pointer(), (data, []))[1].append(name)
    return list(found.values())


@handles(SetLightColor)
def _set_light_color(run: Run, op: SetLightColor) -> None:
    for light, names in _light_data(run, op.targets):
        run.journal.set(light, "color", tuple(op.color))
        run.lines.append(f"{', '.join(names)}: light color → {fmt(op.color)}")


@handles(SetLightEnergy)
def _set_light_energy(run: Run, op: SetLightEnergy) -> None:
    for light, names in _light_data(run, op.targets):
        old = light.energy
        run.journal.set(light, "energy", op.value if op.mode == "absolute" else old * op.value)
        run.lines.append(f"{', '.join(names)}: light energy {old:.4g} → {light.energy:.4g} W")


@handles(SetLightType)
def _set_light_type(run: Run, op: SetLightType) -> None:
    for light, names in _light_data(run, op.targets):
        old = light.type
        run.journal.set(light, "type", op.type)
        run.lines.append(f"{', '.join(names)}: light type {old} → {op.type}")


@handles(AddLight)
def _add_light(run: Run, op: AddLight) -> None:
    data = bpy.data.lights.new(op.name, op.type)
    run.journal.on_undo(remove_id, data)
    data.color, data.energy = tuple(op.color), op.energy
    obj = bpy.data.objects.new(op.name, data)
    run.journal.on_undo(remove_id, obj)
    run.scene.collection.objects.link(obj)
    obj.location = op.location
    run.lines.append(f"{obj.name}: new {op.type} light at {fmt(op.location)}, {op.energy:.4g} W, {fmt(op.color)}")


def _world(run: Run) -> bpy.types.World:
    if run.scene.world is None:
        world = with_nodes(bpy.data.worlds.new("World"))
        run.journal.on_undo(remove_id, world)
        run.journal.set(run.scene, "world", world)
        run.lines.append(f"Scene: new world {world.name!r}")
    return run.scene.world


def _check_world(scene: bpy.types.Scene, op: SetWorldColor | SetWorldStrength, planned: Planned) -> None:
    if scene.world is None:
        return  # a world will be made
    background = surface_node(scene.world, "BACKGROUND")
    socket = "Color" if isinstance(op, SetWorldColor) else "Strength"
    if background is None:
        if isinstance(op, SetWorldStrength):
            raise ApplyError("not_applicable", f"{op.op}: world {scene.world.name!r} has no Background node")
    elif background.inputs[socket].is_linked:
        raise ApplyError("not_applicable", f"{op.op}: the world's {socket} comes from a node link; edit the node tree")


@handles(SetWorldColor, check=_check_world)
def _set_world_color(run: Run, op: SetWorldColor) -> None:
    world = _world(run)
    run.journal.set(world, "color", tuple(op.color))  # what Workbench and the viewport show
    background = surface_node(world, "BACKGROUND")
    if background is not None:
        run.journal.set(background.inputs["Color"], "default_value", (*op.color, 1.0))
    run.lines.append(f"World: color → {fmt(op.color)}")


@handles(SetWorldStrength, check=_check_world)
def _set_world_strength(run: Run, op: SetWorldStrength) -> None:
    world = _world(run)
    socket = surface_node(world, "BACKGROUND").inputs["Strength"]
    old = socket.default_value
    run.journal.set(socket, "default_value", op.value)
    run.lines.append(f"World: strength {old:.4g} → {op.value:.4g}")

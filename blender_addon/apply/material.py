"""Handlers: the material ops, on the material in an object's slot.

A material shared by several objects changes on all of them ("make the chairs red" means the
chairs' material) and the report names the others; `assign_material` is how a plan gives objects a
material of their own. An object with no material slot gets a new material in slot 0; a slot past
the object's last is refused. Values go to the Principled BSDF the material renders with (the
lookup capture describes it from) and to the material's viewport settings (`diffuse_color`,
`roughness`, `metallic`), which Workbench shows.
"""

from __future__ import annotations

import bpy

from evlm.edits import AssignMaterial, SetAlpha, SetBaseColor, SetEmission, SetMetallic, SetRoughness

from ..nodes import surface_node, with_nodes
from .journal import remove_id
from .registry import Check, Planned, handles
from .report import ApplyError, fmt
from .run import Run

_BSDF = "BSDF_PRINCIPLED"


def _check_material(*sockets: str) -> Check:
    """The check of a material op that sets these Principled BSDF inputs (each must hold a value,
    not be driven by a node link)."""

    def check(scene: bpy.types.Scene, op: object, planned: Planned) -> None:
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
            if material is None or not sockets:
                continue
            bsdf = surface_node(material, _BSDF)
            if bsdf is None:
                raise ApplyError(
                    "not_applicable", f"{op.op}: material {material.name!r} of {name!r} has no Principled BSDF"
                )
            for socket in sockets:
                if bsdf.inputs[socket].is_linked:
                    source = bsdf.inputs[socket].links[0].from_node.name
                    raise ApplyError(
                        "not_applicable",
                        f"{op.op}: {socket} of material {material.name!r} comes from node {source!r}; edit the node tree",
                    )

    return check


def _new_material(run: Run, name: str) -> bpy.types.Material:
    material = with_nodes(bpy.data.materials.new(name))
    run.journal.on_undo(remove_id, material)
    return material


def _slot_material(run: Run, obj: bpy.types.Object, slot: int) -> bpy.types.Material:
    """The material in the object's slot; an empty slot (or an object without slots) gets a new one."""
    if slot < len(obj.material_slots) and obj.material_slots[slot].material is not None:
        return obj.material_slots[slot].material
    material = _new_material(run, f"{obj.name}_Material")
    _put_in_slot(run, obj, slot, material)
    run.lines.append(f"{obj.name}: new material {material.name!r} in slot {slot}")
    return material


def _put_in_slot(run: Run, obj: bpy.types.Object, slot: int, material: bpy.types.Material) -> None:
    if slot < len(obj.material_slots):
        old = obj.material_slots[slot].material
        obj.material_slots[slot].material = material
        run.journal.on_undo(_set_slot, obj, slot, old)
    else:  # no slot yet (checked: slot 0 of an object without any)
        obj.data.materials.append(material)
        run.journal.on_undo(obj.data.materials.clear)  # pop() would leave the objects an empty slot


def _set_slot(obj: bpy.types.Object, slot: int, material: bpy.types.Material | None) -> None:
    obj.material_slots[slot].material = material


def _materials(run: Run, op: object) -> list[tuple[bpy.types.Material, list[str]]]:
    """The materials the op edits, each once, with the targets that led to it."""
    found: dict[int, tuple[bpy.types.Material, list[str]]] = {}
    for name in op.targets:
        material = _slot_material(run, run.obj(name), op.slot)
        found.setdefault(material.as_pointer(), (material, []))[1].append(name)
    return list(found.values())


def _line(run: Run, material: bpy.types.Material, names: list[str], change: str) -> str:
    users = [o.name for o in run.scene.objects if any(s.material == material for s in o.material_slots)]
    others = [n for n in users if n not in names]
    shared = f" (shared: also on {', '.join(others)})" if others else ""
    return f"{', '.join(names)}: material {material.name!r} {change}{shared}"


def _set_input(run: Run, material: bpy.types.Material, socket: str, value: object) -> None:
    bsdf = surface_node(material, _BSDF)
    if bsdf is not None:
        run.journal.set(bsdf.inputs[socket], "default_value", value)


@handles(SetBaseColor, check=_check_material("Base Color"))
def _set_base_color(run: Run, op: SetBaseColor) -> None:
    for material, names in _materials(run, op):
        bsdf = surface_node(material, _BSDF)
        alpha = bsdf.inputs["Base Color"].default_value[3] if bsdf is not None else 1.0
        _set_input(run, material, "Base Color", (*op.color, alpha))
        run.journal.set(material, "diffuse_color", (*op.color, material.diffuse_color[3]))
        run.lines.append(_line(run, material, names, f"base color → {fmt(op.color)}"))


def _set_value(run: Run, op: SetRoughness | SetMetallic, socket: str, viewport: str) -> None:
    """A value held twice: by a BSDF input, and by the material's viewport setting of that name."""
    for material, names in _materials(run, op):
        _set_input(run, material, socket, op.value)
        run.journal.set(material, viewport, op.value)
        run.lines.append(_line(run, material, names, f"{viewport} → {op.value:.4g}"))


@handles(SetRoughness, check=_check_material("Roughness"))
def _set_roughness(run: Run, op: SetRoughness) -> None:
    _set_value(run, op, "Roughness", "roughness")


@handles(SetMetallic, check=_check_material("Metallic"))
def _set_metallic(run: Run, op: SetMetallic) -> None:
    _set_value(run, op, "Metallic", "metallic")


@handles(SetAlpha, check=_check_material("Alpha"))
def _set_alpha(run: Run, op: SetAlpha) -> None:
    for material, names in _materials(run, op):
        _set_input(run, material, "Alpha", op.value)
        run.journal.set(material, "diffuse_color", (*material.diffuse_color[:3], op.value))
        run.lines.append(_line(run, material, names, f"alpha → {op.value:.4g}"))


@handles(SetEmission, check=_check_material("Emission Color", "Emission Strength"))
def _set_emission(run: Run, op: SetEmission) -> None:
    for material, names in _materials(run, op):
        _set_input(run, material, "Emission Color", (*op.color, 1.0))
        _set_input(run, material, "Emission Strength", op.strength)
        run.lines.append(_line(run, material, names, f"emission → {fmt(op.color)} × {op.strength:.4g}"))


def _plans_fresh_slots(planned: Planned, op: AssignMaterial) -> None:
    planned.fresh_slots.update((t, op.slot) for t in op.targets)


@handles(AssignMaterial, check=_check_material(), plans=_plans_fresh_slots)
def _assign_material(run: Run, op: AssignMaterial) -> None:
    material = _new_material(run, op.name)
    material.diffuse_color = (*op.base_color, 1.0)
    material.roughness, material.metallic = op.roughness, op.metallic
    bsdf = surface_node(material, _BSDF)
    if bsdf is not None:
        bsdf.inputs["Base Color"].default_value = (*op.base_color, 1.0)
        bsdf.inputs["Roughness"].default_value = op.roughness
        bsdf.inputs["Metallic"].default_value = op.metallic
    for name in op.targets:
        _put_in_slot(run, run.obj(name), op.slot, material)
    run.lines.append(
        f"{', '.join(op.targets)}: new material {material.name!r} in slot {op.slot} "
        f"(base color {fmt(op.base_color)}, roughness {op.roughness:.4g}, metallic {op.metallic:.4g})"
    )

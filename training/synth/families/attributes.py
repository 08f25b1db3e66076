"""Attribute edits with a degree ("a bit bigger", "much darker"): the words, the op, and the
magnitude each degree class maps to. Shared by vague_degree and view_reference.

Magnitudes per degree class (small / medium / large):
    size, height   scale x1.1 / x1.3 / x1.7 (smaller: the inverse)
    darker         base colour x0.8 / x0.6 / x0.35
    shinier        roughness x0.7 / x0.45 / x0.2
    more matte     roughness + (1 - r) x 0.3 / 0.55 / 0.8
    more metallic  metallic + (1 - m) x 0.3 / 0.6 / 0.9
    transparent    alpha x0.8 / x0.55 / x0.3
    light energy   x1.3 / x1.7 / x2.5 (dimmer: the inverse)
    raise          +0.05 / +0.15 / +0.4 m on Z
    turn           +10 / +30 / +90 degrees about Z (counter-clockwise seen from above)
A flipped edit goes the other way (bigger -> smaller, darker -> lighter, ...).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from training.synth.families.common import clip01
from training.synth.reasoning import fmt, fmt_color
from training.synth.scenes import SynthScene, main_slot

SCALE = {"small": 1.1, "medium": 1.3, "large": 1.7}
DARKEN = {"small": 0.8, "medium": 0.6, "large": 0.35}
GLOSS = {"small": 0.7, "medium": 0.45, "large": 0.2}
TOWARD = {"small": 0.3, "medium": 0.55, "large": 0.8}
METAL = {"small": 0.3, "medium": 0.6, "large": 0.9}
ALPHA = {"small": 0.8, "medium": 0.55, "large": 0.3}
ENERGY = {"small": 1.3, "medium": 1.7, "large": 2.5}
LIFT = {"small": 0.05, "medium": 0.15, "large": 0.4}
TURN = {"small": 10.0, "medium": 30.0, "large": 90.0}

Edit = Callable[[SynthScene, str, str, int], tuple[list[dict], str]]


@dataclass(frozen=True)
class Attribute:
    key: str
    target: str  # "object" (a marked mesh) or "light"
    verbs: tuple[str, ...]
    state: str
    complaint: tuple[str, ...]
    meaning: str  # how the reasoning reads the comparative
    edit: Edit  # (scene, target, level, sign) -> (ops, the edit in words)
    ok: Callable[[SynthScene, str], bool] = lambda scene, name: True


def _r(x: float) -> float:
    return round(float(x), 4) + 0.0


def _scale(axes: str, direction: int) -> Edit:
    def edit(scene: SynthScene, name: str, level: str, sign: int) -> tuple[list[dict], str]:
        f = _r(SCALE[level] ** (direction * sign))
        factor = [f, f, f] if axes == "xyz" else [1.0, 1.0, f]
        where = "on every axis" if axes == "xyz" else "on Z only"
        return [{"op": "scale", "targets": [name], "factor": factor}], f"scale {name} by {fmt(f)} {where} (relative)."

    return edit


def _darker(scene: SynthScene, name: str, level: str, sign: int) -> tuple[list[dict], str]:
    mat, slot = scene.main_material(name), main_slot(scene.get(name))
    k = DARKEN[level]
    color = [clip01(c * k) for c in mat.base_color[:3]] if sign > 0 else [clip01(c + (1 - c) * (1 - k)) for c in mat.base_color[:3]]  # fmt: skip
    op = {"op": "set_base_color", "targets": [name], "color": color, "slot": slot}
    verb = (
        f"multiply its base color by {fmt(k)}" if sign > 0 else f"move its base color {fmt(1 - k)} of the way to white"
    )
    return [op], f"{verb}: {fmt_color(mat.base_color)} -> {fmt_color(color)} on {name} (slot {slot})."


def _roughness(direction: int) -> Edit:
    def edit(scene: SynthScene, name: str, level: str, sign: int) -> tuple[list[dict], str]:
        mat, slot = scene.main_material(name), main_slot(scene.get(name))
        r = mat.roughness
        value = clip01(r * GLOSS[level]) if direction * sign < 0 else clip01(r + (1 - r) * TOWARD[level])
        op = {"op": "set_roughness", "targets": [name], "value": value, "slot": slot}
        return [op], f"roughness of {name} {fmt(r)} -> {fmt(value)} (slot {slot})."

    return edit


def _metallic(scene: SynthScene, name: str, level: str, sign: int) -> tuple[list[dict], str]:
    mat, slot = scene.main_material(name), main_slot(scene.get(name))
    m = mat.metallic
    value = clip01(m + (1 - m) * METAL[level]) if sign > 0 else clip01(m * (1 - METAL[level]))
    return [
        {"op": "set_metallic", "targets": [name], "value": value, "slot": slot}
    ], f"metallic of {name} {fmt(m)} -> {fmt(value)}."


def _alpha(scene: SynthScene, name: str, level: str, sign: int) -> tuple[list[dict], str]:
    mat, slot = scene.main_material(name), main_slot(scene.get(name))
    value = clip01(mat.alpha * ALPHA[level]) if sign > 0 else 1.0
    return [
        {"op": "set_alpha", "targets": [name], "value": value, "slot": slot}
    ], f"alpha of {name} {fmt(mat.alpha)} -> {fmt(value)}."


def _energy(direction: int) -> Edit:
    def edit(scene: SynthScene, name: str, level: str, sign: int) -> tuple[list[dict], str]:
        f = _r(ENERGY[level] ** (direction * sign))
        energy = scene.light(name).energy
        op = {"op": "set_light_energy", "targets": [name], "value": f, "mode": "multiply"}
        return [op], f"multiply the energy of {name} by {fmt(f)} ({fmt(energy)} W -> {fmt(energy * f)} W)."

    return edit


def _raise(scene: SynthScene, name: str, level: str, sign: int) -> tuple[list[dict], str]:
    dz = _r(LIFT[level] * sign)
    return [
        {"op": "translate", "targets": [name], "vector": [0.0, 0.0, dz]}
    ], f"move {name} by {fmt(dz)} m on Z (world, relative)."


def _turn(scene: SynthScene, name: str, level: str, sign: int) -> tuple[list[dict], str]:
    deg = _r(TURN[level] * sign)
    return [
        {"op": "rotate", "targets": [name], "degrees": [0.0, 0.0, deg]}
    ], f"rotate {name} by {fmt(deg)} degrees about Z (relative)."


def _has_room(attr: str) -> Callable[[SynthScene, str], bool]:
    def ok(scene: SynthScene, name: str) -> bool:
        mat = scene.main_material(name)
        return {
            "shinier": mat.roughness >= 0.3,
            "matte": mat.roughness <= 0.7,
            "metallic": mat.metallic <= 0.3,
            "darker": max(mat.base_color[:3]) >= 0.1,
        }[attr]

    return ok


ATTRIBUTES: dict[str, Attribute] = {
    a.key: a
    for a in (
        Attribute("size_up", "object", ("make {s} {deg} bigger", "scale {s} up {adv}", "make {s} {deg} larger", "scale up {s} {adv}"),
                  "{deg} bigger", ("{s} looks {deg} too small", "{s} is {deg} too small", "{s} feels {deg} too tiny"),
                  "'bigger' = a uniform scale-up (not only taller, not moved closer)", _scale("xyz", 1)),
        Attribute("size_down", "object", ("make {s} {deg} smaller", "scale {s} down {adv}", "shrink {s} {adv}"),
                  "{deg} smaller", ("{s} looks {deg} too big", "{s} is {deg} too large", "{s} feels {deg} too bulky"),
                  "'smaller' = a uniform scale-down", _scale("xyz", -1)),
        Attribute("taller", "object", ("make {s} {deg} taller", "stretch {s} up {adv}", "make {s} {deg} higher"),
                  "{deg} taller", ("{s} is {deg} too short", "{s} looks {deg} too squat"),
                  "'taller' = a scale on Z only, footprint unchanged", _scale("z", 1)),
        Attribute("darker", "object", ("make {s} {deg} darker", "darken {s} {adv}", "make the color of {s} {deg} darker"),
                  "{deg} darker", ("{s} looks {deg} too bright", "{s} is {deg} too pale"),
                  "'darker' = a darker base color of the same hue", _darker, _has_room("darker")),
        Attribute("shinier", "object", ("make {s} {deg} shinier", "make {s} {deg} glossier", "polish {s} up {adv}"),
                  "{deg} shinier", ("{s} looks {deg} too matte", "{s} looks {deg} too dull"),
                  "'shinier' = lower roughness", _roughness(-1), _has_room("shinier")),
        Attribute("matte", "object", ("make {s} {deg} more matte", "make {s} {deg} less shiny", "tone the shine on {s} down {adv}"),
                  "{deg} more matte", ("{s} is {deg} too shiny", "{s} looks {deg} too glossy"),
                  "'more matte' = higher roughness", _roughness(1), _has_room("matte")),
        Attribute("metallic", "object", ("make {s} {deg} more metallic", "make {s} look {deg} more like metal"),
                  "{deg} more metallic", ("{s} doesn't look metallic enough",),
                  "'more metallic' = a higher metallic value", _metallic, _has_room("metallic")),
        Attribute("transparent", "object", ("make {s} {deg} more transparent", "make {s} {deg} more see-through", "fade {s} out {adv}"),
                  "{deg} more transparent", ("{s} is {deg} too opaque", "{s} looks {deg} too solid"),
                  "'more transparent' = a lower alpha", _alpha),
        Attribute("brighter_light", "light", ("make {s} {deg} brighter", "turn {s} up {adv}", "brighten {s} {adv}"),
                  "{deg} brighter", ("{s} is {deg} too dim", "{s} feels {deg} too weak"),
                  "'brighter' on a light = more energy", _energy(1)),
        Attribute("dimmer_light", "light", ("make {s} {deg} dimmer", "turn {s} down {adv}", "dim {s} {adv}"),
                  "{deg} dimmer", ("{s} is {deg} too bright", "{s} is {deg} too strong"),
                  "'dimmer' on a light = less energy", _energy(-1)),
        Attribute("raise", "object", ("move {s} up {adv}", "raise {s} {adv}", "lift {s} {adv}"),
                  "{deg} higher up", ("{s} sits {deg} too low",),
                  "'raise' = move up on world Z", _raise),
        Attribute("turn", "object", ("turn {s} {adv}", "rotate {s} {adv}", "spin {s} around {adv}"),
                  "turned {deg} more", (),
                  "'turn' = rotate about the vertical axis; no direction given, so counter-clockwise seen from above", _turn),
    )
}  # fmt: skip

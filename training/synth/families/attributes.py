"""Attribute edits with a degree ("a bit bigger", "much darker", "move it left a touch"): the
words, the op, and the magnitude each degree class maps to. Shared by vague_degree and
view_reference.

Magnitudes per degree class (small / medium / large):
    size, height     scale x1.1 / x1.3 / x1.7 (smaller: the inverse)
    darker           base colour x0.8 / x0.6 / x0.35;  paler: 0.25 / 0.45 / 0.65 of the way to white
    shinier          roughness x0.7 / x0.45 / x0.2;    more matte: + (1 - r) x 0.3 / 0.55 / 0.8
    more metallic    metallic + (1 - m) x 0.3 / 0.6 / 0.9
    transparent      alpha x0.8 / x0.55 / x0.3
    glow             emission strength x1.5 / x2.5 / x4 (less: the inverse)
    light energy     x1.3 / x1.7 / x2.5 (dimmer: the inverse)
    raise            +0.05 / +0.15 / +0.4 m on Z
    move (left, right, closer, back: as seen from the scene's camera, on the floor plane)
                     0.1 / 0.3 / 0.6 m
    turn             +10 / +30 / +90 degrees about Z (counter-clockwise seen from above)
Material values go through `common.material_edit` (a shared material is not edited in place).
A flipped edit goes the other way (bigger -> smaller, darker -> lighter, ...).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from training.synth.families.common import Context, clip01, material_edit, r4
from training.synth.reasoning import fmt, fmt_vec
from training.synth.scenes import NO_MATERIAL, SynthScene, main_slot

SCALE = {"small": 1.1, "medium": 1.3, "large": 1.7}
DARKEN = {"small": 0.8, "medium": 0.6, "large": 0.35}
PALE = {"small": 0.25, "medium": 0.45, "large": 0.65}
GLOSS = {"small": 0.7, "medium": 0.45, "large": 0.2}
TOWARD = {"small": 0.3, "medium": 0.55, "large": 0.8}
METAL = {"small": 0.3, "medium": 0.6, "large": 0.9}
ALPHA = {"small": 0.8, "medium": 0.55, "large": 0.3}
GLOW = {"small": 1.5, "medium": 2.5, "large": 4.0}
ENERGY = {"small": 1.3, "medium": 1.7, "large": 2.5}
LIFT = {"small": 0.05, "medium": 0.15, "large": 0.4}
SHIFT = {"small": 0.1, "medium": 0.3, "large": 0.6}
TURN = {"small": 10.0, "medium": 30.0, "large": 90.0}

Edit = Callable[[Context, str, str, int], tuple[list[dict], str]]  # (ctx, target, level, sign) -> ops, words


@dataclass(frozen=True)
class Attribute:
    key: str
    target: str  # "object" (a visible mesh) or "light"
    op: str  # the primary op (held-out compositions are (op, how) pairs)
    verbs: tuple[str, ...]
    state: str
    complaint: tuple[str, ...]
    meaning: str  # how the reasoning reads the comparative
    edit: Edit
    ok: Callable[[SynthScene, str], bool] = lambda scene, name: True


def _scale(axes: str, direction: int) -> Edit:
    def edit(ctx: Context, name: str, level: str, sign: int) -> tuple[list[dict], str]:
        f = r4(SCALE[level] ** (direction * sign))
        factor = [f, f, f] if axes == "xyz" else [1.0, 1.0, f]
        where = "uniform" if axes == "xyz" else "Z only"
        return [{"op": "scale", "targets": [name], "factor": factor}], f"scale {name} x{fmt(f)} ({where})."

    return edit


def _color(direction: int) -> Edit:
    """darker (direction 1) or paler (-1): the same hue, toward black or white."""

    def edit(ctx: Context, name: str, level: str, sign: int) -> tuple[list[dict], str]:
        base = ctx.scene.main_material(name).base_color[:3]
        if direction * sign > 0:
            color = [clip01(c * DARKEN[level]) for c in base]
        else:
            color = [clip01(c + (1 - c) * PALE[level]) for c in base]
        ops, words = material_edit(ctx.scene, [name], {"color": color})
        return ops, f"{name}: {words}"

    return edit


def _roughness(direction: int) -> Edit:
    def edit(ctx: Context, name: str, level: str, sign: int) -> tuple[list[dict], str]:
        r = ctx.scene.main_material(name).roughness
        value = clip01(r * GLOSS[level]) if direction * sign < 0 else clip01(r + (1 - r) * TOWARD[level])
        ops, words = material_edit(ctx.scene, [name], {"roughness": value})
        return ops, f"{name}: {words}"

    return edit


def _metallic(ctx: Context, name: str, level: str, sign: int) -> tuple[list[dict], str]:
    m = ctx.scene.main_material(name).metallic
    value = clip01(m + (1 - m) * METAL[level]) if sign > 0 else clip01(m * (1 - METAL[level]))
    ops, words = material_edit(ctx.scene, [name], {"metallic": value})
    return ops, f"{name}: {words}"


def _alpha(ctx: Context, name: str, level: str, sign: int) -> tuple[list[dict], str]:
    a = ctx.scene.main_material(name).alpha
    value = clip01(a * ALPHA[level]) if sign > 0 else 1.0
    ops, words = material_edit(ctx.scene, [name], {"alpha": value})
    return ops, f"{name}: {words}"


def _glow(direction: int) -> Edit:
    def edit(ctx: Context, name: str, level: str, sign: int) -> tuple[list[dict], str]:
        obj = ctx.scene.get(name)
        mat = ctx.scene.main_material(name)
        f = GLOW[level] ** (direction * sign)
        strength = r4(mat.emission_strength * f)
        op = {"op": "set_emission", "targets": [name], "color": list(mat.emission_color), "strength": strength,
              "slot": main_slot(obj)}  # fmt: skip
        return [op], f"emission of {mat.name} {fmt(mat.emission_strength)} -> {fmt(strength)} (x{fmt(f)})."

    return edit


def _energy(direction: int) -> Edit:
    def edit(ctx: Context, name: str, level: str, sign: int) -> tuple[list[dict], str]:
        f = r4(ENERGY[level] ** (direction * sign))
        energy = ctx.scene.light(name).energy
        op = {"op": "set_light_energy", "targets": [name], "value": f, "mode": "multiply"}
        return [op], f"energy of {name} x{fmt(f)} ({fmt(energy)} -> {fmt(energy * f)})."

    return edit


def _raise(ctx: Context, name: str, level: str, sign: int) -> tuple[list[dict], str]:
    dz = r4(LIFT[level] * sign)
    return [{"op": "translate", "targets": [name], "vector": [0.0, 0.0, dz]}], f"move {name} {fmt(dz)} m on Z."


def camera_axes(scene: SynthScene) -> dict[str, np.ndarray]:
    """Unit directions on the floor plane as the scene's camera sees them."""
    pose = scene.camera_poses[scene.main_camera]
    right = np.array([pose[0, 0], pose[1, 0], 0.0])
    back = np.array([pose[0, 2], pose[1, 2], 0.0])  # the camera looks down -Z: +Z points back at it
    right /= np.linalg.norm(right) or 1.0
    back /= np.linalg.norm(back) or 1.0
    return {"right": right, "left": -right, "closer": back, "back": -back}


def _move(direction: str) -> Edit:
    opposite = {"left": "right", "right": "left", "closer": "back", "back": "closer"}

    def edit(ctx: Context, name: str, level: str, sign: int) -> tuple[list[dict], str]:
        way = direction if sign > 0 else opposite[direction]
        vector = [r4(v) for v in camera_axes(ctx.scene)[way] * SHIFT[level]]
        op = {"op": "translate", "targets": [name], "vector": vector}
        return [op], f"'{way}' seen from {ctx.scene.main_camera}: move {name} by {fmt_vec(vector)} m."

    return edit


def _turn(ctx: Context, name: str, level: str, sign: int) -> tuple[list[dict], str]:
    deg = r4(TURN[level] * sign)
    return [{"op": "rotate", "targets": [name], "degrees": [0.0, 0.0, deg]}], f"rotate {name} {fmt(deg)} deg about Z."


def _room(attr: str) -> Callable[[SynthScene, str], bool]:
    def ok(scene: SynthScene, name: str) -> bool:
        obj = scene.get(name)
        mat = scene.main_material(name)
        has = obj.materials[main_slot(obj)] != NO_MATERIAL
        return {
            "shinier": mat.roughness >= 0.3,
            "matte": mat.roughness <= 0.7,
            "metallic": mat.metallic <= 0.3,
            "darker": max(mat.base_color[:3]) >= 0.1,
            "paler": min(mat.base_color[:3]) <= 0.6,
            "transparent": mat.alpha >= 0.6,
            "glow": has and mat.emission_strength > 0 and len(scene.users(obj.materials[main_slot(obj)])) == 1,
        }[attr]

    return ok


def _free(scene: SynthScene, name: str) -> bool:
    """A root on its own (no parent, not animated): moving it moves nothing else's keys."""
    obj = scene.get(name)
    return obj.parent is None and obj.name not in scene.motions and obj.kind != "rug"


ATTRIBUTES: dict[str, Attribute] = {
    a.key: a
    for a in (
        Attribute("size_up", "object", "scale",
                  ("make {s} {deg} bigger", "scale {s} up {adv}", "make {s} {deg} larger", "scale up {s} {adv}",
                   "enlarge {s} {adv}", "increase the size of {s} {adv}"),
                  "{deg} bigger", ("{s} looks {deg} too small", "{s} is {deg} too small", "{s} feels {deg} too tiny"),
                  "'bigger' = uniform scale-up", _scale("xyz", 1)),
        Attribute("size_down", "object", "scale",
                  ("make {s} {deg} smaller", "scale {s} down {adv}", "shrink {s} {adv}", "downsize {s} {adv}"),
                  "{deg} smaller", ("{s} looks {deg} too big", "{s} is {deg} too large", "{s} feels {deg} too bulky"),
                  "'smaller' = uniform scale-down", _scale("xyz", -1)),
        Attribute("taller", "object", "scale", ("make {s} {deg} taller", "stretch {s} up {adv}"),
                  "{deg} taller", ("{s} is {deg} too short", "{s} looks {deg} too squat"),
                  "'taller' = scale on Z only", _scale("z", 1)),
        Attribute("darker", "object", "set_base_color",
                  ("make {s} {deg} darker", "darken {s} {adv}", "make the color of {s} {deg} darker"),
                  "{deg} darker", ("{s} looks {deg} too bright", "{s} is {deg} too pale"),
                  "'darker' = same hue, darker base color", _color(1), _room("darker")),
        Attribute("paler", "object", "set_base_color",
                  ("make the color of {s} {deg} paler", "wash out the color of {s} {adv}", "make {s} {deg} paler"),
                  "{deg} paler", ("{s} is {deg} too dark", "{s} looks {deg} too saturated"),
                  "'paler' = base color toward white", _color(-1), _room("paler")),
        Attribute("shinier", "object", "set_roughness",
                  ("make {s} {deg} shinier", "make {s} {deg} glossier", "polish {s} up {adv}"),
                  "{deg} shinier", ("{s} looks {deg} too matte", "{s} looks {deg} too dull"),
                  "'shinier' = lower roughness", _roughness(-1), _room("shinier")),
        Attribute("matte", "object", "set_roughness",
                  ("make {s} {deg} more matte", "make {s} {deg} less shiny", "tone the shine on {s} down {adv}"),
                  "{deg} more matte", ("{s} is {deg} too shiny", "{s} looks {deg} too glossy"),
                  "'more matte' = higher roughness", _roughness(1), _room("matte")),
        Attribute("metallic", "object", "set_metallic",
                  ("make {s} {deg} more metallic", "make {s} look {deg} more like metal"),
                  "{deg} more metallic", ("{s} doesn't look metallic enough",),
                  "'more metallic' = higher metallic", _metallic, _room("metallic")),
        Attribute("transparent", "object", "set_alpha",
                  ("make {s} {deg} more transparent", "make {s} {deg} more see-through", "fade {s} out {adv}"),
                  "{deg} more transparent", ("{s} is {deg} too opaque", "{s} looks {deg} too solid"),
                  "'more transparent' = lower alpha", _alpha, _room("transparent")),
        Attribute("glow_more", "object", "set_emission",
                  ("make {s} glow {deg} more", "make {s} glow {deg} brighter", "crank up the glow on {s} {adv}"),
                  "glowing {deg} more", ("the glow on {s} is {deg} too weak",),
                  "'glow more' = stronger emission", _glow(1), _room("glow")),
        Attribute("glow_less", "object", "set_emission",
                  ("make {s} glow {deg} less", "tone down the glow on {s} {adv}", "dial the glow of {s} down {adv}"),
                  "glowing {deg} less", ("{s} glows {deg} too much", "the glow on {s} is {deg} too strong"),
                  "'glow less' = weaker emission", _glow(-1), _room("glow")),
        Attribute("brighter_light", "light", "set_light_energy",
                  ("make {s} {deg} brighter", "turn {s} up {adv}", "brighten {s} {adv}", "crank {s} up {adv}"),
                  "{deg} brighter", ("{s} is {deg} too dim", "{s} feels {deg} too weak"),
                  "'brighter' on a light = more energy", _energy(1)),
        Attribute("dimmer_light", "light", "set_light_energy",
                  ("make {s} {deg} dimmer", "turn {s} down {adv}", "dim {s} {adv}", "dial {s} down {adv}"),
                  "{deg} dimmer", ("{s} is {deg} too bright", "{s} is {deg} too strong"),
                  "'dimmer' on a light = less energy", _energy(-1)),
        Attribute("raise", "object", "translate", ("move {s} up {adv}", "raise {s} {adv}", "lift {s} {adv}"),
                  "{deg} higher up", ("{s} sits {deg} too low",), "'raise' = move up on world Z", _raise, _free),
        Attribute("move_left", "object", "translate",
                  ("move {s} to the left {adv}", "shift {s} left {adv}", "nudge {s} to the left {adv}"),
                  "{deg} more to the left", ("{s} is {deg} too far right",),
                  "'left' = the camera's left, on the floor", _move("left"), _free),
        Attribute("move_right", "object", "translate",
                  ("move {s} to the right {adv}", "shift {s} right {adv}", "nudge {s} to the right {adv}"),
                  "{deg} more to the right", ("{s} is {deg} too far left",),
                  "'right' = the camera's right, on the floor", _move("right"), _free),
        Attribute("move_closer", "object", "translate",
                  ("bring {s} {deg} closer to the camera", "move {s} forward {adv}", "pull {s} toward the camera {adv}"),
                  "{deg} closer to the camera", ("{s} is {deg} too far back",),
                  "'closer' = toward the camera, on the floor", _move("closer"), _free),
        Attribute("turn", "object", "rotate", ("turn {s} {adv}", "rotate {s} {adv}", "swivel {s} {adv}"),
                  "turned {deg} more", (),
                  "'turn' = rotate about Z; no direction given: counter-clockwise", _turn, _free),
    )
}  # fmt: skip

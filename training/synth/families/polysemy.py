"""polysemy: a word with several readings ("make it lighter": a paler colour, less visual weight,
or more light). The scene decides which reading comes first, by fixed rules the reasoning
states, and the plan offers the two most likely readings as two suggestions (0.65 and 0.35):

    lighter  lamp: more light, then paler colour; dark object (luminance < 0.15): paler colour,
             then less visual weight (smaller); other objects: less weight, then paler colour
    warmer   lamp: warmer light colour, then warmer shade colour; object: warmer base colour,
             then warmer light (its lamp's, or the first light)
    cooler   lamp: cooler light colour, then cooler shade; object: cooler base colour, then a
             sleeker finish (more metallic, less rough)
    softer   lamp: softer light (area light, less energy), then rougher shade; object with
             roughness < 0.5: rougher, then rounded edges (bevel) or smooth shading; boxy
             object: bevel, then rougher; round object: rougher, then smooth shading
"""

from __future__ import annotations

from collections.abc import Callable

from training.synth.families.common import LEVELS, Context, Task, clip01, lerp, make_plan, other_objects, phrase, refer
from training.synth.language import DEGREE_MEANING, Ask
from training.synth.reasoning import Decision, fmt, fmt_color, resolve_line
from training.synth.scenes import SynthScene, main_slot

FAMILY = "polysemy"
PALE = {"small": 0.25, "medium": 0.45, "large": 0.65}
SLIM = {"small": 0.92, "medium": 0.85, "large": 0.75}
ENERGY = {"small": 1.3, "medium": 1.7, "large": 2.5}
SHIFT_LIGHT = {"small": 0.3, "medium": 0.55, "large": 0.85}
SHIFT_COLOR = {"small": 0.2, "medium": 0.35, "large": 0.55}
TOWARD = {"small": 0.3, "medium": 0.55, "large": 0.8}
GLOSS = {"small": 0.7, "medium": 0.45, "large": 0.2}
BEVEL = {"small": 0.01, "medium": 0.03, "large": 0.06}
SOFT_ENERGY = {"small": 0.9, "medium": 0.8, "large": 0.65}
WARM_LIGHT, WARM_COLOR = (1.0, 0.7, 0.4), (0.9, 0.35, 0.08)
COOL_LIGHT, COOL_COLOR = (0.7, 0.85, 1.0), (0.1, 0.3, 0.8)
BOXY = ("box", "table", "chair", "stool", "cylinder")

Op = Callable[[SynthScene, str, str], tuple[list[dict], str]]  # (scene, object, level) -> ops, words


def _light_of(scene: SynthScene, obj: str) -> str:
    return scene.lamp_lights.get(obj) or next(iter(scene.lamp_lights.values()), scene.graph.lights[0].name)


def _color_toward(goal: tuple, amount: dict) -> Op:
    def op(scene: SynthScene, obj: str, level: str) -> tuple[list[dict], str]:
        mat = scene.main_material(obj)
        color = lerp(mat.base_color, goal, amount[level])
        slot = main_slot(scene.get(obj))
        return ([{"op": "set_base_color", "targets": [obj], "color": color, "slot": slot}],
                f"base color of {obj} {fmt_color(mat.base_color)} -> {fmt_color(color)} ({fmt(amount[level])} of the way to {fmt_color(goal)})")  # fmt: skip

    return op


def _light_toward(goal: tuple) -> Op:
    def op(scene: SynthScene, obj: str, level: str) -> tuple[list[dict], str]:
        light = scene.light(_light_of(scene, obj))
        color = lerp(light.color, goal, SHIFT_LIGHT[level])
        return ([{"op": "set_light_color", "targets": [light.name], "color": color}],
                f"color of the light {light.name} {fmt_color(light.color)} -> {fmt_color(color)}")  # fmt: skip

    return op


def _more_light(scene: SynthScene, obj: str, level: str) -> tuple[list[dict], str]:
    light = _light_of(scene, obj)
    f = ENERGY[level]
    return [
        {"op": "set_light_energy", "targets": [light], "value": f, "mode": "multiply"}
    ], f"energy of {light} x{fmt(f)}"


def _slimmer(scene: SynthScene, obj: str, level: str) -> tuple[list[dict], str]:
    f = SLIM[level]
    return [{"op": "scale", "targets": [obj], "factor": [f, f, f]}], f"scale {obj} by {fmt(f)} (less mass to the eye)"


def _rougher(scene: SynthScene, obj: str, level: str) -> tuple[list[dict], str]:
    mat = scene.main_material(obj)
    v = clip01(mat.roughness + (1 - mat.roughness) * TOWARD[level])
    slot = main_slot(scene.get(obj))
    return [
        {"op": "set_roughness", "targets": [obj], "value": v, "slot": slot}
    ], f"roughness of {obj} {fmt(mat.roughness)} -> {fmt(v)}"


def _sleek(scene: SynthScene, obj: str, level: str) -> tuple[list[dict], str]:
    mat = scene.main_material(obj)
    slot = main_slot(scene.get(obj))
    m = clip01(mat.metallic + (1 - mat.metallic) * TOWARD[level])
    r = clip01(mat.roughness * GLOSS[level])
    ops = [{"op": "set_metallic", "targets": [obj], "value": m, "slot": slot},
           {"op": "set_roughness", "targets": [obj], "value": r, "slot": slot}]  # fmt: skip
    return ops, f"metallic of {obj} -> {fmt(m)} and roughness -> {fmt(r)} (a sleek, cool finish)"


def _bevel(scene: SynthScene, obj: str, level: str) -> tuple[list[dict], str]:
    w = BEVEL[level]
    op = {"op": "add_modifier", "targets": [obj], "modifier": {"type": "BEVEL", "width": w, "segments": 3}}
    return [op], f"add a bevel of {fmt(w)} m, 3 segments, to {obj} (rounded edges)"


def _smooth(scene: SynthScene, obj: str, level: str) -> tuple[list[dict], str]:
    return [{"op": "set_shading", "targets": [obj], "smooth": True}], f"smooth shading on {obj}"


def _soft_light(scene: SynthScene, obj: str, level: str) -> tuple[list[dict], str]:
    light = scene.light(_light_of(scene, obj))
    ops: list[dict] = []
    words = []
    if light.type != "AREA":
        ops.append({"op": "set_light_type", "targets": [light.name], "type": "AREA"})
        words.append(f"{light.name} {light.type} -> AREA (a larger source, softer shadows)")
    f = SOFT_ENERGY[level]
    ops.append({"op": "set_light_energy", "targets": [light.name], "value": f, "mode": "multiply"})
    words.append(f"its energy x{fmt(f)}")
    return ops, ", ".join(words)


READINGS: dict[str, dict[str, tuple[str, Op]]] = {  # word -> reading -> (what it means, edit)
    "lighter": {
        "more_light": ("more light: more energy from its light", _more_light),
        "paler": ("brightness of its color: a paler base color", _color_toward((1.0, 1.0, 1.0), PALE)),
        "less_weight": ("visual weight: a smaller, less heavy-looking object", _slimmer),
    },
    "warmer": {
        "warm_light": ("color temperature of the light: a warmer, more orange light", _light_toward(WARM_LIGHT)),
        "warm_color": ("a warmer hue of its own color", _color_toward(WARM_COLOR, SHIFT_COLOR)),
    },
    "cooler": {
        "cool_light": ("color temperature of the light: a cooler, bluer light", _light_toward(COOL_LIGHT)),
        "cool_color": ("a cooler, bluer hue of its own color", _color_toward(COOL_COLOR, SHIFT_COLOR)),
        "sleek": ("'cool' as in stylish: a sleeker, more metallic finish", _sleek),
    },
    "softer": {
        "soft_light": ("softer light: a larger source and less energy", _soft_light),
        "rougher": ("a softer-looking surface: higher roughness", _rougher),
        "bevel": ("softer shape: rounded edges (bevel)", _bevel),
        "smooth": ("softer shape: smooth shading", _smooth),
    },
}
VERBS = {
    "lighter": ("make {s} {deg} lighter", "lighten {s} {adv}"),
    "warmer": ("make {s} {deg} warmer", "warm {s} up {adv}"),
    "cooler": ("make {s} {deg} cooler", "cool {s} down {adv}"),
    "softer": ("make {s} {deg} softer", "soften {s} {adv}"),
}


def readings_for(scene: SynthScene, word: str, obj: str) -> tuple[list[str], str]:
    """The two readings in order of likelihood for this object, and why (module docstring)."""
    o, mat = scene.get(obj), scene.main_material(obj)
    lum = 0.2126 * mat.base_color[0] + 0.7152 * mat.base_color[1] + 0.0722 * mat.base_color[2]
    if o.kind == "lamp" and obj in scene.lamp_lights:
        why = f"{obj} is a lamp, whose job is light"
        return {"lighter": ["more_light", "paler"], "warmer": ["warm_light", "warm_color"],
                "cooler": ["cool_light", "cool_color"], "softer": ["soft_light", "rougher"]}[word], why  # fmt: skip
    if word == "lighter":
        if lum < 0.15:
            return ["paler", "less_weight"], f"{obj} has a dark color (luminance {fmt(lum)})"
        return ["less_weight", "paler"], f"{obj} is already light in color (luminance {fmt(lum)})"
    if word == "warmer":
        return ["warm_color", "warm_light"], f"{obj} is an object, not a light"
    if word == "cooler":
        return ["cool_color", "sleek"], f"{obj} is an object, not a light"
    if mat.roughness < 0.5:
        second = "bevel" if o.kind in BOXY else "smooth"
        return ["rougher", second], f"{obj} has a glossy surface (roughness {fmt(mat.roughness)})"
    if o.kind in BOXY:
        return ["bevel", "rougher"], f"{obj} is boxy with hard edges and already rough (roughness {fmt(mat.roughness)})"
    return ["rougher", "smooth"], f"{obj} is round already; its surface is what can soften"


def propose(ctx: Context) -> Task | None:
    word = ctx.choice(list(READINGS))
    names = ctx.visible_names()
    if len(names) < 2:
        return None
    name = ctx.choice(names)
    ref = refer(ctx, name)
    level = ctx.choice(LEVELS)
    ask = Ask(ref.phrase, list(VERBS[word]), f"{{deg}} {word}", [], level, ref.protect)
    text, frame, used = phrase(ctx, ask)
    if not used:
        level = "medium"
    scene = ctx.scene

    def decide(targets: tuple[str, ...], lv: str, flip: bool) -> Decision:
        t = targets[0]
        order, why = readings_for(scene, word, t)
        if flip:
            order = order[::-1]
        sugg = []
        edits = []
        for rank, key in enumerate(order):
            meaning, edit = READINGS[word][key]
            ops, words = edit(scene, t, lv)
            sugg.append(
                (
                    f"{word.title()} as {key.replace('_', ' ')}: {t}",
                    f"Reading '{word}' as {meaning}.",
                    0.65 if rank == 0 else 0.35,
                    ops,
                )
            )
            edits.append(f"{'First' if rank == 0 else 'Alternative'} ({key.replace('_', ' ')}): {words}.")
        all_readings = "; ".join(f"({i + 1}) {m}" for i, (m, _) in enumerate(READINGS[word].values()))
        degree = f"'{used}' = {DEGREE_MEANING[lv]}." if used else f"No degree words: {DEGREE_MEANING[lv]}."
        chosen = READINGS[word][order[0]][0]
        readings = [
            f"'{word}' can mean {all_readings}.",
            f"Here {why}, so the first reading is {chosen}; the second stays as an alternative.",
            degree,
        ]
        plan = make_plan(
            f"'{word}' for {t}: first {order[0].replace('_', ' ')}, else {order[1].replace('_', ' ')}.", sugg
        )
        check = f"the first suggestion reads '{word}' as {chosen}, which fits {t}; the alternative covers the other likely reading; both are {DEGREE_MEANING[lv]}."
        return Decision(f"make {ref.phrase} {(used + ' ') if used else ''}{word}.", readings,
                        [resolve_line(scene, ctx.shots, ref.phrase, ref.how, t)], edits, check, plan)  # fmt: skip

    return Task(FAMILY, word, "3d", ask, text, frame, decide, (name,), level, LEVELS, other_objects(ctx, name))

"""polysemy: a word with several readings ("make it lighter": a paler colour, less visual weight,
or more light). The scene decides which reading comes first, by fixed rules the reasoning
states, and the plan offers the two most likely readings as two suggestions (0.65 and 0.35):

    lighter  lamp: more light, then paler colour; dark object (luminance < 0.15): paler colour,
             then less visual weight (smaller); other objects: less weight, then paler colour
    warmer   lamp: warmer light colour, then warmer shade colour; object: warmer base colour,
             then warmer light (its lamp's, or the key light)
    cooler   lamp: cooler light colour, then cooler shade; object: cooler base colour, then a
             sleeker finish (more metallic, less rough)
    softer   lamp: softer light (area light, less energy), then rougher shade; object with
             roughness < 0.5: rougher, then rounded edges (bevel) or smooth shading; boxy
             object: bevel, then rougher; round object: rougher, then smooth shading
    brighter glowing object: stronger glow, then its lamp's light (or a paler colour)
Material readings go through `material_edit` (a shared material is not edited in place).
"""

from __future__ import annotations

from collections.abc import Callable

from training.synth.families.common import (
    LEVELS,
    Context,
    Task,
    clip01,
    degree_words,
    first_task,
    lerp,
    make_plan,
    material_edit,
    other_objects,
    phrase,
    r4,
)
from training.synth.language import Ask
from training.synth.reasoning import Decision, fmt, fmt_color
from training.synth.referring import refer, resolve
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
GLOW = {"small": 1.5, "medium": 2.5, "large": 4.0}
WARM_LIGHT, WARM_COLOR = (1.0, 0.7, 0.4), (0.9, 0.35, 0.08)
COOL_LIGHT, COOL_COLOR = (0.7, 0.85, 1.0), (0.1, 0.3, 0.8)
BOXY = (
    "box",
    "table",
    "coffee_table",
    "desk",
    "chair",
    "stool",
    "cylinder",
    "shelf",
    "pedestal",
    "bench",
    "tv",
    "book",
)

Op = Callable[[SynthScene, str, str], tuple[list[dict], str]]  # (scene, object, level) -> ops, words


def _light_of(scene: SynthScene, obj: str) -> str:
    """The light a lamp holds; else the key light (or the strongest)."""
    own = scene.lamp_lights.get(scene.root(obj).name)
    if own:
        return own
    key = next((n for n, r in scene.light_roles.items() if r in ("key", "sun")), None)
    return key or max(scene.graph.lights, key=lambda lt: lt.energy).name


def _color_toward(goal: tuple, amount: dict) -> Op:
    def op(scene: SynthScene, obj: str, level: str) -> tuple[list[dict], str]:
        color = lerp(scene.main_material(obj).base_color, goal, amount[level])
        return material_edit(scene, [obj], {"color": color})

    return op


def _light_toward(goal: tuple) -> Op:
    def op(scene: SynthScene, obj: str, level: str) -> tuple[list[dict], str]:
        light = scene.light(_light_of(scene, obj))
        color = lerp(light.color, goal, SHIFT_LIGHT[level])
        return ([{"op": "set_light_color", "targets": [light.name], "color": color}],
                f"{light.name} color {fmt_color(light.color)} -> {fmt_color(color)}")  # fmt: skip

    return op


def _more_light(scene: SynthScene, obj: str, level: str) -> tuple[list[dict], str]:
    light = _light_of(scene, obj)
    f = ENERGY[level]
    return [{"op": "set_light_energy", "targets": [light], "value": f, "mode": "multiply"}], f"{light} energy x{fmt(f)}"


def _slimmer(scene: SynthScene, obj: str, level: str) -> tuple[list[dict], str]:
    f = SLIM[level]
    return [{"op": "scale", "targets": [obj], "factor": [f, f, f]}], f"scale {obj} x{fmt(f)} (less mass)"


def _rougher(scene: SynthScene, obj: str, level: str) -> tuple[list[dict], str]:
    r = scene.main_material(obj).roughness
    return material_edit(scene, [obj], {"roughness": clip01(r + (1 - r) * TOWARD[level])})


def _sleek(scene: SynthScene, obj: str, level: str) -> tuple[list[dict], str]:
    mat = scene.main_material(obj)
    m = clip01(mat.metallic + (1 - mat.metallic) * TOWARD[level])
    return material_edit(scene, [obj], {"metallic": m, "roughness": clip01(mat.roughness * GLOSS[level])})


def _bevel(scene: SynthScene, obj: str, level: str) -> tuple[list[dict], str]:
    w = BEVEL[level]
    op = {"op": "add_modifier", "targets": [obj], "modifier": {"type": "BEVEL", "width": w, "segments": 3}}
    return [op], f"bevel {fmt(w)} m, 3 segments, on {obj}"


def _smooth(scene: SynthScene, obj: str, level: str) -> tuple[list[dict], str]:
    return [{"op": "set_shading", "targets": [obj], "smooth": True}], f"smooth shading on {obj}"


def _soft_light(scene: SynthScene, obj: str, level: str) -> tuple[list[dict], str]:
    light = scene.light(_light_of(scene, obj))
    ops: list[dict] = []
    words = []
    if light.type != "AREA":
        ops.append({"op": "set_light_type", "targets": [light.name], "type": "AREA"})
        words.append(f"{light.name} {light.type} -> AREA (bigger source, softer shadows)")
    f = SOFT_ENERGY[level]
    ops.append({"op": "set_light_energy", "targets": [light.name], "value": f, "mode": "multiply"})
    words.append(f"energy x{fmt(f)}")
    return ops, ", ".join(words)


def _more_glow(scene: SynthScene, obj: str, level: str) -> tuple[list[dict], str]:
    mat = scene.main_material(obj)
    strength = r4(mat.emission_strength * GLOW[level])
    op = {"op": "set_emission", "targets": [obj], "color": list(mat.emission_color), "strength": strength,
          "slot": main_slot(scene.get(obj))}  # fmt: skip
    return [op], f"emission of {mat.name} {fmt(mat.emission_strength)} -> {fmt(strength)}"


READINGS: dict[str, dict[str, tuple[str, Op]]] = {  # word -> reading -> (what it means, edit)
    "lighter": {
        "more_light": ("more light from its light", _more_light),
        "paler": ("a paler base color", _color_toward((1.0, 1.0, 1.0), PALE)),
        "less_weight": ("less visual weight: smaller", _slimmer),
    },
    "warmer": {
        "warm_light": ("a warmer, more orange light", _light_toward(WARM_LIGHT)),
        "warm_color": ("a warmer hue of its own color", _color_toward(WARM_COLOR, SHIFT_COLOR)),
    },
    "cooler": {
        "cool_light": ("a cooler, bluer light", _light_toward(COOL_LIGHT)),
        "cool_color": ("a cooler, bluer hue of its own color", _color_toward(COOL_COLOR, SHIFT_COLOR)),
        "sleek": ("'cool' as stylish: a sleeker metallic finish", _sleek),
    },
    "softer": {
        "soft_light": ("softer light: a bigger source, less energy", _soft_light),
        "rougher": ("a softer-looking surface: rougher", _rougher),
        "bevel": ("a softer shape: rounded edges", _bevel),
        "smooth": ("a softer shape: smooth shading", _smooth),
    },
    "brighter": {
        "glow": ("a stronger glow of its own", _more_glow),
        "more_light": ("more light from its light", _more_light),
        "paler": ("a paler base color", _color_toward((1.0, 1.0, 1.0), PALE)),
    },
}
VERBS = {
    "lighter": ("make {s} {deg} lighter", "lighten {s} {adv}"),
    "warmer": ("make {s} {deg} warmer", "warm {s} up {adv}"),
    "cooler": ("make {s} {deg} cooler", "cool {s} down {adv}"),
    "softer": ("make {s} {deg} softer", "soften {s} {adv}"),
    "brighter": ("make {s} {deg} brighter", "brighten {s} {adv}", "make {s} sparkle {adv} more"),
}


def readings_for(scene: SynthScene, word: str, obj: str) -> tuple[list[str], str]:
    """The two readings in order of likelihood for this object, and why (module docstring)."""
    o, mat = scene.get(obj), scene.main_material(obj)
    lum = 0.2126 * mat.base_color[0] + 0.7152 * mat.base_color[1] + 0.0722 * mat.base_color[2]
    lamp = scene.root(obj).name in scene.lamp_lights
    if word == "brighter":
        second = "more_light" if lamp else "paler"
        return ["glow", second], f"{mat.name} glows (strength {fmt(mat.emission_strength)})"
    if lamp:
        why = f"{obj} is part of a lamp, whose job is light"
        return {"lighter": ["more_light", "paler"], "warmer": ["warm_light", "warm_color"],
                "cooler": ["cool_light", "cool_color"], "softer": ["soft_light", "rougher"]}[word], why  # fmt: skip
    if word == "lighter":
        if lum < 0.15:
            return ["paler", "less_weight"], f"{obj} is dark (luminance {fmt(lum)})"
        return ["less_weight", "paler"], f"{obj} is already light (luminance {fmt(lum)})"
    if word == "warmer":
        return ["warm_color", "warm_light"], f"{obj} is an object, not a light"
    if word == "cooler":
        return ["cool_color", "sleek"], f"{obj} is an object, not a light"
    if mat.roughness < 0.5:
        second = "bevel" if o.kind in BOXY else "smooth"
        return ["rougher", second], f"{obj} is glossy (roughness {fmt(mat.roughness)})"
    if o.kind in BOXY:
        return ["bevel", "rougher"], f"{obj} is boxy and already rough"
    return ["rougher", "smooth"], f"{obj} is round already"


def propose(ctx: Context) -> Task | None:
    return first_task(ctx, {w: 1.0 for w in READINGS}, lambda w: _word_task(ctx, w))


def _word_task(ctx: Context, word: str) -> Task | None:
    scene = ctx.scene
    names = ctx.visible_names()
    if word == "brighter":  # only for things that glow
        names = [
            n
            for n in names
            if scene.main_material(n).emission_strength > 0
            and len(scene.users(scene.get(n).materials[main_slot(scene.get(n))])) == 1
        ]
    if len(names) < 1 or len(ctx.visible_names()) < 2:
        return None
    name = ctx.choice(names)
    first = READINGS[word][readings_for(scene, word, name)[0][0]][1]
    ref = refer(ctx, name, first(scene, name, "medium")[0][0]["op"])  # the held-out checks go by the gold's op
    if ref is None:
        return None
    level = ctx.choice(LEVELS)
    ask = Ask(ref.phrase, list(VERBS[word]), f"{{deg}} {word}", [], level, ref.protect)
    text, frame, used = phrase(ctx, ask)
    if not used:
        level = "medium"

    def decide(targets: tuple[str, ...], lv: str, flip: bool) -> Decision:
        t = targets[0]
        order, why = readings_for(scene, word, t)
        if flip:
            order = order[::-1]
        sugg, edits = [], []
        for rank, key in enumerate(order):
            meaning, edit = READINGS[word][key]
            ops, words = edit(scene, t, lv)
            sugg.append(
                (f"{word.title()}: {key.replace('_', ' ')}", f"'{word}' as {meaning}.", 0.35 if rank else 0.65, ops)
            )
            edits.append(f"{'Else' if rank else 'First'} ({key.replace('_', ' ')}): {words}.")
        readings = [f"'{word}' can mean " + "; ".join(m for m, _ in READINGS[word].values()) + ".",
                    f"{why}, so first {READINGS[word][order[0]][0]}."]  # fmt: skip
        plan = make_plan(f"'{word}' for {t}: {order[0].replace('_', ' ')}, else {order[1].replace('_', ' ')}.", sugg)
        return Decision(f"{ref.phrase} {word}; {degree_words(used, lv)}.", [resolve(ctx, ref, t)], edits,
                        f"the first reading fits {t}; the second covers the other likely one.", plan, readings)  # fmt: skip

    return Task(FAMILY, word, "3d", ask, text, frame, decide, (name,), level, LEVELS, other_objects(ctx, name),
                how=ref.how)  # fmt: skip

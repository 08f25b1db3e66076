"""lighting: the scene's lights and world, computed from where the lights, the camera and the
subject are.

    color       "cooler light", "give the key light a warm tint": light colour 0.3 / 0.55 / 0.85 of
                the way to warm (1, 0.7, 0.4), cool (0.7, 0.85, 1) or a named colour; "the light" /
                "the lighting" is every light, a named one only itself
    almost_off  "dim the lamp to almost nothing": energy x0.05
    off         "turn off the lamp": energy 0 (absolute), and its shade's glow if it glows
    type        "make the key a spotlight", "softer shadows from the key" (AREA)
    rim         "add a rim light (on the statue)": a SPOT or AREA behind the subject, opposite
                the camera, 1.2 m above its top, as strong as the key (500 W under a sun)
    fill        "the shadows are too dark, add a fill": an AREA on the camera's side opposite the
                key, at 35 % of the key's energy
    top         "light the vase from above": a SPOT 1.5 m above the subject's top, 300 / 600 / 1200 W
    background  "make the background darker" (world colour x0.6 / x0.35 / x0.15), "a blue
                background", "brighter ambient light" (world strength x1.5 / x2 / x3)
"""

from __future__ import annotations

import numpy as np

from training.synth.families.common import (
    LEVELS,
    Context,
    Task,
    degree_words,
    first_task,
    lerp,
    make_plan,
    palette,
    phrase,
    r4,
    task,
    weights_of,
)
from training.synth.kinds import COLORS
from training.synth.language import Ask
from training.synth.reasoning import Decision, fmt, fmt_color, fmt_vec, light_text, upper_first
from training.synth.referring import Reference, light_facts, refer, refer_light, resolve
from training.synth.scenes import SynthScene, main_slot

FAMILY = "lighting"
SHIFT = {"small": 0.3, "medium": 0.55, "large": 0.85}
DARKER = {"small": 0.6, "medium": 0.35, "large": 0.15}
AMBIENT = {"small": 1.5, "medium": 2.0, "large": 3.0}
TOP = {"small": 300.0, "medium": 600.0, "large": 1200.0}
GOALS = {"warmer": (1.0, 0.7, 0.4), "cooler": (0.7, 0.85, 1.0)}
VARIANTS = ("color", "color", "almost_off", "off", "type", "type", "rim", "rim", "fill", "top", "background", "ambient")


def propose(ctx: Context) -> Task | None:
    if ctx.held_out == "composition":  # lights are not referred to in held-out ways
        return None
    return first_task(ctx, weights_of(VARIANTS), lambda v: _BUILDERS[v](ctx))


def _key(scene: SynthScene) -> str:
    key = next((n for n, r in scene.light_roles.items() if r in ("key", "sun")), None)
    return key or max(scene.graph.lights, key=lambda lt: lt.energy).name


def _new_name(scene: SynthScene, base: str) -> str:
    """The name Blender gives a new object: base, or base.001, ... when taken."""
    names = set(scene.graph.object_names())
    if base not in names:
        return base
    n = 1
    while f"{base}.{n:03d}" in names:
        n += 1
    return f"{base}.{n:03d}"


# ---------------------------------------------------------------- existing lights
def _color(ctx: Context) -> Task | None:
    scene = ctx.scene
    lights = scene.graph.light_names()
    goal_word = ctx.choice(["warmer", "cooler", "warmer", "cooler", "blue", "orange", "pink", "teal", "red", "purple"])
    goal = GOALS.get(goal_word) or palette(goal_word)
    if len(lights) >= 2 and ctx.rng.random() < 0.45:
        ref = Reference(ctx.choice(["the light", "the lighting", "the lights", "all the lights"]), "all")
        gold = tuple(lights)
        distractors = [(n,) for n in lights]
    else:
        light = ctx.choice(lights)
        ref = refer_light(ctx, light)
        gold = (light,)
        distractors = [(n,) for n in lights if n != light]
    if goal_word in GOALS:
        verbs = [f"make {{s}} {{deg}} {goal_word}", f"give {{s}} a {{deg}} {goal_word[:-2]} tint"] + (
            ["warm up {s} {adv}"] if goal_word == "warmer" else ["cool down {s} {adv}", "make {s} {deg} bluer"]
        )
        state = f"{{deg}} {goal_word}"
    else:
        verbs = [f"tint {{s}} {goal_word}", f"make {{s}} {{deg}} more {goal_word}", f"give {{s}} a {goal_word} tint"]
        state = f"{{deg}} more {goal_word}"
    level = ctx.choice(LEVELS)
    ask = Ask(
        ref.phrase,
        verbs,
        state,
        [f"{{s}} looks {{deg}} too {'cold' if goal_word == 'warmer' else 'warm'}"],
        level,
        ref.protect,
    )
    said = phrase(ctx, ask)

    def decide(targets: tuple[str, ...], lv: str, flip: bool) -> Decision:
        k = SHIFT[lv]
        ops, words = [], []
        for t in targets:
            cur = scene.light(t).color
            to = [1 - g + 0.5 for g in goal] if flip else goal
            color = [min(1.0, max(0.0, c)) for c in lerp(cur, to, k)]
            ops.append({"op": "set_light_color", "targets": [t], "color": color})
            words.append(f"{t} {fmt_color(cur)} -> {fmt_color(color)}")
        if len(ops) > 1 and all(o["color"] == ops[0]["color"] for o in ops):
            ops = [{"op": "set_light_color", "targets": list(targets), "color": ops[0]["color"]}]
        plan = make_plan(
            f"Light color {fmt(k)} of the way to {fmt_color(goal)}.",
            [(f"{upper_first(goal_word)} light", "Light color only; energy stays.", 0.85, ops)],
        )
        facts = (
            [light_facts(ctx, ref, t) for t in targets]
            if ref.how != "all"
            else [f"'{ref.phrase}' -> every light: {', '.join(targets)}."]
        )
        return Decision(f"{ref.phrase} {goal_word}: the lights' color, not the objects'.", facts,
                        [upper_first("; ".join(words)) + f" ({fmt(k)} of the way to {fmt_color(goal)}).", upper_first(degree_words(said[2], lv)) + "."],
                        "only light colors change.", plan)  # fmt: skip

    return task(FAMILY, "color", ask, said, decide, gold, level, LEVELS, [d for d in distractors if d != gold], ref.how)


def _energy(ctx: Context, variant: str) -> Task | None:
    scene = ctx.scene
    lights = [n for n in scene.graph.light_names() if scene.light(n).energy > 0]
    if len(lights) < 2:
        return None
    light = ctx.choice(lights)
    ref = refer_light(ctx, light)
    if variant == "almost_off":
        verbs = [
            "dim {s} to almost nothing",
            "turn {s} way down, barely on",
            "make {s} almost dark",
            "bring {s} down to a glimmer",
        ]
        ask = Ask(ref.phrase, verbs, "barely on", ["{s} is far too bright, it should barely glow"], None, ref.protect)
        level, levels = "almost", ("almost", "half")
    else:
        verbs = ["turn off {s}", "switch {s} off", "kill {s}", "shut {s} off"]
        ask = Ask(ref.phrase, verbs, "off", ["{s} should be off"], None, ref.protect)
        level, levels = "off", ("off", "dim")
    said = phrase(ctx, ask)
    lamp_of = {lt: lp for lp, lt in scene.lamp_lights.items()}

    def decide(targets: tuple[str, ...], lv: str, flip: bool) -> Decision:
        t = targets[0]
        energy = scene.light(t).energy
        ops: list[dict] = []
        if lv in ("almost", "half"):
            f = 0.05 if lv == "almost" else 0.5
            f = 1 / f if flip else f
            ops.append({"op": "set_light_energy", "targets": [t], "value": f, "mode": "multiply"})
            words = f"{t} energy x{fmt(f)} ({fmt(energy)} -> {fmt(energy * f)})"
        else:
            value = 0.0 if lv == "off" else r4(energy * 0.3)
            if flip:
                value = r4(energy * 2)
            ops.append({"op": "set_light_energy", "targets": [t], "value": value, "mode": "absolute"})
            words = f"{t} energy {fmt(energy)} -> {fmt(value)}"
            shade = next((c for c in scene.children(lamp_of[t]) if c.role == "shade"), None) if t in lamp_of else None
            if shade is not None and lv == "off" and scene.main_material(shade.name).emission_strength > 0:
                mat = scene.main_material(shade.name)
                ops.append({"op": "set_emission", "targets": [shade.name], "color": list(mat.emission_color), "strength": 0.0,
                            "slot": main_slot(shade)})  # fmt: skip
                words += f"; its shade {shade.name} glows ({fmt(mat.emission_strength)}): emission 0"
        plan = make_plan(
            upper_first(words) + ".",
            [(f"{'Dim' if variant == 'almost_off' else 'Turn off'} {t}", "Energy only.", 0.85, ops)],
        )
        return Decision(f"{ref.phrase} {ask.state}: its energy.", [light_facts(ctx, ref, t)], [upper_first(words) + "."],
                        f"{t} ends {ask.state}; the other lights stay.", plan)  # fmt: skip

    distractors = [(n,) for n in lights if n != light]
    return task(FAMILY, variant, ask, said, decide, (light,), level, levels, distractors, ref.how)


def _type(ctx: Context) -> Task | None:
    scene = ctx.scene
    lights = scene.graph.light_names()
    if len(lights) < 2:
        return None
    light = ctx.choice(lights)
    ref = refer_light(ctx, light)
    now = scene.light(light).type
    soft = now != "AREA" and ctx.rng.random() < 0.4
    new = "AREA" if soft else ctx.choice([t for t in ("SPOT", "AREA", "POINT", "SUN") if t != now])
    word = {"SPOT": "a spotlight", "AREA": "an area light", "POINT": "a point light", "SUN": "a sun"}[new]
    if soft:
        verbs, state = (
            ["give {s} softer shadows", "soften the shadows from {s}", "make the shadows of {s} softer"],
            "softer",
        )
    else:
        verbs, state = (
            [f"make {{s}} {word}", f"turn {{s}} into {word}", f"change {{s}} to {word}", f"switch {{s}} to {word}"],
            word,
        )
    ask = Ask(ref.phrase, verbs, state, [], None, ref.protect)
    said = phrase(ctx, ask)
    types = ("SPOT", "AREA", "POINT", "SUN")

    def decide(targets: tuple[str, ...], lv: str, flip: bool) -> Decision:
        t = targets[0]
        kind = scene.light(t).type if flip else lv
        ops = [{"op": "set_light_type", "targets": [t], "type": kind}]
        why = "a bigger source casts softer shadows: AREA" if soft else f"'{word}' = {new}"
        plan = make_plan(f"{t} becomes {kind}.", [(f"{t} to {kind}", why + ".", 0.85, ops)])
        return Decision(f"{ref.phrase} {state}: its light type.", [light_facts(ctx, ref, t)], [f"{t} type {scene.light(t).type} -> {kind}; {why}."],
                        f"only {t}'s type changes.", plan)  # fmt: skip

    return task(FAMILY, "type", ask, said, decide, (light,), new, types, [(n,) for n in lights if n != light], ref.how)


# ---------------------------------------------------------------- new lights
def _subject(ctx: Context) -> tuple[str | None, Reference | None]:
    """A subject object (with a reference to it), or None for the whole scene."""
    scene = ctx.scene
    names = [n for n in ctx.visible_names() if scene.get(n).role == "main"]
    if not names or ctx.rng.random() < 0.35:
        return None, None
    name = ctx.choice(names)
    return name, refer(ctx, name, "add_light")


def _centre_of(scene: SynthScene, name: str | None) -> tuple[np.ndarray, float, float]:
    """Centre, bounding radius and top of the subject (the scene's visible objects if None)."""
    if name is None:
        objs = [o.name for o in scene.objects if o.kind not in ("floor", "rug")]
        lo = np.min([scene.bounds(n)[0] for n in objs], axis=0)
        hi = np.max([scene.bounds(n)[1] for n in objs], axis=0)
    else:
        lo, hi = scene.group_bounds(name)
    return (lo + hi) / 2, float(np.linalg.norm(hi - lo)) / 2, float(hi[2])


def _add(ctx: Context, variant: str) -> Task | None:
    scene = ctx.scene
    subject, ref = _subject(ctx)
    if subject is not None and ref is None:
        return None
    on = f" on {ref.phrase}" if ref else ""
    key = _key(scene)
    key_energy = scene.light(key).energy if scene.light(key).type != "SUN" else 500.0
    if variant == "rim":
        verbs = [f"add a rim light{on}", f"put a back light behind {ref.phrase if ref else 'the subject'}", f"give{on or ' the shot'} some rim light",
                 f"separate {ref.phrase if ref else 'the subject'} from the background with a rim light"]  # fmt: skip
        state, name, kind, level, levels = (
            "rim-lit",
            "Rim_Light",
            ctx.choice(["SPOT", "AREA"]),
            "exact",
            ("exact", "weak"),
        )
    elif variant == "fill":
        verbs = [
            "add a fill light",
            "the shadows are too dark, add a fill",
            f"fill in the shadows{on}",
            f"add a soft fill light{on}",
        ]
        state, name, kind, level, levels = "with softer shadows", "Fill_Light", "AREA", "exact", ("exact", "strong")
    else:
        if subject is None:
            return None
        verbs = [
            f"light {ref.phrase} from above {{adv}}",
            f"add a light above {ref.phrase}",
            f"put a spotlight on {ref.phrase}",
        ]
        state, name, kind, level, levels = "lit from above", "Top_Light", "SPOT", ctx.choice(LEVELS), LEVELS
    ask = Ask(
        ref.phrase if ref else "the scene",
        verbs,
        state,
        [],
        level if variant == "top" else None,
        ref.protect if ref else (),
    )
    said = phrase(ctx, ask)
    new = _new_name(scene, name)
    cam = scene.camera_poses[scene.main_camera][:3, 3]
    kpos = np.array(scene.graph.get_object(key).location)

    def decide(targets: tuple[str, ...], lv: str, flip: bool) -> Decision:
        t = targets[0] if targets else None
        centre, radius, top = _centre_of(scene, t)
        away = centre[:2] - cam[:2]
        away = away / (np.linalg.norm(away) or 1.0)
        if variant == "rim":
            side = -1.0 if flip else 1.0  # behind the subject, seen from the camera (flipped: in front)
            xy = centre[:2] + side * away * (radius + 1.5)
            where = np.array([xy[0], xy[1], top + 1.2])
            energy, color = key_energy * (0.3 if lv == "weak" else 1.0), [0.9, 0.95, 1.0]
            why = f"behind it seen from {scene.main_camera}, {fmt(radius + 1.5)} m back, 1.2 m above its top; as strong as {key}"
        elif variant == "fill":
            # the key's side of the camera axis, mirrored
            k2 = kpos[:2] - centre[:2]
            axis = -away
            mirrored = 2 * np.dot(k2, axis) * axis - k2
            if flip:
                mirrored = k2
            xy = centre[:2] + mirrored / (np.linalg.norm(mirrored) or 1.0) * (radius + 2.0)
            where = np.array([xy[0], xy[1], max(1.0, kpos[2] * 0.6)])
            energy, color = key_energy * (0.35 if lv == "exact" else 1.5), [0.95, 0.97, 1.0]
            why = f"opposite the key {key} across the camera axis, lower, at 35% of its energy"
        else:
            where = np.array([centre[0], centre[1], top + 1.5])
            energy, color = TOP[lv] * (0.2 if flip else 1.0), [1.0, 1.0, 1.0]
            why = f"1.5 m above its top (z {fmt(top)})"
        loc = [r4(v) for v in where]
        ops = [{"op": "add_light", "name": new, "type": kind, "location": loc, "color": color, "energy": r4(energy)}]
        words = f"add {kind} {new} at {fmt_vec(loc)}, {fmt(energy)} W: {why}"
        plan = make_plan(f"Add {new} ({kind}).", [(f"Add {new}", why.split(";")[0] + ".", 0.85, ops)])
        target_lines = (
            [resolve(ctx, ref, t)]
            if ref and t
            else [f"the subject is the scene: centre {fmt_vec([r4(v) for v in centre])}."]
        )
        target_lines.append(
            f"{scene.main_camera} at {fmt_vec([r4(v) for v in cam])}; key {light_text(scene.light(key))}."
        )
        return Decision(f"a new {variant} light{on}.", target_lines,
                        [upper_first(words) + "."] + ([upper_first(degree_words(said[2], lv)) + "."] if variant == "top" else []),
                        "one new light; the existing ones stay.", plan)  # fmt: skip

    others = [n for n in ctx.visible_names() if scene.get(n).role == "main" and n != subject]
    if not others:
        return None
    gold = (subject,) if subject else ()
    return task(FAMILY, variant, ask, said, decide, gold, level, levels, [(n,) for n in others], ref.how if ref else "")


# ---------------------------------------------------------------- the world
def _world(ctx: Context, variant: str) -> Task | None:
    scene = ctx.scene
    world = scene.graph.world
    key = _key(scene)
    subject = ctx.choice(["the background", "the world", "the backdrop", "the environment"])
    if variant == "background":
        word = ctx.choice(["darker", "darker", "black", "blue", "gray", "white", "teal"])
        if word == "darker":
            verbs, state, level = ["make {s} {deg} darker", "darken {s} {adv}"], "{deg} darker", ctx.choice(LEVELS)
        else:
            verbs, state, level = [f"make {{s}} {word}", f"turn {{s}} {word}", f"I want {{s}} {word}"], word, "exact"
        if word != "darker" and sum((a - b) ** 2 for a, b in zip(world.color, COLORS[word], strict=True)) < 0.01:
            return None
    else:
        up = ctx.rng.random() < 0.6
        verbs = (["make the ambient light {deg} brighter", "brighten {s} {adv}", "turn up {s} light {adv}"] if up
                 else ["make the ambient light {deg} dimmer", "turn down {s} light {adv}"])  # fmt: skip
        state, level, word = (
            ("{deg} brighter" if up else "{deg} dimmer"),
            ctx.choice(LEVELS),
            ("brighter" if up else "dimmer"),
        )
    degree = "{deg}" in state or any("{adv}" in v or "{deg}" in v for v in verbs)
    ask = Ask(subject, verbs, state, [], level if level in LEVELS and degree else None)
    said = phrase(ctx, ask)

    def decide(targets: tuple[str, ...], lv: str, flip: bool) -> Decision:
        if targets:  # the wrong reading: the light, not the world
            t = targets[0]
            ops = [{"op": "set_light_color", "targets": [t], "color": [0.7, 0.8, 1.0]}]
            words = f"{t} color -> (0.70, 0.80, 1.00)"
        elif variant == "background":
            if word == "darker":
                f = DARKER[lv] if not flip else 1 / DARKER[lv]
                color = [min(1.0, r4(c * f)) for c in world.color]
            else:
                color = palette(word) if lv == "exact" else lerp(world.color, palette(word), 0.3)
                if flip:
                    color = list(world.color)
            ops = [{"op": "set_world_color", "color": color}]
            words = f"world color {fmt_color(world.color)} -> {fmt_color(color)}"
        else:
            f = AMBIENT[lv] ** ((1 if word == "brighter" else -1) * (-1 if flip else 1))
            value = r4(world.strength * f)
            ops = [{"op": "set_world_strength", "value": value}]
            words = f"world strength {fmt(world.strength)} -> {fmt(value)} (x{fmt(f)})"
        amount = degree_words(said[2], lv) if lv in LEVELS else ""
        plan = make_plan(
            upper_first(words) + ".",
            [
                (
                    "World: " + ("background" if variant == "background" else "ambient"),
                    "The world, not a light.",
                    0.85,
                    ops,
                )
            ],
        )
        return Decision(f"{subject} {state.replace('{deg} ', '')}: the world shader.", [f"World color {fmt_color(world.color)}, strength {fmt(world.strength)}."],
                        [upper_first(words) + "."] + ([upper_first(amount) + "."] if amount else []), "only the world changes.", plan)  # fmt: skip

    levels = LEVELS if level in LEVELS else ("exact", "partial")
    return task(FAMILY, variant, ask, said, decide, (), level, levels, [(key,)], "")


_BUILDERS = {
    "color": _color, "almost_off": lambda ctx: _energy(ctx, "almost_off"), "off": lambda ctx: _energy(ctx, "off"),
    "type": _type, "rim": lambda ctx: _add(ctx, "rim"), "fill": lambda ctx: _add(ctx, "fill"), "top": lambda ctx: _add(ctx, "top"),
    "background": lambda ctx: _world(ctx, "background"), "ambient": lambda ctx: _world(ctx, "ambient"),
}  # fmt: skip

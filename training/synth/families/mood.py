"""mood_style: a mood for the whole shot ("cozier", "more dramatic", "gloomier"), made of several
lighting and world ops. Intensity t = 0.5 / 1 / 1.6 for small / medium / large degrees:

    cozy      light colour toward warm (1, 0.72, 0.45) by 0.55t, lamp/area/point energy x0.85^t,
              sun x0.7^t, world colour toward (0.12, 0.07, 0.04) by 0.5t, world strength x0.7^t
    gloomy    light colour toward (0.7, 0.8, 1), energy x0.6^t, sun x0.6^t, dark blue world, x0.6^t
    cheerful  light colour toward (1, 0.95, 0.85), energy x1.35^t, sun x1.35^t, sky-blue world, x1.3^t
    clinical  light colour toward (0.85, 0.92, 1), energy x1.2^t, sun x1.2^t, pale world, x1.2^t,
              and glossy surfaces (roughness 0.45 - 0.15t on every object)
    dramatic  key light (the first light) x(1 + 0.8t), other lights x0.5^t, world toward black by
              0.6t, world strength x0.4^t  -- HELD OUT: only in the gen split
A flipped mood is its opposite (cozy <-> clinical, gloomy <-> cheerful, dramatic -> flat). The
wrong-target variant tints the objects' materials instead of changing light and world.
"""

from __future__ import annotations

from training.synth.families.common import LEVELS, Context, Task, clip01, degree_words, lerp, make_plan, phrase
from training.synth.language import Ask
from training.synth.reasoning import Decision, fmt, fmt_color, light_text, upper_first
from training.synth.scenes import SynthScene, main_slot

FAMILY = "mood_style"
HELD_OUT = ("dramatic",)
INTENSITY = {"small": 0.5, "medium": 1.0, "large": 1.6}
MOODS = {
    "cozy": dict(light=(1.0, 0.72, 0.45), energy=0.85, sun=0.7, world=(0.12, 0.07, 0.04), strength=0.7, opposite="clinical",
                 word="cozier", sense="warm, low, intimate light: warmer light color, a little less energy, a dark warm world"),
    "gloomy": dict(light=(0.7, 0.8, 1.0), energy=0.6, sun=0.6, world=(0.06, 0.07, 0.1), strength=0.6, opposite="cheerful",
                   word="gloomier", sense="dim, cold light: bluish light, much less energy, a dark blue-gray world"),
    "cheerful": dict(light=(1.0, 0.95, 0.85), energy=1.35, sun=1.35, world=(0.55, 0.75, 1.0), strength=1.3, opposite="gloomy",
                     word="more cheerful", sense="bright, sunny light: more energy, a slightly warm white light, a sky-blue world"),
    "clinical": dict(light=(0.85, 0.92, 1.0), energy=1.2, sun=1.2, world=(0.85, 0.88, 0.9), strength=1.2, opposite="cozy",
                     word="more clinical", sense="cold, even, bright light and glossy surfaces: bluish-white light, a pale world, low roughness"),
    "dramatic": dict(opposite="flat", word="more dramatic",
                     sense="high contrast: a strong key light, weak fill lights, a dark world"),
}  # fmt: skip
VERBS = {
    "cozy": ("make {s} {deg} cozier", "make {s} feel {deg} cozier", "warm {s} up {adv}, make it cozy"),
    "gloomy": ("make {s} {deg} gloomier", "make {s} {deg} moodier", "make {s} feel {deg} more somber"),
    "cheerful": ("make {s} {deg} more cheerful", "make {s} feel {deg} happier", "brighten up {s} {adv}"),
    "clinical": (
        "make {s} {deg} more clinical",
        "make {s} look {deg} more sterile",
        "make {s} {deg} colder and cleaner",
    ),
    "dramatic": ("make {s} {deg} more dramatic", "add {adv} more drama to {s}", "make {s} feel {deg} more dramatic"),
}
COMPLAINTS = {
    "cozy": ("{s} feels {deg} too cold", "{s} looks {deg} too sterile"),
    "gloomy": ("{s} feels {deg} too cheerful", "{s} is {deg} too bright and happy"),
    "cheerful": ("{s} feels {deg} too gloomy", "{s} is {deg} too dark and moody"),
    "clinical": ("{s} feels {deg} too warm and homey",),
    "dramatic": ("{s} looks {deg} too flat", "{s} feels {deg} too boring"),
}
SUBJECTS = ("the scene", "the room", "this shot", "the whole thing", "the lighting", "the render", "everything")


def _lighting_ops(scene: SynthScene, mood: str, t: float, lights: list[str]) -> tuple[list[dict], list[str]]:
    graph = scene.graph
    world = graph.world
    if mood in ("dramatic", "flat"):
        key, rest = lights[0], lights[1:]
        up = (1 + 0.8 * t) if mood == "dramatic" else 1 / (1 + 0.8 * t)
        down = 0.5**t if mood == "dramatic" else 2.0**t
        strength = world.strength * (0.4**t if mood == "dramatic" else 2.5**t)
        ops = [{"op": "set_light_energy", "targets": [key], "value": round(up, 4), "mode": "multiply"}]
        words = [f"key light {key} energy x{fmt(up)}"]
        if rest:
            ops.append({"op": "set_light_energy", "targets": rest, "value": round(down, 4), "mode": "multiply"})
            words.append(f"other lights ({', '.join(rest)}) x{fmt(down)}")
        if mood == "dramatic":
            color = lerp(world.color, (0.02, 0.02, 0.03), min(1.0, 0.6 * t))
            ops.append({"op": "set_world_color", "color": color})
            words.append(f"world color {fmt_color(world.color)} -> {fmt_color(color)}")
        ops.append({"op": "set_world_strength", "value": round(strength, 4)})
        words.append(f"world strength {fmt(world.strength)} -> {fmt(strength)}")
        return ops, words
    spec = MOODS[mood]
    suns = [n for n in lights if scene.light(n).type == "SUN"]
    others = [n for n in lights if n not in suns]
    light_color = lerp((1.0, 1.0, 1.0), spec["light"], min(1.0, 0.55 * t))
    ops = [{"op": "set_light_color", "targets": lights, "color": light_color}]
    words = [f"light color of {', '.join(lights)} -> {fmt_color(light_color)}"]
    if others:
        f = round(spec["energy"] ** t, 4)
        ops.append({"op": "set_light_energy", "targets": others, "value": f, "mode": "multiply"})
        words.append(f"energy of {', '.join(others)} x{fmt(f)}")
    if suns:
        f = round(spec["sun"] ** t, 4)
        ops.append({"op": "set_light_energy", "targets": suns, "value": f, "mode": "multiply"})
        words.append(f"sun {', '.join(suns)} x{fmt(f)}")
    color = lerp(world.color, spec["world"], min(1.0, 0.5 * t))
    strength = round(world.strength * spec["strength"] ** t, 4)
    ops += [{"op": "set_world_color", "color": color}, {"op": "set_world_strength", "value": strength}]
    words += [
        f"world color {fmt_color(world.color)} -> {fmt_color(color)}",
        f"world strength {fmt(world.strength)} -> {fmt(strength)}",
    ]
    if mood == "clinical":
        objects = [o.name for o in scene.marked if o.kind != "floor"][:16]
        r = clip01(0.45 - 0.15 * t)
        ops.append({"op": "set_roughness", "targets": objects, "value": r})
        words.append(f"roughness {fmt(r)} on every object (glossy, clean surfaces)")
    return ops, words


def _tint_ops(scene: SynthScene, mood: str, objects: list[str]) -> tuple[list[dict], list[str]]:
    """The wrong-target reading: the mood painted onto the objects instead of the light."""
    goal = MOODS.get(mood, {}).get("light", (0.3, 0.3, 0.35))
    ops, words = [], []
    for name in objects[:8]:
        mat = scene.main_material(name)
        color = lerp(mat.base_color, goal, 0.4)
        ops.append({"op": "set_base_color", "targets": [name], "color": color, "slot": main_slot(scene.get(name))})
        words.append(f"base color of {name} -> {fmt_color(color)}")
    return ops, words


def propose(ctx: Context) -> Task | None:
    if ctx.held_out == "composition":  # a mood names no object
        return None
    scene = ctx.scene
    moods = list(HELD_OUT) if ctx.held_out == "variant" else [m for m in MOODS if m not in HELD_OUT]
    mood = ctx.choice(moods)
    lights = scene.graph.light_names()
    objects = [o.name for o in scene.marked if o.kind != "floor"]
    level = ctx.choice(LEVELS)
    subject = ctx.choice(SUBJECTS)
    spec = MOODS[mood]
    ask = Ask(subject, list(VERBS[mood]), f"{{deg}} {spec['word']}", list(COMPLAINTS[mood]), level)
    text, frame, used = phrase(ctx, ask)
    if not used:
        level = "medium"
    world = scene.graph.world
    light_facts = ", ".join(light_text(lt) for lt in scene.graph.lights)

    def decide(targets: tuple[str, ...], lv: str, flip: bool) -> Decision:
        t = INTENSITY[lv]
        applied = MOODS[mood]["opposite"] if flip else mood
        if set(targets) <= set(lights):
            ops, words = _lighting_ops(scene, applied, t, list(targets))
        else:
            ops, words = _tint_ops(scene, applied, list(targets))
        word = spec["word"]
        plan = make_plan(
            f"A {word} shot: light and world.", [(f"Make the shot {word}", f"'{word}' = {spec['sense']}.", 0.8, ops)]
        )
        return Decision(
            f"{subject} {word}: a mood lives in the light and the world, not in one object.",
            [f"Lights: {light_facts}. World {fmt_color(world.color)}, strength {fmt(world.strength)}."],
            [upper_first("; ".join(words)) + ".", upper_first(degree_words(used, lv)) + f" (intensity {fmt(t)})."],
            f"every change pushes toward '{word}'; objects keep their shapes and places.",
            plan,
            [f"'{word}' = {spec['sense']}."],
        )

    return Task(FAMILY, mood, "3d", ask, text, frame, decide, tuple(lights), level, LEVELS, [tuple(objects)])

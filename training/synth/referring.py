"""How an artist refers to an object, and the evidence that ties the phrase to a scene name.

A reference singles the object out among the visible ones, in one of these ways (`how`):
    name        "Chair.001"                      (the exact name; protected from typos)
    kind        "the sofa", "the ball"           (the only one that word fits)
    color_kind  "the red chair"
    color       "the red one"
    size        "the tall vase", "the small box" (clearly bigger or smaller than the others)
    relation    "the vase on the table", "the mug on the floor"
    position    "the chair on the left"          (in view 0, by the marks' x)
    mark        "object 3", "#3"                  (the set-of-marks number)
    motion      "the bouncing ball"              (the only object with that motion)
    hidden      "the hidden chair"               (hidden objects, in the scene graph only)
Words are the kind's nouns ("the lamp" is the lamp's base, the root its shade hangs from; "the
lamp shade" the shade), so a default-named `Sphere.001` is "the ball" and `Cube.003` "the crate".
A word fits every object whose kind has it ("the table" fits a table, a coffee table and a desk),
so a reference is only made when it picks one object.

The composition (primary op, how) decides what a split may use (heldout.HELD_OUT_COMPOSITIONS).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from training.synth.heldout import HELD_OUT_COMPOSITIONS
from training.synth.kinds import KINDS
from training.synth.language import plural
from training.synth.scenes import SynthObject, SynthScene

if TYPE_CHECKING:
    from training.synth.families.common import Context

WEIGHTS = {"name": 0.22, "kind": 0.28, "color_kind": 0.16, "color": 0.05, "size": 0.07, "relation": 0.07,
           "position": 0.07, "mark": 0.08, "motion": 0.06, "hidden": 0.5}  # fmt: skip
MOTION_WORDS = {"bounce": "bouncing", "bob": "bobbing", "spin": "spinning", "slide": "sliding", "jump": "jumping"}


@dataclass(frozen=True)
class Reference:
    phrase: str  # how the instruction names the object
    how: str  # one of WEIGHTS
    protect: tuple[str, ...] = ()  # exact names in the phrase


def words(obj: SynthObject) -> tuple[str, ...]:
    """The nouns for an object: its kind's, or its part's (a shade, a wheel)."""
    kind = KINDS[obj.kind]
    return kind.words if obj.role == "main" else kind.parts[obj.role].words


def noun(obj: SynthObject) -> str:
    return words(obj)[0]


def display_color(scene: SynthScene, obj: SynthObject) -> str:
    """The colour an artist sees in it: a lamp is the colour of its shade."""
    kind = KINDS[obj.kind]
    if obj.role == "main" and kind.main != "main":
        part = next((c for c in scene.children(obj.name) if c.role == kind.main), None)
        if part is not None:
            return part.color
    return obj.color


def candidates(ctx: Context) -> list[SynthObject]:
    """What a reference must single its object out from: the visible objects (not the floor)."""
    return [o for o in ctx.scene.objects if o.kind != "floor" and ctx.visible(o.name)]


def fits(obj: SynthObject, word: str) -> bool:
    return word in words(obj)


def refer(
    ctx: Context, name: str, intent: str, ways: tuple[str, ...] | None = None, second: bool = False
) -> Reference | None:
    """How an artist names object `name` for an edit whose primary op is `intent`: a random way
    among those that single it out and that the split allows (None: no way does). `second`: the
    other object of a relation ("on the table"), which the held-out compositions do not concern."""
    options = [(how, ref) for how, ref in _ways(ctx, name) if ways is None or how in ways]
    if not second:
        held = ctx.held_out == "composition"
        options = [(h, r) for h, r in options if ((intent, h) in HELD_OUT_COMPOSITIONS) == held]
    if not options:
        return None
    weights = np.array([WEIGHTS[h] for h, _ in options])
    return options[int(ctx.rng.choice(len(options), p=weights / weights.sum()))][1]


def _ways(ctx: Context, name: str) -> list[tuple[str, Reference]]:
    scene, rng = ctx.scene, ctx.rng
    obj = scene.get(name)
    out: list[tuple[str, Reference]] = [("name", Reference(name, "name", (name,)))]
    if obj in scene.hidden:
        word = str(rng.choice(words(obj)))
        if sum(fits(o, word) for o in scene.hidden) == 1:
            out.append(("hidden", Reference(f"the hidden {word}", "hidden")))
        return out
    pool = candidates(ctx)
    if obj not in pool:
        return out
    word = str(rng.choice(words(obj)))
    same = [o for o in pool if fits(o, word)]
    colour = display_color(scene, obj)
    if len(same) == 1:
        out.append(("kind", Reference(f"the {word}", "kind")))
    elif sum(display_color(scene, o) == colour for o in same) == 1:
        out.append(("color_kind", Reference(f"the {colour} {word}", "color_kind")))
    if sum(display_color(scene, o) == colour for o in pool) == 1:
        out.append(("color", Reference(f"the {colour} {str(rng.choice(['one', 'thing', 'object']))}", "color")))
    if len(same) >= 2:
        size = _size_word(rng, scene, obj, same)
        if size:
            out.append(("size", Reference(f"the {size} {word}", "size")))
        side = _side(ctx, obj, same)
        if side:
            phrase = str(rng.choice([f"the {side} {word}", f"the {word} on the {side}", f"the {side}most {word}"]))
            out.append(("position", Reference(phrase, "position")))
        rel = _relation(scene, obj, same)
        if rel:
            out.append(("relation", Reference(f"the {word} {rel}", "relation")))
    phrase = str(rng.choice([f"object {obj.mark}", f"#{obj.mark}", f"the one marked {obj.mark}", f"number {obj.mark}"]))
    out.append(("mark", Reference(phrase, "mark")))
    motion = scene.motions.get(obj.name)
    if motion and sum(scene.motions.get(o.name) == motion for o in pool) == 1:
        out.append(("motion", Reference(f"the {MOTION_WORDS[motion]} {word}", "motion")))
    return out


def _height(scene: SynthScene, o: SynthObject) -> float:
    lo, hi = scene.group_bounds(o.name)
    return float(hi[2] - lo[2])


def _size_word(rng: np.random.Generator, scene: SynthScene, obj: SynthObject, same: list[SynthObject]) -> str | None:
    """tall / small when the object is clearly the tallest or the shortest of its word."""
    h = _height(scene, obj)
    others = [_height(scene, o) for o in same if o is not obj]
    if all(h >= 1.3 * x for x in others):
        return str(rng.choice(["tall", "big", "larger"]))
    if all(h <= 0.75 * x for x in others):
        return str(rng.choice(["small", "short", "little"]))
    return None


def _side(ctx: Context, obj: SynthObject, same: list[SynthObject]) -> str | None:
    """left / right in view 0 when the object is clearly the left- or rightmost of its kind."""
    xs = {m.object: m.center[0] for m in ctx.shots[0][0].view.marks}
    if obj.name not in xs or any(o.name not in xs for o in same):
        return None
    x = xs[obj.name]
    others = [xs[o.name] for o in same if o is not obj]
    if all(x < v - 0.08 for v in others):
        return "left"
    if all(x > v + 0.08 for v in others):
        return "right"
    return None


def _relation(scene: SynthScene, obj: SynthObject, same: list[SynthObject]) -> str | None:
    """ "on the table" / "on the floor", when no other object of its word stands there."""
    support = scene.on.get(obj.name)
    if support is None:
        if all(scene.on.get(o.name) for o in same if o is not obj):
            return "on the floor"
        return None
    word = noun(scene.get(support))
    if sum(bool(scene.on.get(o.name)) and noun(scene.get(scene.on[o.name])) == word for o in same) == 1:
        return f"on the {word}"
    return None


def facts(ctx: Context, name: str, how: str) -> str:
    """What the views and the scene graph say about an object, for the way it was named: the
    reasoning's evidence ("mark 5, red chair, on Table")."""
    scene = ctx.scene
    obj = scene.get(name)
    if obj in scene.hidden:
        return f"{noun(obj)}, hidden (no mark)"
    text = f"mark {obj.mark}, {display_color(scene, obj)} {noun(obj)}"
    if how == "size":
        text += f", {_height(scene, obj):.2f} m tall"
    elif how == "relation":
        text += f", on {scene.on.get(name) or 'the floor'}"
    elif how == "position":
        x = next((m.center[0] for m in ctx.shots[0][0].view.marks if m.object == name), None)
        text += f", x {x:.2f} in view 0" if x is not None else ", not in view 0"
    elif how == "motion":
        text += f", {scene.motions.get(name, 'static')}"
    if obj.parent:
        text += f", child of {obj.parent}"
    elif scene.children(name) and how in ("kind", "color_kind", "name"):
        text += f", parent of {', '.join(c.name for c in scene.children(name))}"
    return text


def resolve(ctx: Context, ref: Reference, name: str) -> str:
    """One target resolution with its evidence: the phrase, the name, and that object's facts
    (a wrong resolution reads inconsistent: its facts do not fit the phrase)."""
    return f"'{ref.phrase}' -> {name} ({facts(ctx, name, ref.how)})."


def refer_group(ctx: Context, names: list[str]) -> Reference | None:
    """A phrase for several objects: "the chairs" / "both vases" when they are all the visible
    objects of that word, else their names."""
    scene, rng = ctx.scene, ctx.rng
    objs = [scene.get(n) for n in names]
    pool = candidates(ctx)
    for word in words(objs[0]):
        if all(fits(o, word) for o in objs) and {o.name for o in pool if fits(o, word)} == set(names):
            lead = ["the", "all the"] + (["both"] if len(names) == 2 else ["the " + _count(len(names))])
            return Reference(f"{rng.choice(lead)} {plural(word)}", "kind")
    if ctx.held_out == "composition":
        return None
    return Reference(" and ".join([", ".join(names[:-1]), names[-1]]), "name", tuple(names))


def pick_group(ctx: Context, names: list[str], key=noun) -> tuple[list[str], Reference] | None:  # noqa: ANN001
    """Two to six of `names` that share a `key` (their noun), and a phrase for them ("the
    chairs"); None if there are none, or for a held-out composition (a group is no single way)."""
    groups: dict[object, list[str]] = {}
    for n in names:
        groups.setdefault(key(ctx.scene.get(n)), []).append(n)
    options = [g for g in groups.values() if 2 <= len(g) <= 6]
    if not options or ctx.held_out == "composition":
        return None
    chosen = options[int(ctx.rng.integers(len(options)))]
    ref = refer_group(ctx, chosen)
    return None if ref is None else (chosen, ref)


def _count(n: int) -> str:
    return ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight")[n] if n < 9 else str(n)


# ---------------------------------------------------------------- lights and cameras
ROLE_PHRASES = {"key": ("the key light", "the key"), "fill": ("the fill light", "the fill"),
                "rim": ("the rim light", "the back light"), "sun": ("the sun", "the sunlight")}  # fmt: skip
TYPE_PHRASES = {"SPOT": "the spotlight", "AREA": "the area light", "POINT": "the point light", "SUN": "the sun"}


def refer_light(ctx: Context, light: str) -> Reference | None:
    """A light by its name, its role ("the key light"), its type ("the spotlight") or the lamp
    it sits in ("the lamp"). Lights have no held-out compositions: None for that gen kind."""
    if ctx.held_out == "composition":
        return None
    scene, rng = ctx.scene, ctx.rng
    lights = scene.graph.lights
    options = [Reference(light, "name", (light,))]
    role = scene.light_roles.get(light)
    if role in ROLE_PHRASES and sum(r == role for r in scene.light_roles.values()) == 1:
        options += [Reference(str(rng.choice(ROLE_PHRASES[role])), "role")] * 2
    kind = scene.light(light).type
    if sum(lt.type == kind for lt in lights) == 1:
        options.append(Reference(TYPE_PHRASES[kind], "type"))
    lamp = next((lp for lp, lt in scene.lamp_lights.items() if lt == light), None)
    if lamp is not None and ctx.visible(lamp) and len(scene.lamp_lights) == 1:
        options += [Reference(f"the {noun(scene.get(lamp))}", "lamp")] * 2
    return options[int(rng.integers(len(options)))]


def light_facts(ctx: Context, ref: Reference, light: str) -> str:
    scene = ctx.scene
    lt = scene.light(light)
    unit = "W/m2" if lt.type == "SUN" else "W"
    text = f"{lt.type}, {lt.energy:.4g} {unit}"
    role = scene.light_roles.get(light)
    if role:
        text += f", {role}"
    lamp = next((lp for lp, x in scene.lamp_lights.items() if x == light), None)
    if lamp:
        text += f", in {lamp} (mark {scene.get(lamp).mark})"
    return f"'{ref.phrase}' -> {light} ({text})."

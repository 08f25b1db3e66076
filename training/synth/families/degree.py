"""vague_degree: one attribute, a vague amount ("make the ball a bit bigger", "the crate is way
too small", "dim the key light a touch"). The degree words map to a magnitude class
(attributes.py); without degree words the default is the medium class. Targets are objects
referred to in any way `referring` knows, or lights (by name, role, type or their lamp)."""

from __future__ import annotations

from collections.abc import Callable

from training.synth.families.attributes import ATTRIBUTES, Attribute
from training.synth.families.common import (
    LEVELS,
    Context,
    Task,
    degree_words,
    first_task,
    keys_stay,
    make_plan,
    other_objects,
    phrase,
    pick_target,
)
from training.synth.language import Ask
from training.synth.reasoning import Decision, upper_first
from training.synth.referring import Reference, light_facts, refer, refer_light, resolve

FAMILY = "vague_degree"


def propose(ctx: Context) -> Task | None:
    # size and turns are asked for most; the three floor moves share translate with placement
    weights = {k: {"turn": 2.0, "size_up": 2.0, "move_left": 0.6, "move_right": 0.6, "move_closer": 0.6}.get(k, 1.0)
               for k in ATTRIBUTES}  # fmt: skip
    return first_task(ctx, weights, lambda k: _attribute_task(ctx, ATTRIBUTES[k]))


def _attribute_task(ctx: Context, attr: Attribute) -> Task | None:
    if attr.target == "light":
        return _light_task(ctx, attr)
    name = pick_target(ctx, [n for n in ctx.visible_names() if attr.ok(ctx.scene, n)])
    if name is None:
        return None
    ref = refer(ctx, name, attr.op)
    if ref is None:
        return None
    return degree_task(ctx, FAMILY, attr, name, ref, lambda t: [resolve(ctx, ref, t)], other_objects(ctx, name))


def _light_task(ctx: Context, attr: Attribute) -> Task | None:
    lights = ctx.scene.graph.lights
    if len(lights) < 2:
        return None
    light = ctx.choice(lights).name
    ref = refer_light(ctx, light)
    if ref is None:
        return None
    distractors = [(lt.name,) for lt in lights if lt.name != light]
    return degree_task(ctx, FAMILY, attr, light, ref, lambda t: [light_facts(ctx, ref, t)], distractors)


def degree_task(
    ctx: Context,
    family: str,
    attr: Attribute,
    target: str,
    ref: Reference,
    resolve_target: Callable[[str], list[str]],
    distractors: list[tuple[str, ...]],
) -> Task | None:
    """A task for an attribute edit of one target with a degree (also used by view_reference)."""
    if not distractors:
        return None
    level = ctx.choice(LEVELS)
    ask = Ask(ref.phrase, list(attr.verbs), attr.state, list(attr.complaint), level, ref.protect)
    text, frame, used = phrase(ctx, ask)
    if not used:  # no degree words made it into the sentence: read it as a moderate change
        level = "medium"
    state = attr.state.replace("{deg}", "").strip()

    def decide(targets: tuple[str, ...], lv: str, flip: bool) -> Decision:
        t = targets[0]
        ops, words = attr.edit(ctx, t, lv, -1 if flip else 1)
        plan = make_plan(
            upper_first(words), [(_title(attr.key, t), f"{attr.meaning}; {degree_words(used, lv)}.", 0.85, ops)]
        )
        return Decision(
            f"{ref.phrase} {state}; {attr.meaning}.",
            resolve_target(t),
            [upper_first(words), upper_first(degree_words(used, lv)) + "."],
            f"only {t} changes, {state}, by the amount asked{keys_stay(ctx, t)}.",
            plan,
        )

    return Task(family, attr.key, "3d", ask, text, frame, decide, (target,), level, LEVELS, distractors, how=ref.how)


_TITLES = {
    "size_up": "Scale up", "size_down": "Scale down", "taller": "Taller", "darker": "Darken", "paler": "Paler",
    "shinier": "Glossier", "matte": "More matte", "metallic": "More metallic", "transparent": "More transparent",
    "glow_more": "More glow", "glow_less": "Less glow", "brighter_light": "Brighten", "dimmer_light": "Dim",
    "raise": "Raise", "move_left": "Move left", "move_right": "Move right", "move_closer": "Move closer", "turn": "Turn",
}  # fmt: skip


def _title(key: str, target: str) -> str:
    return f"{_TITLES[key]} {target}"

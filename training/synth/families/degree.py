"""vague_degree: one attribute, a vague amount ("make the lamp a bit brighter", "the crate is way
too small"). The degree words map to a magnitude class (attributes.py); without degree words
the default is the medium class."""

from __future__ import annotations

from training.synth.families.attributes import ATTRIBUTES, Attribute
from training.synth.families.common import LEVELS, Context, Task, make_plan, other_objects, phrase, refer
from training.synth.language import DEGREE_MEANING, Ask
from training.synth.reasoning import Decision, light_text, locate, resolve_line, upper_first

FAMILY = "vague_degree"


def propose(ctx: Context) -> Task | None:
    attr = ctx.choice(list(ATTRIBUTES.values()))
    if attr.target == "light":
        return _light_task(ctx, attr)
    candidates = [n for n in ctx.visible_names() if attr.ok(ctx.scene, n)]
    if not candidates:
        return None
    name = ctx.choice(candidates)
    ref = refer(ctx, name)

    def resolve(target: str) -> list[str]:
        return [resolve_line(ctx.scene, ctx.shots, ref.phrase, ref.how, target)]

    return degree_task(ctx, FAMILY, attr, name, ref.phrase, ref.protect, resolve, other_objects(ctx, name))


def _light_task(ctx: Context, attr: Attribute) -> Task | None:
    scene = ctx.scene
    lights = scene.graph.lights
    if len(lights) < 2:
        return None
    light = ctx.choice(lights)
    lamp = next((lamp for lamp, lt in scene.lamp_lights.items() if lt == light.name), None)
    options = [("name", light.name)]
    if lamp is not None and ctx.visible(lamp):
        options += [("lamp", refer(ctx, lamp).phrase)] * 2
    if light.type == "SUN" and sum(lt.type == "SUN" for lt in lights) == 1:
        options.append(("sun", ctx.choice(["the sun", "the sunlight"])))
    how, subject = ctx.choice(options)

    def resolve(target: str) -> list[str]:
        facts = light_text(scene.light(target))
        if how == "lamp":
            holder = next((lp for lp, x in scene.lamp_lights.items() if x == target), None)
            where = f"{holder}, {locate(scene, ctx.shots, holder)}" if holder else "no lamp"
            return [f"'{subject}' is a lamp ({where}); how bright a lamp is comes from its light: {facts}, its child."]
        if how == "sun":
            return [f"'{subject}': the scene's sun light is {facts}."]
        return [f"'{subject}' is a light name: {facts}."]

    protect = (light.name,) if how == "name" else ()
    distractors = [(lt.name,) for lt in lights if lt.name != light.name]
    return degree_task(ctx, FAMILY, attr, light.name, subject, protect, resolve, distractors)


def degree_task(
    ctx: Context,
    family: str,
    attr: Attribute,
    target: str,
    subject: str,
    protect: tuple[str, ...],
    resolve,  # noqa: ANN001  (target) -> evidence lines
    distractors: list[tuple[str, ...]],
    modality: str = "3d",
) -> Task | None:
    """A task for an attribute edit of one target with a degree (also used by view_reference)."""
    if not distractors:
        return None
    level = ctx.choice(LEVELS)
    ask = Ask(subject, list(attr.verbs), attr.state, list(attr.complaint), level, protect)
    text, frame, used = phrase(ctx, ask)
    if not used:  # no degree words made it into the sentence: read it as a moderate change
        level = "medium"
    scene = ctx.scene

    def decide(targets: tuple[str, ...], lv: str, flip: bool) -> Decision:
        t = targets[0]
        ops, words = attr.edit(scene, t, lv, -1 if flip else 1)
        degree = f"'{used}' = {DEGREE_MEANING[lv]}." if used else f"no degree words: {DEGREE_MEANING[lv]} by default."
        intent = f"make {subject} {attr.state.replace('{deg}', used).strip()}".replace("  ", " ")
        plan = make_plan(
            f"{upper_first(intent)}: {words}",
            [(_title(attr.key, t), f"{attr.meaning}; {degree}", 0.85, ops)],
        )
        asked = f"'{used}'" if used else "an instruction without degree words"
        check = f"only {t} changes, by {DEGREE_MEANING[lv]}, which matches {asked}; the direction matches '{attr.state.replace('{deg}', '').strip()}'."
        return Decision(intent + ".", [f"{attr.meaning}.", degree], resolve(t), [upper_first(words)], check, plan)

    return Task(
        family=family,
        variant=attr.key,
        modality=modality,
        ask=ask,
        instruction=text,
        frame=frame,
        decide=decide,
        targets=(target,),
        level=level,
        levels=LEVELS,
        distractors=distractors,
    )


def _title(key: str, target: str) -> str:
    words = {
        "size_up": "Scale up", "size_down": "Scale down", "taller": "Make taller", "darker": "Darken",
        "shinier": "Lower roughness of", "matte": "Raise roughness of", "metallic": "More metallic:",
        "transparent": "Lower alpha of", "brighter_light": "Brighten", "dimmer_light": "Dim",
        "raise": "Raise", "turn": "Turn",
    }  # fmt: skip
    return f"{words[key]} {target}"

"""reference_matching: make an object look like a reference. Variants:
- swatch: the reference image is a sphere wearing the wanted material ("make the chair look like
  this");
- object_ref: the reference image is the target itself, alone, in the wanted material;
- match_object: no image, another object is the reference ("match the crate to the table").
The gold plan copies the reference's base colour, and its roughness / metallic where they differ
(by more than 0.08 / 0.2), through `material_edit` (a material shared with another object is not
edited in place: the target gets its own). A wrong magnitude goes only part of the way (40%)."""

from __future__ import annotations

from evlm.scene import Material
from evlm.scenetext import colour_name
from training.synth.families.common import (
    Context,
    Task,
    clip01,
    lerp,
    make_plan,
    material_edit,
    other_colours,
    other_objects,
    phrase,
)
from training.synth.kinds import COLORS, LOOKS
from training.synth.language import Ask
from training.synth.reasoning import Decision, fmt
from training.synth.referring import display_color, facts, refer, resolve
from training.synth.render import render_object, render_swatch

FAMILY = "reference_matching"
AMOUNT = {"full": 1.0, "partial": 0.4}
FINISHES = ("plastic", "metal", "rubber", "ceramic", "paint", "fabric", "wood")
_SWATCH_VERBS = ("make {s} look like the reference", "give {s} the material in the reference",
                 "match {s} to the reference image", "use the reference look on {s}", "make {s} look like this")  # fmt: skip


def _finish(roughness: float, metallic: float) -> str:
    gloss = "glossy" if roughness < 0.35 else "satin" if roughness < 0.65 else "matte"
    return f"{gloss} (roughness {fmt(roughness)}), {'metal' if metallic > 0.5 else 'non-metal'}"


def propose(ctx: Context) -> Task | None:
    scene, rng = ctx.scene, ctx.rng
    names = [n for n in ctx.visible_names() if scene.get(n).kind not in ("rug",)]
    if len(names) < 2:
        return None
    target = ctx.choice(names)
    variant = ctx.choice(["swatch", "object_ref", "match_object"])
    ref = refer(ctx, target, "set_base_color")
    if ref is None:
        return None
    reference = None
    if variant == "match_object":
        sources = [n for n in names if n != target and display_color(scene, scene.get(n)) != scene.get(target).color]
        if not sources:
            return None
        source = ctx.choice(sources)
        src_ref = refer(ctx, source, "set_base_color", ways=("name", "kind", "color_kind", "mark"))
        if src_ref is None:
            return None
        look = scene.main_material(source)
        goal = (list(look.base_color[:3]), look.roughness, look.metallic)
        verbs = ["match {s} to " + src_ref.phrase, "make {s} look like " + src_ref.phrase,
                 "give {s} the same material as " + src_ref.phrase, "use the look of " + src_ref.phrase + " on {s}"]  # fmt: skip
        ask = Ask(ref.phrase, verbs, "matching " + src_ref.phrase, [f"{{s}} doesn't match {src_ref.phrase}"], None,
                  ref.protect + src_ref.protect)  # fmt: skip
        about = f"reference = {src_ref.phrase} -> {source} ({facts(ctx, source, src_ref.how)})"
    else:
        source = None
        color = ctx.choice(other_colours(scene.get(target).color))
        look = LOOKS[ctx.choice(FINISHES)]
        roughness = clip01(look.roughness + float(rng.uniform(-0.1, 0.1)))
        goal = (list(COLORS[color]), roughness, look.metallic)
        mat = Material(name="Reference", base_color=[*COLORS[color], 1.0], roughness=roughness, metallic=look.metallic)
        if variant == "swatch":
            reference = render_swatch(mat, ctx.size, (0.6, 0.6, 0.6))
            shown = "a material swatch"
        else:
            reference = render_object(scene, scene.get(target), mat, ctx.size)
            shown = f"{target} alone in another material"
        ask = Ask(ref.phrase, list(_SWATCH_VERBS), "like the reference", [], None, ref.protect)
        about = f"the reference shows {shown}: {color}, {_finish(roughness, look.metallic)}"
    text, frame, _ = phrase(ctx, ask)

    def decide(targets: tuple[str, ...], level: str, flip: bool) -> Decision:
        t = targets[0]
        if t == source:  # the reference and the target swapped: the target's look goes onto the source
            mine = scene.main_material(target)
            want = (list(mine.base_color[:3]), mine.roughness, mine.metallic)
        else:
            want = goal
        mat, a = scene.main_material(t), AMOUNT[level]
        values: dict = {"color": lerp(mat.base_color, want[0], a)}
        if abs(want[1] - mat.roughness) > 0.08:
            values["roughness"] = clip01(mat.roughness + (want[1] - mat.roughness) * a)
        if abs(want[2] - mat.metallic) > 0.2:
            values["metallic"] = clip01(mat.metallic + (want[2] - mat.metallic) * a)
        ops, words = material_edit(scene, [t], values)
        share = "" if a == 1.0 else f" ({int(a * 100)}% of the way)"
        plan = make_plan(
            f"Give {t} the reference look: {colour_name(want[0])}, {_finish(want[1], want[2])}.",
            [(f"Match {t} to the reference", "Copy the reference material: color and finish.", 0.85, ops)],
        )
        return Decision(
            f"{ref.phrase} should look like the reference: its material, not its shape. {about}.",
            [resolve(ctx, ref, t)],
            [f"{t}: {words}{share}"],
            f"{t} takes the reference's color and finish; shape and place stay.",
            plan,
        )

    distractors = ([(source,)] if source else []) + other_objects(ctx, target)
    distractors = [d for i, d in enumerate(distractors) if d not in distractors[:i]]
    return Task(FAMILY, variant, "3d", ask, text, frame, decide, (target,), "full", ("full", "partial"), distractors,
                can_flip=False, reference=reference, how=ref.how)  # fmt: skip

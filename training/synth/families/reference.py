"""reference_matching: make an object look like a reference. Variants:
- swatch: the reference image is a sphere wearing the wanted material ("make the chair look like
  this");
- object_ref: the reference image is the target itself, alone, in the wanted material;
- match_object: no image, another object is the reference ("match the crate to the table").
The gold plan copies the reference's base colour, and its roughness / metallic where they differ
(by more than 0.08 / 0.2). A wrong magnitude goes only part of the way (40%)."""

from __future__ import annotations

from evlm.scene import Material
from training.synth.families.common import Context, Task, clip01, lerp, make_plan, other_objects, phrase, refer
from training.synth.language import Ask
from training.synth.reasoning import Decision, color_name, describe, fmt, fmt_color, locate, resolve_line
from training.synth.render import render_object, render_swatch
from training.synth.scenes import COLORS, FINISHES, main_slot

FAMILY = "reference_matching"
AMOUNT = {"full": 1.0, "partial": 0.4}
_SWATCH_VERBS = ("make {s} look like the reference", "give {s} the material in the reference", "match {s} to the reference image",
                 "use the reference look on {s}", "make {s} look like this")  # fmt: skip


def _finish_words(roughness: float, metallic: float) -> str:
    gloss = "glossy" if roughness < 0.35 else "satin" if roughness < 0.65 else "matte"
    return f"{gloss} (roughness {fmt(roughness)}), {'metallic' if metallic > 0.5 else 'non-metallic'} (metallic {fmt(metallic)})"


def propose(ctx: Context) -> Task | None:
    scene, rng = ctx.scene, ctx.rng
    names = ctx.visible_names()
    if len(names) < 2:
        return None
    target = ctx.choice(names)
    variant = ctx.choice(["swatch", "object_ref", "match_object"])
    ref = refer(ctx, target)
    reference = None
    if variant == "match_object":
        sources = [n for n in names if n != target and scene.get(n).color != scene.get(target).color]
        if not sources:
            return None
        source = ctx.choice(sources)
        src_ref = refer(ctx, source)
        look = scene.main_material(source)
        goal = (list(look.base_color[:3]), look.roughness, look.metallic)
        verbs = ["match {s} to " + src_ref.phrase, "make {s} look like " + src_ref.phrase,
                 "give {s} the same material as " + src_ref.phrase, "use the look of " + src_ref.phrase + " on {s}"]  # fmt: skip
        ask = Ask(ref.phrase, verbs, "matching " + src_ref.phrase, [f"{{s}} doesn't match {src_ref.phrase}"], None,
                  ref.protect + src_ref.protect)  # fmt: skip
        about = f"the reference is another object: {src_ref.phrase} -> {source}, {locate(scene, ctx.shots, source)}: {describe(scene, source)}"
    else:
        source = None
        color = ctx.choice([c for c in COLORS if c != scene.get(target).color])
        finish = ctx.choice(list(FINISHES))
        roughness, metallic = FINISHES[finish]
        roughness = clip01(roughness + float(rng.uniform(-0.1, 0.1)))
        goal = (list(COLORS[color]), roughness, metallic)
        mat = Material(name="Reference", base_color=[*COLORS[color], 1.0], roughness=roughness, metallic=metallic)
        if variant == "swatch":
            reference = render_swatch(mat, ctx.size, (0.6, 0.6, 0.6))
            shown = "a sphere swatch (a material sample, not a shape)"
        else:
            reference = render_object(scene, scene.get(target), mat, ctx.size)
            shown = f"{target}'s shape alone in another material (same shape, so only the material changes)"
        ask = Ask(ref.phrase, list(_SWATCH_VERBS), "like the reference", [], None, ref.protect)
        about = f"the reference image shows {shown}: {color} {fmt_color(COLORS[color])}, {_finish_words(roughness, metallic)}"
    text, frame, _ = phrase(ctx, ask)

    def decide(targets: tuple[str, ...], level: str, flip: bool) -> Decision:
        t = targets[0]
        if t == source:  # the reference and the target swapped: the target's look goes onto the source
            mine = scene.main_material(target)
            want = (list(mine.base_color[:3]), mine.roughness, mine.metallic)
        else:
            want = goal
        mat, slot, a = scene.main_material(t), main_slot(scene.get(t)), AMOUNT[level]
        color = lerp(mat.base_color, want[0], a)
        ops = [{"op": "set_base_color", "targets": [t], "color": color, "slot": slot}]
        words = [f"base color of {t} {fmt_color(mat.base_color)} -> {fmt_color(color)}"]
        if abs(want[1] - mat.roughness) > 0.08:
            r = clip01(mat.roughness + (want[1] - mat.roughness) * a)
            ops.append({"op": "set_roughness", "targets": [t], "value": r, "slot": slot})
            words.append(f"roughness {fmt(mat.roughness)} -> {fmt(r)}")
        if abs(want[2] - mat.metallic) > 0.2:
            m = clip01(mat.metallic + (want[2] - mat.metallic) * a)
            ops.append({"op": "set_metallic", "targets": [t], "value": m, "slot": slot})
            words.append(f"metallic {fmt(mat.metallic)} -> {fmt(m)}")
        share = "all the way to the reference" if a == 1.0 else f"{int(a * 100)}% of the way to the reference"
        plan = make_plan(
            f"Give {t} the reference look ({color_name(want[0])}, {_finish_words(want[1], want[2])}).",
            [(f"Match {t} to the reference", f"Copy the reference material onto {t} (slot {slot}).", 0.85, ops)],
        )
        return Decision(
            f"make {ref.phrase} look like the reference: its material, not its shape.",
            [about + ".", "Matching a look = copying base color and finish; shape, size and position stay."],
            [resolve_line(scene, ctx.shots, ref.phrase, ref.how, t)],
            [f"On {t} (slot {slot}): " + "; ".join(words) + f" ({share})."],
            f"after the edit {t} is {color_name(color)} {fmt_color(color)}, the reference's color and finish; nothing else changes.",
            plan,
        )

    distractors = ([(source,)] if source else []) + other_objects(ctx, target)
    distractors = [d for i, d in enumerate(distractors) if d not in distractors[:i]]
    return Task(FAMILY, variant, "3d", ask, text, frame, decide, (target,), "full", ("full", "partial"), distractors,
                can_flip=False, reference=reference)  # fmt: skip

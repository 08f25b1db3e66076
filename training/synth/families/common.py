"""What every instruction family shares: the context it draws from, the task it returns, how a
plan is put together, and how a material edit reaches only its targets.

A family's `propose(ctx)` returns a `Task` (or None when the scene does not suit it). The task
holds the `Ask` (language), the gold parameters (targets and magnitude level), and `decide`:
(targets, level, flip) -> Decision. The graded variants are `decide` called with other
parameters: another level (wrong_magnitude), other targets (wrong_target), or flipped (the
reasoning of a contradiction). So a wrong variant's reasoning is as fluent as the right one and
consistent with its own plan, except for the contradiction, whose reasoning and plan disagree.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from evlm.edits import EditPlan, parse_plan
from evlm.scenetext import colour_name
from training.synth.kinds import COLORS
from training.synth.language import Ask, NoPhrasing, compose, frames_for
from training.synth.reasoning import Decision, fmt, fmt_color, tidy
from training.synth.render import Shot
from training.synth.scenes import NO_MATERIAL, SynthScene, main_slot

LEVELS = ("small", "medium", "large")


@dataclass
class Context:
    rng: np.random.Generator
    scene: SynthScene
    shots: list[list[Shot]]  # [frame][view]: frame 0 is the scene's current frame
    size: int = 128  # pixels of the views (and of reference images)
    held_out: str | None = None  # gen split: "frame" | "lexicon" | "composition" | "variant" (heldout.py)

    def visible(self, name: str, view: int | None = None) -> bool:
        views = [view] if view is not None else range(len(self.shots[0]))
        return any(m.object == name for v in views for m in self.shots[0][v].view.marks)

    def visible_names(self) -> list[str]:
        return [o.name for o in self.scene.marked if o.kind != "floor" and self.visible(o.name)]

    def choice(self, items):  # noqa: ANN001, ANN201
        """A random element (any sequence, numpy-free result)."""
        return items[int(self.rng.integers(len(items)))]


Decide = Callable[[tuple[str, ...], str, bool], Decision]


@dataclass
class Task:
    family: str
    variant: str  # the family variant ("size_up", "cozy", ...): family:variant is what is held out
    modality: str
    ask: Ask
    instruction: str  # composed, before noise
    frame: str  # the sentence frame it was composed with
    decide: Decide
    targets: tuple[str, ...]
    level: str
    levels: tuple[str, ...]
    distractors: list[tuple[str, ...]]  # wrong target sets, most plausible first
    can_flip: bool = True  # decide(..., flip=True) argues for the opposite edit
    reference: np.ndarray | None = None  # reference image (H, W, 3)
    shots: str = "3d"  # which renders the record gets: "image" | "video" | "3d" | "4d"
    how: str = ""  # how the target was referred to (referring.WEIGHTS), for the held-out checks


def first_task(ctx: Context, weights: dict[str, float], build: Callable[[str], Task | None]) -> Task | None:
    """The first variant, in a random order drawn by `weights`, that makes a task for this scene
    (a scene without supports cannot "put the vase on the table"; the next variant is tried)."""
    names = list(weights)
    w = np.array([weights[n] for n in names], dtype=np.float64)
    for i in ctx.rng.choice(len(names), size=len(names), replace=False, p=w / w.sum()):
        try:
            task = build(names[int(i)])
        except NoPhrasing:
            task = None
        if task is not None:
            return task
    return None


def weights_of(variants: tuple[str, ...]) -> dict[str, float]:
    """A variant listed twice is drawn twice as often."""
    out: dict[str, float] = {}
    for v in variants:
        out[v] = out.get(v, 0.0) + 1.0
    return out


def task(
    family: str,
    variant: str,
    ask: Ask,
    said: tuple[str, str, str],
    decide: Decide,
    targets: tuple[str, ...],
    level: str,
    levels: tuple[str, ...],
    distractors: list[tuple[str, ...]],
    how: str = "",
    can_flip: bool = True,
) -> Task | None:
    """A 3d task once `said` = phrase(ctx, ask) has put the ask into words; None without a wrong
    target to grade against. A degree class the sentence did not show reads as the medium one."""
    if not distractors:
        return None
    text, frame, used = said
    if ask.degree and not used and level in LEVELS:
        level = "medium"
    return Task(family, variant, "3d", ask, text, frame, decide, targets, level, levels, distractors, can_flip, how=how)


def wrong_level(ctx: Context, level: str, levels: tuple[str, ...]) -> str:
    """Another magnitude level. Degree classes: mostly the farthest one (a clear error), sometimes
    a neighbour; other level lists are in order (amounts, durations): a neighbour, so the wrong
    amount stays nearer the gold than a wrong target's plan does."""
    others = [lv for lv in levels if lv != level]
    if len(levels) == 3 and level in LEVELS and ctx.rng.random() < 0.7:
        return {"small": "large", "large": "small", "medium": ctx.choice(["small", "large"])}[level]
    if level in levels and level not in LEVELS:
        i = levels.index(level)
        return ctx.choice([levels[j] for j in (i - 1, i + 1) if 0 <= j < len(levels)])
    return ctx.choice(others)


def make_plan(summary: str, suggestions: list[tuple[str, str, float, list[dict]]]) -> EditPlan:
    """An EditPlan from (title, rationale, confidence, ops) tuples; ops are plain dicts."""
    return parse_plan(
        {
            "reasoning": tidy(summary)[:1200],
            "suggestions": [
                {"title": tidy(t)[:80], "rationale": tidy(r)[:600], "confidence": round(c, 2), "ops": ops}
                for t, r, c, ops in suggestions
            ],
        }
    )


def lerp(a, b, t: float) -> list[float]:  # noqa: ANN001
    return [round(float(x + (y - x) * t), 4) + 0.0 for x, y in zip(a[:3], b[:3], strict=True)]


def clip01(x: float) -> float:
    return round(min(1.0, max(0.0, float(x))), 4) + 0.0


def r4(x: float) -> float:
    return round(float(x), 4) + 0.0


MOVING_TARGETS = 0.6  # how often a look or size edit in an animated scene is about a moving object


def pick_target(ctx: Context, names: list[str]) -> str | None:
    """One of `names`; in an animated scene often a moving one: "make the (bouncing) ball bigger"
    is a size edit, not a timing edit, and the data must say so often."""
    if not names:
        return None
    moving = [n for n in names if n in ctx.scene.motions]
    if moving and ctx.rng.random() < MOVING_TARGETS:
        return ctx.choice(moving)
    return ctx.choice(names)


def keys_stay(ctx: Context, name: str) -> str:
    """What the check line adds when an animated object gets a non-animation edit."""
    return f"; its {ctx.scene.motions[name]} keys stay as they are" if name in ctx.scene.motions else ""


def other_objects(ctx: Context, name: str, same_kind_first: bool = True) -> list[tuple[str, ...]]:
    """Plausible wrong targets for an object: visible objects of the same kind first."""
    names = [n for n in ctx.visible_names() if n != name]
    kind = ctx.scene.get(name).kind
    if same_kind_first:
        names.sort(key=lambda n: ctx.scene.get(n).kind != kind)
    return [(n,) for n in names]


def phrase(ctx: Context, ask: Ask) -> tuple[str, str, str]:
    """(instruction, frame, degree words used): the ask in a frame allowed for this split.
    NoPhrasing when the split asks for a phrasing this ask does not have."""
    frame = ctx.choice(frames_for(ask, ctx.held_out == "frame"))
    text, used = compose(ask, frame, ctx.rng, lexicon=ctx.held_out == "lexicon")
    return text, frame, used


def degree_words(used: str, level: str) -> str:
    """What the reasoning says about the degree words."""
    return f"'{used}' = a {_SIZE[level]} change" if used else f"no degree words: a {_SIZE[level]} change"


_SIZE = {"small": "small", "medium": "moderate", "large": "big"}


# ---------------------------------------------------------------- material edits
def material_edit(scene: SynthScene, names: list[str], values: dict) -> tuple[list[dict], str]:
    """Ops that give the objects' main slots these values (keys: color, roughness, metallic,
    alpha), changing no other object: the slot's material is edited in place when only these
    objects use it; when another object shares it, or there is none, the targets get a new
    material of their own (assign_material, then alpha if asked). Returns (ops, words)."""
    first = scene.get(names[0])
    slot = main_slot(first)
    mats = {scene.get(n).materials[main_slot(scene.get(n))] for n in names}
    others = sorted({u for m in mats if m != NO_MATERIAL for u in scene.users(m)} - set(names))
    current = scene.material(first.materials[slot])
    if others or NO_MATERIAL in mats:
        color = values.get("color", current.base_color[:3])
        roughness = values.get("roughness", current.roughness)
        metallic = values.get("metallic", current.metallic)
        new = f"{colour_name(color).title()}_{first.name}"[:60]
        ops = [{"op": "assign_material", "targets": list(names), "name": new, "base_color": list(color),
                "roughness": roughness, "metallic": metallic, "slot": slot}]  # fmt: skip
        if "alpha" in values:
            ops.append({"op": "set_alpha", "targets": list(names), "value": values["alpha"], "slot": slot})
        why = f"{', '.join(sorted(mats))} is shared with {', '.join(others[:3])}" if others else "no material yet"
        return ops, f"{why}, so a new material {new}: {_values_text(values)}."
    ops = []
    fields = {"color": ("set_base_color", "color"), "roughness": ("set_roughness", "value"),
              "metallic": ("set_metallic", "value"), "alpha": ("set_alpha", "value")}  # fmt: skip
    for key, value in values.items():
        op, field_name = fields[key]
        ops.append({"op": op, "targets": list(names), field_name: value, "slot": slot})
    return ops, f"{', '.join(sorted(mats))} (slot {slot}): {_values_text(values, current)}."


def _values_text(values: dict, current=None) -> str:  # noqa: ANN001
    parts = []
    for key, value in values.items():
        if key == "color":
            was = f"{fmt_color(current.base_color)} -> " if current is not None else ""
            parts.append(f"base color {was}{fmt_color(value)}")
        else:
            was = f"{fmt(getattr(current, key))} -> " if current is not None else ""
            parts.append(f"{key} {was}{fmt(value)}")
    return ", ".join(parts)


def palette(name: str) -> list[float]:
    return [float(c) for c in COLORS[name]]


def other_colours(seen: str) -> list[str]:
    """Palette colours an object called `seen` (its colour as the prompt names it) does not
    already look like: a recolour to one of them changes something."""
    return [c for c in COLORS if colour_name(COLORS[c]) != seen]

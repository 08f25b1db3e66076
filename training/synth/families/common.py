"""What every instruction family shares: the context it draws from, the task it returns, how
objects are referred to, and how a plan is put together.

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
from training.synth.language import Ask, Reference, compose, frames_for
from training.synth.reasoning import Decision
from training.synth.render import Shot
from training.synth.scenes import KINDS, SynthScene

LEVELS = ("small", "medium", "large")


@dataclass
class Context:
    rng: np.random.Generator
    scene: SynthScene
    shots: list[list[Shot]]  # [frame][view]; frame 0 is the scene's current frame
    size: int = 128  # pixels of the views (and of reference images)
    held_out_frame: bool = False  # gen split: phrase with a held-out frame
    held_out_variant: bool = False  # gen split: draw the held-out family variant

    def visible(self, name: str, view: int | None = None) -> bool:
        views = [view] if view is not None else range(len(self.shots[0]))
        return any(m.object == name for v in views for m in self.shots[0][v].view.marks)

    def visible_names(self) -> list[str]:
        return [o.name for o in self.scene.marked if self.visible(o.name)]

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


def wrong_level(ctx: Context, level: str, levels: tuple[str, ...]) -> str:
    """Another magnitude level: mostly the farthest one (a clear error), sometimes a neighbour."""
    others = [lv for lv in levels if lv != level]
    if len(levels) == 3 and level in LEVELS and ctx.rng.random() < 0.7:
        return {"small": "large", "large": "small", "medium": ctx.choice(["small", "large"])}[level]
    return ctx.choice(others)


def refer(
    ctx: Context, name: str, ways: tuple[str, ...] = ("name", "kind", "color", "color_kind", "mark")
) -> Reference | None:
    """How an artist names an object, among the ways that single it out in this scene (None:
    none of the allowed ways does)."""
    scene, obj = ctx.scene, ctx.scene.get(name)
    marked = scene.marked
    word = ctx.choice(KINDS[obj.kind].words)
    options: list[tuple[float, Reference]] = []
    if "name" in ways:
        options.append((0.3, Reference(name, "name", (name,))))
    if "kind" in ways and sum(o.kind == obj.kind for o in marked) == 1:
        options.append((0.2, Reference(f"the {word}", "kind")))
    if "color" in ways and sum(o.color == obj.color for o in marked) == 1:
        noun = ctx.choice(["one", "thing", "object"])
        options.append((0.12, Reference(f"the {obj.color} {noun}", "color")))
    if "color_kind" in ways and sum(o.color == obj.color and o.kind == obj.kind for o in marked) == 1:
        options.append((0.2, Reference(f"the {obj.color} {word}", "color_kind")))
    if "mark" in ways:
        phrase = ctx.choice([f"object {obj.mark}", f"#{obj.mark}", f"the one marked {obj.mark}", f"number {obj.mark}"])
        options.append((0.13, Reference(phrase, "mark")))
    if not options:
        return None
    weights = np.array([w for w, _ in options])
    return options[int(ctx.rng.choice(len(options), p=weights / weights.sum()))][1]


def make_plan(summary: str, suggestions: list[tuple[str, str, float, list[dict]]]) -> EditPlan:
    """An EditPlan from (title, rationale, confidence, ops) tuples; ops are plain dicts."""
    return parse_plan(
        {
            "reasoning": summary[:1200],
            "suggestions": [
                {"title": t[:80], "rationale": r[:600], "confidence": round(c, 2), "ops": ops}
                for t, r, c, ops in suggestions
            ],
        }
    )


def lerp(a, b, t: float) -> list[float]:  # noqa: ANN001
    return [round(float(x + (y - x) * t), 4) + 0.0 for x, y in zip(a[:3], b[:3], strict=True)]


def clip01(x: float) -> float:
    return round(min(1.0, max(0.0, float(x))), 4) + 0.0


def other_objects(ctx: Context, name: str, same_kind_first: bool = True) -> list[tuple[str, ...]]:
    """Plausible wrong targets for an object: visible objects of the same kind first."""
    names = [n for n in ctx.visible_names() if n != name]
    kind = ctx.scene.get(name).kind
    if same_kind_first:
        names.sort(key=lambda n: ctx.scene.get(n).kind != kind)
    return [(n,) for n in names]


def phrase(ctx: Context, ask: Ask) -> tuple[str, str, str]:
    """(instruction, frame, degree words used): the ask in a frame allowed for this split."""
    frame = ctx.choice(frames_for(ask, ctx.held_out_frame))
    text, used = compose(ask, frame, ctx.rng)
    return text, frame, used

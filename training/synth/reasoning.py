"""Chains of thought for synthetic records: interpret, resolve targets with evidence, choose ops
and magnitudes, reflect.

A family's `decide` returns a `Decision` (what the reasoning concludes, in parts, and the plan it
concludes with); `think` writes it as the text between <think> and </think>. The sections are
always in the same order, with varied wording inside:

    Intent: ...                      what the artist wants, in plain words
    Readings: ...                    the readings of the ambiguous words, and the one chosen
    Targets: ...                     each phrase -> mark, view, position, colour -> scene name
    Edits: ...                       ops with magnitudes, and why those magnitudes
    Check: ...                       does the plan match the intent / the reference?

Evidence comes from the rendered views' mark tables (mark number, view, centre) and the scene
graph (kind, colour, material values), so a model learns to ground words in what it sees.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from evlm.edits import EditPlan
from evlm.scene import Light
from training.synth.render import Shot
from training.synth.scenes import COLORS, KINDS, SynthScene

_KIND_SHAPES = {
    "chair": "a chair (seat, back and four legs)",
    "table": "a table (top on four legs)",
    "stool": "a stool (round seat on three legs)",
    "lamp": "a floor lamp (base, pole and shade)",
    "ball": "a ball",
    "box": "a box",
    "cylinder": "a cylinder",
    "cone": "a cone",
    "ring": "a ring (torus)",
}


@dataclass
class Decision:
    intent: str
    readings: list[str]
    targets: list[str]
    edits: list[str]
    check: str
    plan: EditPlan


def think(d: Decision, rng: np.random.Generator) -> str:
    """The chain of thought of a decision."""
    lines = [f"Intent: {d.intent}"]
    if d.readings:
        lines.append("Readings: " + " ".join(d.readings))
    if d.targets:
        lines.append("Targets: " + " ".join(d.targets))
    lines.append("Edits: " + " ".join(d.edits))
    lead = str(rng.choice(("Check:", "Check:", "Reflection:")))
    lines.append(f"{lead} {d.check}")
    return "\n".join(lines)


def upper_first(text: str) -> str:
    """Capitalize the first letter only (str.capitalize would lowercase object names)."""
    return text[:1].upper() + text[1:]


def light_text(light: Light) -> str:
    """A light's facts: "Key_Light (AREA, 400 W, color (1.00, 0.95, 0.90))"."""
    unit = "W/m2" if light.type == "SUN" else "W"
    return f"{light.name} ({light.type}, {fmt(light.energy)} {unit}, color {fmt_color(light.color)})"


def fmt(x: float) -> str:
    """A number as the reasoning writes it: up to 3 significant decimals, no trailing zeros."""
    text = f"{x:.3f}".rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def fmt_color(c: Sequence[float]) -> str:
    return "(" + ", ".join(f"{v:.2f}" for v in c[:3]) + ")"


def color_name(c: Sequence[float]) -> str:
    """The palette name nearest a linear RGB colour."""
    return min(COLORS, key=lambda n: sum((a - b) ** 2 for a, b in zip(COLORS[n], c[:3], strict=False)))


def locate(scene: SynthScene, shots: list[list[Shot]], name: str, view: int | None = None) -> str:
    """Where an object shows: "mark 3 in view 0 at (0.42, 0.61)" (first frame's views)."""
    obj = scene.get(name)
    order = [view] if view is not None else range(len(shots[0]))
    for v in order:
        for m in shots[0][v].view.marks:
            if m.object == name:
                return f"mark {m.index} in view {v} at ({m.center[0]:.2f}, {m.center[1]:.2f})"
    return f"mark {obj.mark} (hidden in the views; the scene graph has it)"


def short(scene: SynthScene, name: str) -> str:
    """ "the red chair (chair_02)": colour, kind word and name."""
    obj = scene.get(name)
    word = KINDS[obj.kind].words[0] if obj.kind in KINDS else "object"
    return f"the {color_name(scene.main_material(name).base_color)} {word} ({name})"


def describe(scene: SynthScene, name: str) -> str:
    """Kind and main colour of an object, with its material values: grounds colour words."""
    obj = scene.get(name)
    mat = scene.main_material(name)
    shape = _KIND_SHAPES.get(obj.kind, "an object")
    return f"{shape}, {color_name(mat.base_color)} (base color {fmt_color(mat.base_color)}, material {mat.name})"


def resolve_line(scene: SynthScene, shots: list[list[Shot]], phrase: str, how: str, name: str) -> str:
    """One target resolution with its evidence. The claim is phrased from the phrase; the
    evidence is the named object's own (so a wrong resolution reads inconsistent)."""
    where, what = locate(scene, shots, name), describe(scene, name)
    obj = scene.get(name)
    word = KINDS[obj.kind].words[0] if obj.kind in KINDS else "object"
    if how == "name":
        return f"'{phrase}' is an object name: {name}, {where}: {what}."
    if how == "kind":
        return f"'{phrase}': the only {word} in the views is {where}: {what} -> {name}."
    if how in ("color", "color_kind"):
        return f"'{phrase}': the one with that colour is {where}: {what} -> {name}."
    if how == "mark":
        return f"'{phrase}': the mark table ties mark {obj.mark} to {name} ({where}): {what}."
    if how == "motion":
        motion = scene.motions.get(name, "animation")
        return f"'{phrase}': the animated object doing the {motion} is {name}, {where}: {what}."
    return f"'{phrase}' -> {name}, {where}: {what}."

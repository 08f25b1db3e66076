"""Chains of thought for synthetic records: interpret, resolve targets with evidence, choose ops
and magnitudes, reflect in one line.

A task's `decide` returns a `Decision` (what the reasoning concludes, in parts, and the plan it
concludes with); `think` writes it as the text between <think> and </think>, always in this
order and kept short (the built-in model learns and answers on a CPU, so every token costs):

    Intent: ...        what the artist wants, in plain words
    Readings: ...      only for ambiguous words: the readings, and which comes first and why
    Targets: ...       each phrase -> scene name (mark, colour, kind, where: the evidence)
    Edits: ...         ops with magnitudes, and what the degree words meant
    Check: ...         one line: does the plan match the intent?
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from evlm.edits import EditPlan
from evlm.scene import Light


@dataclass
class Decision:
    intent: str
    targets: list[str]
    edits: list[str]
    check: str
    plan: EditPlan
    readings: list[str] = field(default_factory=list)


def think(d: Decision) -> str:
    """The chain of thought of a decision."""
    lines = [f"Intent: {d.intent}"]
    if d.readings:
        lines.append("Readings: " + " ".join(d.readings))
    if d.targets:
        lines.append("Targets: " + " ".join(d.targets))
    lines.append("Edits: " + " ".join(d.edits))
    lines.append(f"Check: {d.check}")
    return tidy("\n".join(lines))


def tidy(text: str) -> str:
    """One space between words and one full stop at a sentence's end (parts are joined freely)."""
    return re.sub(r"\.{2,}", ".", re.sub(r"[ \t]{2,}", " ", text)).replace(" .", ".")


def upper_first(text: str) -> str:
    """Capitalize the first letter, unless the text starts with an object name ("chair_01",
    "ball_01.001": a name is copied exactly, never capitalized)."""
    first = re.split(r"[\s:,;']", text, maxsplit=1)[0]
    if re.search(r"[_.\d]", first):
        return text
    return text[:1].upper() + text[1:]


def fmt(x: float) -> str:
    """A number as the reasoning writes it: up to 3 decimals, no trailing zeros."""
    text = f"{x:.3f}".rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def fmt_vec(v: Sequence[float]) -> str:
    return "(" + ", ".join(fmt(x) for x in v) + ")"


def fmt_color(c: Sequence[float]) -> str:
    return "(" + ", ".join(f"{v:.2f}" for v in c[:3]) + ")"


def light_text(light: Light) -> str:
    """A light's facts: "Key_Light (AREA, 400 W)"."""
    unit = "W/m2" if light.type == "SUN" else "W"
    return f"{light.name} ({light.type}, {fmt(light.energy)} {unit})"

"""Plans as people read them: one line per op (the add-on's panel, the CLI, batch logs) and
the whole plan as text. Pure Python."""

from __future__ import annotations

import textwrap

from pydantic import BaseModel

_WHO = ("targets", "target", "camera")


def describe_op(op: BaseModel, limit: int = 160) -> str:
    """An op as one readable line: 'translate Cube, Lamp: vector [0, 0, 0.5], mode relative'."""
    fields = op.model_dump(mode="json")
    name = str(fields.pop("op")).replace("_", " ")
    who = []
    for key in _WHO:
        value = fields.pop(key, None)
        if value is not None:
            who += value if isinstance(value, list) else [value]
    head = f"{name} {', '.join(who)}" if who else name
    rest = ", ".join(f"{k.replace('_', ' ')} {_compact(v)}" for k, v in fields.items())
    line = f"{head}: {rest}" if rest else head
    return line if len(line) <= limit else line[: limit - 3] + "..."


def _compact(value: object) -> str:
    if isinstance(value, float):
        return f"{value:.3g}"
    if isinstance(value, list):
        return "[" + ", ".join(_compact(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k} {_compact(v)}" for k, v in value.items()) + "}"
    return repr(value) if isinstance(value, str) else str(value)


def wrap(text: str, width: int = 48, max_lines: int | None = None) -> list[str]:
    """Text as panel label lines (Blender labels do not wrap); paragraphs kept, long runs cut."""
    width = max(8, int(width))
    lines: list[str] = []
    for para in text.strip().splitlines():
        lines += textwrap.wrap(para, width, break_long_words=True, replace_whitespace=True) or [""]
    if max_lines is not None and len(lines) > max_lines:
        lines = ["...", *lines[-(max_lines - 1) :]] if max_lines > 1 else ["..."]
    return lines


def format_plan(plan, reasoning: str = "", timings: dict | None = None) -> str:  # noqa: ANN001
    """A plan as an artist reads it: the reasoning, then each suggestion with its ops."""
    lines = []
    if reasoning.strip():
        lines += ["Reasoning:", *("  " + line for line in reasoning.strip().splitlines()), ""]
    if plan.reasoning.strip():
        lines += [f"Summary: {plan.reasoning.strip()}", ""]
    for i, s in enumerate(plan.suggestions, 1):
        lines.append(f"{i}. {s.title}  (confidence {s.confidence:.0%})")
        if s.rationale.strip():
            lines.append(f"   {s.rationale.strip()}")
        lines += [f"   - {describe_op(op, limit=400)}" for op in s.ops]
    if timings:
        lines += ["", "Timings: " + ", ".join(f"{k} {v:.2f}s" for k, v in timings.items())]
    return "\n".join(lines)
